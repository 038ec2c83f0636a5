"""How much do the classifier numbers owe to which patients are held out? (issue: quality)

    python bench/record_folds.py                                  # real-trained classifier, 6 min
    python bench/record_folds.py --train 5m --seeds 0 1 2         # + a WGAN-GP per fold
    python bench/record_folds.py --set classifier.rr_expert=true  # evaluate.yaml overrides

Run it from the repository root (the dataset's root, ../shared/data/mitdb, is relative).

``dataset=mitdb_shared`` fixes one split of the 22 DS1 records (12 train / 4 val / 6 test).
Its test records hold 208, which has 90 % of DS1's F beats, so the generator learns F from
21 beats. The full-database protocol (DS1 -> DS2) trains on 208 instead. This bench rotates
the held-out patients: the 22 records are shuffled once (``--fold-seed``) and cut into
``--folds`` folds. Fold k's records are the test patients, the first 4 records of fold k+1
validate, and the rest train. The fixed split is scored the same way, as the first row.

For each split it prints the class counts and the real-trained classifier's macro-F1 and
per-class F1 (evaluate.py's classifier and settings, ``checkpoint_selection.Split``), as the
mean over the evaluation seeds. With ``--train`` it also trains the WGAN-GP preset
(``experiment=wgan_gp_mitdb``) on every split for that budget per seed, and scores the best
``val/fd`` checkpoint: TSTR macro-F1 and augmentation gain, evaluation seed = training seed.
The folds are a measurement, never a tuning set: the kept configuration stays chosen on the
fixed split's validation patients.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
from checkpoint_selection import Split, checkpoints
from omegaconf import OmegaConf

from ecg_synth.cli import CONFIG_DIR
from ecg_synth.data.types import AAMI_CLASSES
from ecg_synth.reproduce import max_time, parse_budget
from ecg_synth.run_info import REPO_ROOT

SHARED = OmegaConf.load(Path(CONFIG_DIR) / "dataset" / "mitdb_shared.yaml").split
SCORED = ["N", "S", "V", "F"]


def folds(n_folds: int, seed: int) -> dict[str, dict[str, list[str]]]:
    """{name: {train, val, test}}: the fixed split, then the rotating folds."""
    records = sorted(str(r) for s in ("train", "val", "test") for r in SHARED[s])
    order = [str(r) for r in np.random.default_rng(seed).permutation(records)]
    cut = np.array_split(np.arange(len(order)), n_folds)
    out = {"fixed": {s: [str(r) for r in SHARED[s]] for s in ("train", "val", "test")}}
    for k in range(n_folds):
        test = [order[i] for i in cut[k]]
        val = [order[i] for i in cut[(k + 1) % n_folds][:4]]
        train = [r for r in order if r not in test and r not in val]
        out[f"fold{k}"] = {"train": sorted(train), "val": sorted(val), "test": sorted(test)}
    return out


def overrides(lists: dict[str, list[str]]) -> list[str]:
    return [f"dataset.split.{s}=[{','.join(lists[s])}]" for s in ("train", "val", "test")]


def counts(labels: np.ndarray) -> str:
    return " / ".join(str(int((labels == AAMI_CLASSES.index(c)).sum())) for c in SCORED)


def train_run(lists: dict, seed: int, budget: str, run_dir: Path) -> Path:
    """The WGAN-GP preset on this split; returns its best ``val/fd`` checkpoint."""
    if not checkpoints(run_dir):
        cmd = [
            sys.executable, "train.py", "experiment=wgan_gp_mitdb", "dataset=mitdb_shared",
            f"seed={seed}", f"++trainer.max_time={max_time(parse_budget(budget))}",
            *overrides(lists), f"hydra.run.dir={run_dir.resolve()}",
        ]  # fmt: skip
        log = run_dir.with_suffix(".log")
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as f:
            subprocess.run(cmd, cwd=REPO_ROOT, stdout=f, stderr=subprocess.STDOUT, check=True)
    return min(checkpoints(run_dir), key=lambda c: c[1])[2]


def mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--fold-seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="evaluation seeds")
    ap.add_argument("--train", metavar="BUDGET", help="also train a WGAN-GP per split, e.g. 5m")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "outputs" / "record_folds")
    ap.add_argument("--only", nargs="*", help="split names to run (default: all)")
    ap.add_argument("--set", nargs="*", default=[], help="evaluate.yaml overrides, key=value")
    args = ap.parse_args()
    splits = folds(args.folds, args.fold_seed)
    cols = ["test records", "train N/S/V/F", "test N/S/V/F", "real macro-F1"]
    cols += [f"real F1 {c}" for c in SCORED]
    if args.train:
        cols += ["TSTR", "aug. gain"]
    print("| split | " + " | ".join(cols) + " |\n" + "|---" * (len(cols) + 1) + "|")
    for name, lists in splits.items():
        if args.only and name not in args.only:
            continue
        real, per_class, tstr, aug = [], {c: [] for c in SCORED}, [], []
        for seed in args.seeds:
            sp = Split("test", seed, [*overrides(lists), *args.set])
            real.append(sp.trtr["macro_f1"])
            for c in SCORED:
                if c in sp.classes:
                    per_class[c].append(sp.trtr["per_class"][c]["f1"])
            if args.train:
                run = args.out / f"{name}_s{seed}"
                t, a = sp.score(train_run(lists, seed, args.train, run))
                tstr.append(t)
                aug.append(a)
        row = [
            " ".join(lists["test"]),
            counts(sp.train.labels),
            counts(sp.heldout_labels),
            mean_sd(real),
            *(mean_sd(per_class[c]) if per_class[c] else "–" for c in SCORED),
        ]
        if args.train:
            row += [mean_sd(tstr), mean_sd(aug)]
        print(f"| {name} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
