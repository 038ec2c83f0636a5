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
from hydra import compose, initialize_config_dir

from ecg_synth.evaluation.classifier import ClassifierConfig, evaluate_beats, sample_rr_like
from ecg_synth.evaluation.inputs import EvalSet, generate_from_checkpoint
from ecg_synth.evaluation.pipeline import _dataclass, _plain, load_real
from ecg_synth.evaluation.scoring import (
    classifier_beats,
    classifier_scores,
    scored_classes,
    train_real,
)

CONF = Path(__file__).resolve().parents[1] / "conf"


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
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("evaluate", overrides=["dataset=mitdb_shared", f"split={args.split}"])
    _, train, held, spec = load_real(cfg)
    c = _plain(cfg.classifier)
    opts = {**c, "aug_classes": list(c["aug_classes"]), "n_boot": 200}
    classes = scored_classes(train.labels, held.labels, tuple(c["scored"]))
    print(
        "| seed | set | TSTR | aug. gain | " + " | ".join(f"TSTR sens {k}" for k in classes) + " |"
    )
    print("|---" * (4 + len(classes)) + "|")
    for seed, run in enumerate(args.runs):
        cc = _dataclass(ClassifierConfig, c, seed=seed, num_threads=cfg.num_threads)
        real, test = classifier_beats(
            train, held, classes, int(c["max_train"]), c["keep_unscored"], seed
        )
        model = train_real(real, cc, classes)
        trtr = evaluate_beats(model, test, classes, 0, seed)
        oracle = train_real(real, dataclasses.replace(cc, seed=seed + 100), classes)
        gen = generate_from_checkpoint(
            run, spec, held.labels, min(len(held), int(cfg.limits.max_n)), seed
        )
        for name, s in (("plain", gen), ("filtered", filtered(gen, oracle, train, args.k))):
            out = classifier_scores(s, real, test, trtr, model, train, cc, classes, opts)
            sens = out["classifier"]["TSTR"]["per_class"]
            cells = [out["tstr_macro_f1"], out["aug_gain_macro_f1"]]
            cells += [sens[k]["sensitivity"] or 0.0 for k in classes]
            print(f"| {seed} | {name} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")


if __name__ == "__main__":
    main()
