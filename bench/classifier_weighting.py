"""Which class weighting should evaluate.py's arrhythmia classifier use? (issue: quality)

    python bench/classifier_weighting.py [--powers 0 0.25 0.5 0.75 1] [--seeds 0 1 2]

Chosen on the *validation* patients, never the test ones: the real-trained classifier
(evaluate.py's TRTR: ``classifier`` settings of conf/evaluate.yaml, training records of
``dataset=mitdb_shared``) is fitted with "balanced" class weights raised to each power and
scored on the validation records. No generator takes part, so the choice favours no model.
Prints macro-F1 and per-class sensitivity and F1, mean ± sd over the seeds.
"""

from __future__ import annotations

import argparse

import numpy as np

from ecg_synth.cli import compose_config
from ecg_synth.evaluation.classifier import ClassifierConfig, evaluate_beats
from ecg_synth.evaluation.pipeline import _dataclass, _plain, load_real
from ecg_synth.evaluation.scoring import classifier_beats, scored_classes, train_real


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--powers", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    cfg = compose_config("evaluate", ["dataset=mitdb_shared", "split=val"])
    _, train, val, _ = load_real(cfg)
    c = _plain(cfg.classifier)
    classes = scored_classes(train.labels, val.labels, tuple(c["scored"]))
    print(f"validation records {sorted(set(val.records.tolist()))}, scored classes {classes}")
    print("| power | macro-F1 | " + " | ".join(f"{k} sens / F1" for k in classes) + " |")
    print("|---" * (2 + len(classes)) + "|")
    # The same capped training beats for every power: only the weighting differs.
    beats = {
        seed: classifier_beats(train, val, classes, int(c["max_train"]), c["keep_unscored"], seed)
        for seed in args.seeds
    }
    for power in args.powers:
        rows = []
        for seed in args.seeds:
            cc = _dataclass(
                ClassifierConfig,
                c,
                seed=seed,
                num_threads=cfg.num_threads,
                class_weight_power=power,
            )
            real, test = beats[seed]
            out = evaluate_beats(train_real(real, cc, classes), test, classes)
            pc = out["per_class"]
            rows.append(
                [out["macro_f1"]]
                + [v for k in classes for v in (pc[k]["sensitivity"], pc[k]["f1"])]
            )
        m, sd = np.mean(rows, axis=0), np.std(rows, axis=0, ddof=1 if len(rows) > 1 else 0)
        cells = [f"{m[0]:.3f} ± {sd[0]:.3f}"] + [
            f"{m[i]:.2f} / {m[i + 1]:.2f}" for i in range(1, len(m), 2)
        ]
        print(f"| {power:g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
