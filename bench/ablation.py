"""Groups of training runs compared the way the quality ablations of bench/RESULTS.md are.
(issue: quality)

    python train.py experiment=wgan_gp_mitdb dataset=mitdb_shared seed=<s> trainer.max_epochs=16 \
        [<the change>] hydra.run.dir=outputs/<group>_s<s>            # for s in 0 1 2, per group
    python bench/ablation.py base=outputs/rb_s0,outputs/rb_s1,outputs/rb_s2 \
        change=outputs/x_s0,outputs/x_s1,outputs/x_s2 [--split val] [--eval-seeds 0 1 2]

Each run is scored at its kept checkpoint (the run folder's best) on the ``--split`` patients:

- the quick evaluation (``evaluate.py quick=true``) at the run's own training seed: FD with its
  bootstrap sd, recall, modes, NN ratio, copies, plausible share, the feature SVMs; its
  ``metrics.json`` goes to ``<run>/ablation_<split>/``;
- evaluate.py's classifier protocols (TSTR, augmentation gain in macro-F1 and in S-class F1) at
  every ``--eval-seeds`` seed, as ``bench/checkpoint_selection.py`` runs them.

Prints one table: each group's mean +- sd over its runs (classifier lines over runs x
evaluation seeds), then, for every group after the first, the differences to the first paired
by run position and evaluation seed (train the groups at the same seeds, in the same order),
with how many pairs are above zero and how many are equal (the same kept checkpoint). The
floor column holds the quick evaluation's real training beats and, for TSTR, the mean
real-trained macro-F1. Decide on ``--split val``; ``--split test`` is for the
report, once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from checkpoint_selection import Split
from omegaconf import OmegaConf

from ecg_synth.evaluation import pipeline
from ecg_synth.evaluation.inputs import model_info, window_of
from ecg_synth.generation.loading import run_checkpoint
from ecg_synth.reproduce import compose_at

# (metrics.json key of the "generated" set, row label, digits)
QUICK = [
    ("fd", "FD", 1),
    ("fd_sd", "FD bootstrap sd", 2),
    ("recall", "recall", 3),
    ("modes_ratio", "modes / real", 2),
    ("nn_ratio", "NN ratio", 3),
    ("copy_share", "copies", 4),
    ("plausible_gen", "plausible share", 3),
    ("svm_shape_auc", "SVM shape AUC", 3),
    ("svm_amplitude_auc", "SVM mV AUC", 3),
]
CLASSIFIER = [
    ("tstr_macro_f1", "TSTR macro-F1"),
    ("aug_gain_macro_f1", "augmentation gain, macro-F1"),
    ("aug_gain_f1_s", "augmentation gain, S F1"),
]


def groups(specs: list[str]) -> dict[str, list[Path]]:
    out = {}
    for spec in specs:
        name, sep, runs = spec.partition("=")
        if not sep or not runs:
            raise SystemExit(f"{spec!r}: expected name=<run>,<run>,...")
        out[name] = [Path(r) for r in runs.split(",")]
        for run in out[name]:
            if not (run / ".hydra" / "config.yaml").is_file():
                raise SystemExit(f"{run}: not a training run folder (no .hydra/config.yaml)")
    sizes = {len(v) for v in out.values()}
    if len(sizes) > 1:
        raise SystemExit(f"groups have different run counts {sorted(sizes)}: cannot pair them")
    # One real-beat set serves every run: they must all be trained on the same window.
    windows = {run: window_of(model_info(run_checkpoint(run))) for r in out.values() for run in r}
    first, window = next(iter(windows.items()))
    for run, other in windows.items():
        if other != window:
            raise SystemExit(
                f"{run} was trained on windows of {other.describe()}, {first} on "
                f"{window.describe()}: compare runs of one window only"
            )
    return out


def quick_scores(run: Path, split: str) -> dict:
    """The generated set's line of a quick evaluation at the run's training seed."""
    seed = int(OmegaConf.load(run / ".hydra" / "config.yaml").seed)
    overrides = [
        f"checkpoint={run}", "dataset=mitdb_shared", f"split={split}", "quick=true",
        f"seed={seed}",
    ]  # fmt: skip
    # As evaluate.py composes it, with its .hydra/ record in the output folder.
    cfg = compose_at("evaluate", overrides, run / f"ablation_{split}")
    doc = pipeline.run(cfg)
    return {key: doc["generated"][key] for key, _, _ in QUICK} | {
        "floor_" + key: doc["floor"][key] for key, _, _ in QUICK
    }


def row(label: str, columns: list[np.ndarray], digits: int, last: str = "") -> str:
    """Mean +- sd of each group, then each group's paired differences to the first."""
    cells = [f"{c.mean():.{digits}f} ± {c.std(ddof=1):.{digits}f}" for c in columns]
    for c in columns[1:]:
        d = c - columns[0]
        # Pairs of one checkpoint (a change that leaves a run's kept epoch alone) are equal.
        equal = f", {(d == 0).sum()} equal" if (d == 0).any() else ""
        cells.append(
            f"{d.mean():+.{digits}f} ± {d.std(ddof=1):.{digits}f} "
            f"({(d > 0).sum()}/{len(d)} above{equal})"
        )
    return f"| {label} | " + " | ".join([*cells, last]) + " |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("groups", nargs="+", help="name=<run>,<run>,... (the first is the base)")
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--eval-seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    runs = groups(args.groups)
    first = next(iter(runs.values()))[0]
    quick = {name: [quick_scores(r, args.split) for r in rs] for name, rs in runs.items()}
    cls = {name: [] for name in runs}  # per group: rows over runs x evaluation seeds
    real_trained = []
    for seed in args.eval_seeds:
        # The real beats in the first run's window; the real-trained classifier per seed.
        split = Split(args.split, seed, [f"checkpoint={first}"])
        real_trained.append(split.trtr["macro_f1"])
        print(f"evaluation seed {seed}: real-trained macro-F1 {real_trained[-1]:.3f}")
        for name, rs in runs.items():
            for r in rs:
                out = split.scores(split.sample(run_checkpoint(r)))
                cls[name].append({k: out[k] for k, _ in CLASSIFIER})
                print(f"  {name} {r}: " + ", ".join(f"{k} {out[k]:.3f}" for k, _ in CLASSIFIER))
    names = list(runs)
    base = names[0]
    head = names + [f"{n} - {base}, paired" for n in names[1:]]
    print(f"\n{args.split} patients, kept checkpoints; quick evaluation at each run's seed, "
          f"classifier protocols at evaluation seeds {args.eval_seeds}\n")  # fmt: skip
    print("| mean ± sd | " + " | ".join(head) + " | floor |")
    print("|---" * (len(head) + 2) + "|")
    for key, label, digits in QUICK:
        cols = [np.array([q[key] for q in quick[n]], float) for n in names]
        floor = np.mean([q["floor_" + key] for q in quick[base]])
        print(row(label, cols, digits, f"{floor:.{digits}f}"))
    for key, label in CLASSIFIER:
        cols = [np.array([c[key] for c in cls[n]], float) for n in names]
        last = f"real-trained {np.mean(real_trained):.3f}" if key == "tstr_macro_f1" else ""
        print(row(label, cols, 3, last))


if __name__ == "__main__":
    main()
