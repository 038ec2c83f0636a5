"""How often is a fresh process's first parallel float op wrong, without and with the warm-up of
``ecg_synth.numerics``? (issue: models; pytorch/pytorch#188792)

    python bench/vml_first_call.py [--runs 150]

Each run is a fresh Python process on 2 threads that either imports torch only ("cold") or
``ecg_synth.numerics`` ("warm"), then calls exp, tanh, sqrt, log and sin for the first time on
131,072 float32 values (one chunk per thread) and reports the ops whose result is more than
1e-6 relative from float64 (the race leaves one chunk at ~1e-4). Cold and warm runs alternate,
so both see the same machine load. Run it alone: processes competing for the 2 cores rarely
make the two threads' first calls overlap, which hides the race.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter

CHILD = """
import sys
import numpy as np
import torch
torch.set_num_threads(2)
if sys.argv[1] == "warm":
    import ecg_synth.numerics
x = torch.from_numpy(np.random.default_rng(0).uniform(0.05, 0.95, 131072).astype(np.float32))
bad = []
for name in ("exp", "tanh", "sqrt", "log", "sin"):
    op = getattr(torch, name)
    got, exact = op(x).double(), op(x.double())
    if ((got - exact).abs() / exact.abs()).max() > 1e-6:
        bad.append(name)
print(" ".join(bad))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=150, help="processes of each kind")
    a = p.parse_args()
    wrong = {"cold": Counter(), "warm": Counter()}
    for _ in range(a.runs):
        for kind in wrong:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, kind], capture_output=True, text=True, check=True
            ).stdout.split()
            wrong[kind].update(out or ["-"])
    for kind, ops in wrong.items():
        bad = a.runs - ops.pop("-", 0)
        detail = ", ".join(f"{op} {n}" for op, n in ops.most_common()) or "none"
        print(f"{kind}: {bad} of {a.runs} processes had a wrong first call ({detail})")


if __name__ == "__main__":
    main()
