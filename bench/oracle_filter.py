"""Would filtering generated beats by a real-trained classifier help? (issue: quality)

    python bench/oracle_filter.py <run seed 0> <run seed 1> <run seed 2> [--split val] [--k 4]

For each run (evaluation seed = its position), the classifier protocols' supply is drawn k
times over, and per class only the 1/k of beats that an oracle gives the requested class
most confidently are kept. The oracle is evaluate.py's real classifier trained on the
training patients with another seed (seed + 100), so it is not the real-trained model the
scores are compared with. Prints TSTR and augmentation gain (``scoring.classifier_scores``)
with and without the filter, and the TSTR sensitivities. Run it on the validation split.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
from checkpoint_selection import Split  # this folder: run as python bench/oracle_filter.py

from ecg_synth.evaluation.classifier import sample_rr_like
from ecg_synth.evaluation.inputs import EvalSet
from ecg_synth.evaluation.scoring import train_real


def filtered(gen: EvalSet, oracle, donor, k: int) -> EvalSet:
    """``gen`` whose ``draw`` keeps, per class, the oracle's most confident 1/k of k x draws."""

    def draw(labels: np.ndarray, seed: int) -> EvalSet:
        labels = np.asarray(labels)
        big = gen.draw(np.repeat(labels, k), seed)
        p = oracle.predict_proba(big.signals, sample_rr_like(big.labels, donor.labels, donor.rr))
        keep = []
        for c in np.unique(labels):
            pool = np.flatnonzero(big.labels == c)
            best = pool[np.argsort(-p[pool, c], kind="stable")]
            keep.append(best[: int((labels == c).sum())])
        rows = np.sort(np.concatenate(keep))
        return dataclasses.replace(big, signals=big.signals[rows], labels=big.labels[rows])

    return dataclasses.replace(gen, draw=draw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--split", default="val")
    ap.add_argument("--k", type=int, default=4)
    args = ap.parse_args()
    header = False
    for seed, run in enumerate(args.runs):
        sp = Split(args.split, seed, [])
        if not header:
            cells = " | ".join(f"TSTR sens {k}" for k in sp.classes)
            print(
                f"| seed | set | TSTR | aug. gain | {cells} |\n"
                + "|---" * (4 + len(sp.classes))
                + "|"
            )
            header = True
        oracle = train_real(sp.real, dataclasses.replace(sp.cfg, seed=seed + 100), sp.classes)
        gen = sp.sample(run)
        for name, s in (("plain", gen), ("filtered", filtered(gen, oracle, sp.train, args.k))):
            out = sp.scores(s)
            sens = out["classifier"]["TSTR"]["per_class"]
            row = [out["tstr_macro_f1"], out["aug_gain_macro_f1"]]
            row += [sens[k]["sensitivity"] or 0.0 for k in sp.classes]
            print(f"| {seed} | {name} | " + " | ".join(f"{v:.3f}" for v in row) + " |", flush=True)


if __name__ == "__main__":
    main()
