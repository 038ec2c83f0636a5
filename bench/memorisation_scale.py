"""How close do unseen beats of the *training* patients sit to the training set, next to
unseen patients' beats and a model's generated beats? (issue: quality, target 7)

    python bench/memorisation_scale.py [--checkpoint RUN_OR_CKPT ...] [--n 5000] [--seed 0]

On ``dataset=mitdb_shared``: the training beats of the last 20 % of each training record
(by time) are scored against the first 80 %, the held-out test records' beats against the
same 80 %. The copy threshold is evaluate.py's: the 1st percentile of the held-out patients'
nearest-training distances. Each checkpoint's beats (held-out class mix, seed ``--seed``)
are scored against the whole training split, as evaluate.py does, per AAMI class.
"""

from __future__ import annotations

import argparse

import numpy as np

from ecg_synth.cli import compose_config
from ecg_synth.data.types import AAMI_CLASSES
from ecg_synth.evaluation.pipeline import load_real, mix_labels
from ecg_synth.generation.core import generate_arrays
from ecg_synth.generation.loading import load_generator
from ecg_synth.metrics.memorization import QUANTILE, nn_distance


def flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", nargs="*", default=[])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cfg = compose_config("evaluate", ["dataset=mitdb_shared"])
    _, train, heldout, _ = load_real(cfg)
    rng = np.random.default_rng(args.seed)

    late = np.zeros(len(train), bool)
    for record in np.unique(train.records):
        rows = train.records == record
        late[rows] = train.centers[rows] > np.quantile(train.centers[rows], 0.8)
    early = flat(train.signals[~late])
    intra = nn_distance(flat(train.signals[rng.choice(np.flatnonzero(late), args.n)]), early)
    inter = nn_distance(flat(heldout.signals[rng.choice(len(heldout), args.n)]), early)
    threshold = np.quantile(inter, QUANTILE)
    print("scored against the first 80 % of each training record:")
    print(f"  held-out patients: median NN distance {np.median(inter):.3f}")
    print(
        f"  training patients, last 20 %: median {np.median(intra):.3f}, "
        f"{(intra < threshold).mean():.1%} under the copy threshold ({threshold:.3f})"
    )

    everything = flat(train.signals)
    inter_all = nn_distance(flat(heldout.signals[rng.choice(len(heldout), args.n)]), everything)
    threshold_all = np.quantile(inter_all, QUANTILE)
    for ckpt in args.checkpoint:
        labels = mix_labels(heldout.labels, args.n, args.seed)
        x, plan, _ = generate_arrays(
            load_generator(ckpt), args.n, [AAMI_CLASSES[i] for i in labels], seed=args.seed
        )
        d = nn_distance(flat(x), everything)
        y = np.asarray(plan.labels)
        print(f"{ckpt}: median NN {np.median(d):.3f}, copies {(d < threshold_all).mean():.1%}")
        for c in np.unique(y):
            m = y == c
            copies = (d[m] < threshold_all).mean()
            print(
                f"  {AAMI_CLASSES[c]}: {m.sum():5d} beats, copies {copies:.1%}, median NN"
                f" {np.median(d[m]):.3f} ({(train.labels == c).sum()} training beats)"
            )


if __name__ == "__main__":
    main()
