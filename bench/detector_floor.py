"""The SVM detectors' floor split by record or as the generated beats are. (issue: quality)

    python bench/detector_floor.py <run> [<run> ...] [--split test] [--seed 0] [--set k=v ...]

The floor is each detector with real training beats in place of the generated ones. A model
without subjects gives beats with no record, which the detectors split at random; evaluate.py
splits the floor's training beats the same way (``scoring.split_like_generated``). This
prints the shape and mV SVM AUCs against the held-out reference for the floor split by
record (as before that change), the floor as evaluate.py splits it now, and each run's beats,
drawn as evaluate.py draws them (``--n`` per set) at ``--seed`` (bench/RESULTS.md, "The
detectors' floor").
"""

from __future__ import annotations

import argparse

from _sets import add_run_arguments, load_sets

from ecg_synth.evaluation.detectors import svm_detector
from ecg_synth.evaluation.scoring import _groups, split_like_generated


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_arguments(ap)
    args = ap.parse_args()
    loaded = load_sets(args)
    first = next(iter(loaded.generated.values()))
    sets = {
        "floor by record": loaded.floor,
        "floor (evaluate.py)": split_like_generated(loaded.floor, first),
        **loaded.generated,
    }
    ref = loaded.heldout.subset(loaded.ref_index)
    svm = loaded.cfg.detectors.svm
    print(f"SVM detector AUC, {args.split} patients, evaluation seed {args.seed}\n")
    print("| set | split | shape | mV |\n|---|---|---|---|")
    for name, s in sets.items():
        d = svm_detector(
            ref.signals,
            s.signals,
            loaded.spec.fs,
            real_groups=_groups(ref.records.astype(str)),
            fake_groups=_groups(s.groups),
            max_per_set=int(svm.max_per_set),
            n_repeats=int(svm.n_repeats),
            seed=args.seed,
        )
        print(f"| {name} | {d['split']} | {d['shape']['auc']:.3f} | {d['amplitude']['auc']:.3f} |")


if __name__ == "__main__":
    main()
