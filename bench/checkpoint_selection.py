"""Which checkpoint of a run should be kept? Usefulness on validation vs test patients.
(issue: quality)

    python train.py experiment=wgan_gp_mitdb dataset=mitdb_shared seed=0 \
        ++trainer.max_time=00:00:05:00 callbacks.model_checkpoint.save_top_k=-1
    python bench/checkpoint_selection.py <run folder> [<run folder> ...] [--splits val test] \
        [--set classifier.keep_unscored=true ...]

For every checkpoint of each run (``save_top_k=-1`` keeps one per validation), evaluate.py's
classifier protocols (``scoring.classifier_scores``: TSTR and the augmentation experiment,
settings of conf/evaluate.yaml) are run against each split's real beats. The question is
whether a score measured on the *validation* patients picks the checkpoints that do well on
the *test* patients, better than ``val/fd`` (read from the checkpoint's name) does. Prints
one table per run and the Spearman correlations between the validation and test columns.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from ecg_synth.cli import compose_config
from ecg_synth.evaluation.classifier import ClassifierConfig, evaluate_beats
from ecg_synth.evaluation.inputs import EvalSet, generate_from_checkpoint
from ecg_synth.evaluation.pipeline import _dataclass, _plain, load_real_in_model_window
from ecg_synth.evaluation.scoring import (
    classifier_beats,
    classifier_scores,
    scored_classes,
    train_real,
)

NAME = re.compile(r"epoch(\d+)-fd([0-9.]+)\.ckpt$")


class Split:
    """One split's real beats, its real-trained classifier, and the protocol settings."""

    def __init__(self, split: str, seed: int, overrides: list[str]) -> None:
        cfg = compose_config("evaluate", ["dataset=mitdb_shared", f"split={split}", *overrides])
        _, self.train, heldout, self.spec = load_real_in_model_window(cfg)
        c = _plain(cfg.classifier)
        self.opts = {**c, "aug_classes": list(c["aug_classes"]), "n_boot": 200}
        self.classes = scored_classes(self.train.labels, heldout.labels, tuple(c["scored"]))
        self.cfg = _dataclass(ClassifierConfig, c, seed=seed, num_threads=cfg.num_threads)
        self.real, self.test = classifier_beats(
            self.train, heldout, self.classes, int(c["max_train"]), c["keep_unscored"], seed
        )
        self.model = train_real(self.real, self.cfg, self.classes)
        self.trtr = evaluate_beats(self.model, self.test, self.classes, 0, seed)
        self.heldout_labels, self.seed = heldout.labels, seed
        self.n = min(len(heldout), int(cfg.limits.max_n))

    def sample(self, ckpt: Path) -> EvalSet:
        """The checkpoint sampled as evaluate.py does: as many beats as the split holds
        (<= limits.max_n), in its class mix. The set's classes decide the TSTR classes, so
        a smaller set could leave a class out."""
        return generate_from_checkpoint(ckpt, self.spec, self.heldout_labels, self.n, self.seed)

    def scores(self, s: EvalSet) -> dict:
        """evaluate.py's classifier protocols for the set ``s`` on this split."""
        out = classifier_scores(
            s, self.real, self.test, self.trtr, self.model, self.train, self.cfg,
            self.classes, self.opts,
        )  # fmt: skip
        if out.get("errors"):
            raise RuntimeError(f"{s.description}: {out['errors']}")
        return out

    def score(self, ckpt: Path) -> tuple[float, float]:
        """(TSTR macro-F1, augmentation gain in macro-F1) of the checkpoint's beats."""
        out = self.scores(self.sample(ckpt))
        return out["tstr_macro_f1"], out["aug_gain_macro_f1"]


def checkpoints(run: Path) -> list[tuple[int, float, Path]]:
    found = [(NAME.search(p.name), p) for p in (run / "checkpoints").glob("*.ckpt")]
    return sorted((int(m[1]), float(m[2]), p) for m, p in found if m)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--splits", nargs="+", default=["val", "test"])
    ap.add_argument("--set", nargs="*", default=[], help="evaluate.yaml overrides, key=value")
    ap.add_argument("--seed", type=int, default=0, help="evaluation seed")
    args = ap.parse_args()
    # The real beats are cut in the first run's window (the context preset's too).
    window = [f"checkpoint={args.runs[0]}", *args.set]
    splits = {name: Split(name, args.seed, window) for name in args.splits}
    for name, sp in splits.items():
        print(f"{name}: real-trained macro-F1 {sp.trtr['macro_f1']:.3f}, classes {sp.classes}")
    cols = [f"{n} {m}" for n in splits for m in ("TSTR", "aug")]
    for run in args.runs:
        rows = []
        print(f"\n{run}\n\n| epoch | val/fd | " + " | ".join(cols) + " |")
        print("|---" * (2 + len(cols)) + "|")
        for epoch, val_fd, path in checkpoints(run):
            row = [val_fd] + [v for sp in splits.values() for v in sp.score(path)]
            rows.append(row)
            print(f"| {epoch} | " + " | ".join(f"{v:.3f}" for v in row) + " |", flush=True)
        table = np.asarray(rows)
        if "val" in splits and "test" in splits and len(table) > 2:
            # val/fd is lower-better: negate it so every rho reads "agrees with test".
            for j, what in ((1, "TSTR"), (2, "aug")):
                for label, col in (("-val/fd", -table[:, 0]), (f"val {what}", table[:, j])):
                    rho = spearmanr(col, table[:, j + 2]).statistic
                    print(f"Spearman({label}, test {what}) = {rho:+.2f}")


if __name__ == "__main__":
    main()
