"""Sampling speed of an ensemble against one of its members, in one run (issue: quality).

    python bench/ensemble_throughput.py <run a> <run b> [<run c> ...] [--n 50000] [--repeats 5]

Times ``ecg_synth.generation.core.generate_arrays`` (what generate.py, evaluate.py and the API
call) for ``--n`` segments with the training class mix, first from run a alone, then from all
the runs as one ensemble (``ecg_synth.generation.ensemble``), interleaved ``--repeats`` times
so that a change of machine load hits both; prints the median segments/s of each and their
ratio. The quality issue asks for >= 50,000 segments/s on this 2-core CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ecg_synth.generation import load_generator  # noqa: E402
from ecg_synth.generation.core import generate_arrays  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if len(args.runs) < 2:
        ap.error("give at least two runs")
    torch.set_num_threads(args.threads)
    models = {"one run": load_generator(args.runs[0]), "ensemble": load_generator(args.runs)}
    for handle in models.values():  # warm-up: first calls allocate and pick kernels
        generate_arrays(handle, 4096, seed=0)
    rates: dict[str, list[float]] = {name: [] for name in models}
    for r in range(args.repeats):
        for name, handle in models.items():
            start = time.perf_counter()
            generate_arrays(handle, args.n, seed=r)
            rates[name].append(args.n / (time.perf_counter() - start))
    median = {name: statistics.median(v) for name, v in rates.items()}
    for name, v in median.items():
        print(f"{name:9s} {v:10,.0f} segments/s (median of {args.repeats}, n={args.n:,})")
    ratio = median["ensemble"] / median["one run"]
    print(f"ensemble / one run: {ratio:.2f}x ({len(args.runs)} members, {args.threads} threads)")


if __name__ == "__main__":
    main()
