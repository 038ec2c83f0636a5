"""Which of the SVM detector's features give generated beats away? (issue: quality, item 1)

    python bench/detector_features.py <run> [<run> ...] [--split test] [--seed 0] [--set k=v ...]

The real data is cut in the first run's window (the context preset's too, with no ``--set``).

For every feature of ``ecg_synth.evaluation.detectors.segment_features`` (both sets: raw mV
and per-segment z-scored "shape"), the two-sample Kolmogorov-Smirnov statistic between the
held-out reference (evaluate.py's half of the held-out split) and, in turn, the real training
segments (the floor: patients differ) and each run's beats, sampled as evaluate.py samples
them (held-out class mix, seeded). A feature on which a run's KS is well above the floor's
is one the generator gets wrong, not one on which patients differ. KS, not AUC: a feature
whose spread is wrong but whose median is right (a rank AUC near 0.5) still shows. Then the
median and 5-95 % range of the segment mean, the feature that exposed the baseline offset
the augmentation taught (bench/RESULTS.md, "The augmentation's baseline offset").
"""

from __future__ import annotations

import argparse

import numpy as np
from _sets import add_run_arguments, load_sets
from scipy.stats import ks_2samp

from ecg_synth.evaluation.detectors import BANDS_HZ, segment_features

PER_LEAD = ["skewness", "kurtosis", "R amplitude", "QRS width", "peak-to-peak"]
BANDS = [f"power {lo:g}-{hi:g} Hz" for lo, hi in BANDS_HZ]
NAMES = {"amplitude": ["mean", "variance", *PER_LEAD, *BANDS], "shape": [*PER_LEAD, *BANDS]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_arguments(ap)
    args = ap.parse_args()
    loaded = load_sets(args)
    spec, heldout = loaded.spec, loaded.heldout
    if len(spec.leads) != 1:  # the feature names below are those of one lead
        raise SystemExit(f"one lead expected, got {list(spec.leads)}")
    rng = np.random.default_rng(args.seed)
    ref = heldout.signals[rng.permutation(loaded.ref_index)[: args.n]]
    sets = {"real train (floor)": loaded.floor.signals}
    sets |= {name: gen.signals for name, gen in loaded.generated.items()}
    for kind, names in NAMES.items():
        real = segment_features(ref, spec.fs, kind=kind)
        feats = {k: segment_features(x, spec.fs, kind=kind) for k, x in sets.items()}
        print(f"\nKS statistic against the held-out reference, {kind} features\n")
        print("| feature | " + " | ".join(sets) + " |\n|---" + "|---" * len(sets) + "|")
        for j, name in enumerate(names):
            ks = [ks_2samp(real[:, j], f[:, j]).statistic for f in feats.values()]
            print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in ks) + " |")
    print("\nSegment mean (mV): median [5 %, 95 %]\n")
    for name, x in {"held-out reference": ref, **sets}.items():
        m = x.mean(axis=-1)[:, 0]
        lo, med, hi = np.percentile(m, [5, 50, 95])
        print(f"- {name}: {med:+.3f} [{lo:+.3f}, {hi:+.3f}], sd {m.std():.3f}")


if __name__ == "__main__":
    main()
