"""Does one model give the same signals for the same seed in every new process? (issue: models)

    python bench/generation_determinism.py <run | checkpoint | export> [--runs 60] [--threads 2]

Each run is a fresh Python process that loads the model, samples 4,096 segments (classes
N, S, V, F in turn, seed 3) and prints the MD5 of the signals; the bench prints how many
processes gave each hash. One hash means deterministic across processes. Before
``ecg_synth.numerics`` (MKL VML's first-call race), a kept checkpoint gave a second hash in 1 of
33 and 1 of 60 processes with 2 threads; with it, 0 of 120 (bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter

CHILD = """
import hashlib, sys, numpy as np, torch
from ecg_synth.generation import load_generator
torch.set_num_threads(int(sys.argv[2]))
model = load_generator(sys.argv[1]).model
y = torch.as_tensor(np.arange(4096) % 4)
x = model.sample(4096, labels=y, seed=3)
x = x[0] if isinstance(x, tuple) else x
print(hashlib.md5(x.numpy().tobytes()).hexdigest())
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("--runs", type=int, default=60)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    hashes = Counter()
    for _ in range(a.runs):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, a.model, str(a.threads)],
            capture_output=True,
            text=True,
            check=True,
        )
        hashes[out.stdout.strip()[:12]] += 1
    for digest, count in hashes.most_common():
        print(f"{count:4d} processes: {digest}")
    print("deterministic" if len(hashes) == 1 else f"{len(hashes)} different results")


if __name__ == "__main__":
    main()
