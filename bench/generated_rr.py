"""Does a WGAN-GP with ``model.generate_rr`` give each class the rhythm of its real beats?
(issue: quality, item 9)

    python bench/generated_rr.py <run folder> [<run folder> ...] [--n 4000] [--dataset mitdb_shared]

For each AAMI class the model trained on, the median previous, next and local mean RR (s) and
the prematurity (previous / local mean: about 1 for N, below it for premature S and V beats)
with its spread, of the real training beats and of ``--n`` beats generated per class.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ecg_synth.cli import compose_config
from ecg_synth.data.types import AAMI_CLASSES
from ecg_synth.evaluation.pipeline import load_real
from ecg_synth.generation import load_generator


def row(name: str, rr: np.ndarray) -> str:
    prem, pause = rr[:, 0] / rr[:, 2], rr[:, 1] / rr[:, 2]
    prev, nxt, local = np.median(rr, axis=0)
    return (
        f"| {name} | {len(rr)} | {prev:.3f} | {nxt:.3f} | {local:.3f} | "
        f"{np.median(prem):.3f} | {prem.std():.3f} | {np.median(pause):.3f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--n", type=int, default=4000, help="beats generated per class")
    ap.add_argument("--dataset", default="mitdb_shared")
    args = ap.parse_args()
    cfg = compose_config("evaluate", [f"dataset={args.dataset}"])
    _, train, _, _ = load_real(cfg)
    handles = [load_generator(run) for run in args.runs]
    for h in handles:
        if not h.makes_rr:
            raise SystemExit(f"{h.source}: this model does not generate RR (model.generate_rr)")
    cols = ["class / source", "beats", "prev RR", "next RR", "local RR", "prev / local", "sd"]
    print("| " + " | ".join([*cols, "next / local"]) + " |\n" + "|---" * (len(cols) + 1) + "|")
    for c, name in enumerate(AAMI_CLASSES):
        real = train.rr[train.labels == c]
        if len(real) == 0 or not all(h.class_counts[c] > 0 for h in handles):
            continue
        print(row(f"{name} real train", real))
        for k, h in enumerate(handles):
            _, rr = h.model.sample(args.n, labels=c, seed=c, with_rr=True)
            print(row(f"{name} {args.runs[k].name}", rr.numpy()))


if __name__ == "__main__":
    main()
