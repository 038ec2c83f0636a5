"""Beat-classification metrics and paired bootstrap confidence intervals.

Metrics follow the AAMI EC57 reporting habit: macro-F1 and balanced accuracy over the
*scored* classes (N, S, V, F by default; Q is reported but not scored because it is rare and
ill-defined), plus per-class sensitivity (recall) and positive predictive value (precision)
for all five classes, and the 5 x 5 confusion matrix (rows = true, columns = predicted, AAMI
order). All numbers come from scikit-learn.

The bootstrap is *paired*: every resample draws the same test units for all models compared,
so the gain of one model over another keeps its correlation. Units are test segments or, for
inter-patient evaluation, whole test records (the honest choice: beats of one patient are
not independent). Resampling works on the table of distinct (group, true, predicted...) cells
with counts as ``sample_weight``, which is exactly equivalent to resampling segments but costs
a few dozen rows per scikit-learn call instead of the whole test set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    recall_score,
)

from ecg_synth.data.types import AAMI_CLASSES
from ecg_synth.evaluation._common import (
    N_CLASSES,
    as_groups,
    as_labels,
    require_classes,
    resolve_classes,
)

DEFAULT_SCORED: tuple[str, ...] = ("N", "S", "V", "F")

# metric(y_true, y_pred, sample_weight, scored_labels) -> float
MetricFn = Callable[[np.ndarray, np.ndarray, np.ndarray, list[int]], float]


def _present(y_true: np.ndarray, w: np.ndarray, labels: list[int]) -> list[int]:
    # A bootstrap resample can miss a rare class entirely (e.g. all F beats in one record);
    # its F1/recall is then undefined, so the macro average runs over the classes present.
    support = np.bincount(y_true, weights=w, minlength=N_CLASSES)
    return [c for c in labels if support[c] > 0]


def _macro_f1(y_true, y_pred, w, labels):
    labels = _present(y_true, w, labels)
    if not labels:
        return float("nan")
    return float(
        f1_score(y_true, y_pred, labels=labels, average="macro", sample_weight=w, zero_division=0)
    )


def _balanced_accuracy(y_true, y_pred, w, labels):
    # Balanced accuracy = mean per-class recall; restricted to the scored classes.
    labels = _present(y_true, w, labels)
    if not labels:
        return float("nan")
    return float(
        recall_score(
            y_true, y_pred, labels=labels, average="macro", sample_weight=w, zero_division=0
        )
    )


def _accuracy(y_true, y_pred, w, labels):
    return float(accuracy_score(y_true, y_pred, sample_weight=w))


def _f1_s(y_true, y_pred, w, labels):
    # The S class alone: supraventricular beats are what single-beat classifiers miss, and
    # the quality targets ask augmentation to raise their F1 (NaN when S is not scored).
    return _macro_f1(y_true, y_pred, w, [c for c in labels if c == AAMI_CLASSES.index("S")])


METRICS: dict[str, MetricFn] = {
    "macro_f1": _macro_f1,
    "balanced_accuracy": _balanced_accuracy,
    "accuracy": _accuracy,
    "f1_S": _f1_s,
}


def classification_metrics(y_true, y_pred, classes: Sequence[str | int] = DEFAULT_SCORED) -> dict:
    """Metrics of predicted AAMI labels ``y_pred [N]`` against ``y_true [N]``.

    Returns ``macro_f1`` and ``balanced_accuracy`` (over ``classes``), ``accuracy`` (all),
    ``per_class`` = {name: {sensitivity, ppv, f1, support}} for all five AAMI classes
    (NaN where undefined: no true beats / no predicted beats), ``confusion_matrix`` (nested
    lists, rows true, columns predicted) and ``scored_classes``.
    Raises ValueError if a scored class has no segments in ``y_true``.
    """
    y_true = as_labels(y_true, len(np.asarray(y_true)), "y_true")
    y_pred = as_labels(y_pred, len(y_true), "y_pred")
    scored = resolve_classes(classes)
    require_classes(y_true, scored, "y_true")
    all_labels = list(range(N_CLASSES))
    ppv, sens, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=all_labels, zero_division=np.nan
    )
    ones = np.ones(len(y_true))
    return {
        "macro_f1": _macro_f1(y_true, y_pred, ones, scored),
        "balanced_accuracy": _balanced_accuracy(y_true, y_pred, ones, scored),
        "accuracy": _accuracy(y_true, y_pred, ones, scored),
        "per_class": {
            AAMI_CLASSES[c]: {
                "sensitivity": float(sens[c]),
                "ppv": float(ppv[c]),
                "f1": float(f1[c]),
                "support": int(support[c]),
            }
            for c in all_labels
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=all_labels).tolist(),
        "scored_classes": [AAMI_CLASSES[c] for c in scored],
    }


def _resolve_unit(unit: str, groups: np.ndarray | None) -> str:
    if unit == "auto":
        return "record" if groups is not None else "segment"
    if unit not in ("record", "segment"):
        raise ValueError(f"unit must be 'auto', 'record' or 'segment', got {unit!r}")
    if unit == "record" and groups is None:
        raise ValueError("unit='record' needs groups (the record id of every test segment)")
    return unit


def paired_bootstrap(
    y_true,
    preds: Sequence,
    *,
    metric: str | MetricFn = "macro_f1",
    classes: Sequence[str | int] = DEFAULT_SCORED,
    groups=None,
    unit: str = "auto",
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, str, int]:
    """Metric of each prediction vector on the full test set and on ``n_boot`` paired resamples.

    ``preds``: P arrays ``[N]`` of predicted labels for the same test segments.
    Returns (point ``[P]``, resamples ``[n_boot, P]``, unit used, number of units).
    """
    y_true = as_labels(y_true, len(np.asarray(y_true)), "y_true")
    preds = [as_labels(p, len(y_true), f"preds[{i}]") for i, p in enumerate(preds)]
    if not preds:
        raise ValueError("preds must hold at least one prediction vector")
    groups = as_groups(groups, len(y_true), "groups")
    unit = _resolve_unit(unit, groups)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if isinstance(metric, str) and metric not in METRICS:
        raise ValueError(f"metric: unknown {metric!r}; expected one of {sorted(METRICS)}")
    fn = METRICS[metric] if isinstance(metric, str) else metric
    scored = resolve_classes(classes)
    require_classes(y_true, scored, "y_true")

    # Distinct (true, pred_1..pred_P) cells and their count in every unit (record or segment).
    keys, cell = np.unique(np.stack([y_true, *preds], axis=1), axis=0, return_inverse=True)
    cell = cell.ravel()
    m = len(keys)
    rng = np.random.default_rng(seed)
    if unit == "record":
        _, gid = np.unique(groups, return_inverse=True)
        n_units = int(gid.max()) + 1
        counts = np.bincount(gid * m + cell, minlength=n_units * m).reshape(n_units, m)
        draws = rng.integers(n_units, size=(n_boot, n_units))
        mult = np.zeros((n_boot, n_units))
        np.add.at(mult, (np.arange(n_boot)[:, None], draws), 1.0)
        weights = mult @ counts  # [B, M]: how often each cell occurs in each resample
    else:
        n_units = len(y_true)
        counts = np.bincount(cell, minlength=m)
        # Drawing N segments with replacement = a multinomial over the cells.
        weights = rng.multinomial(n_units, counts / n_units, size=n_boot).astype(np.float64)
    total = counts.sum(axis=0) if counts.ndim == 2 else counts

    def score(w: np.ndarray) -> np.ndarray:
        nz = w > 0
        return np.array(
            [fn(keys[nz, 0], keys[nz, 1 + p], w[nz], scored) for p in range(len(preds))]
        )

    point = score(total.astype(np.float64))
    samples = np.stack([score(w) for w in weights])
    return point, samples, unit, n_units


def _interval(samples: np.ndarray, alpha: float) -> tuple[float, float]:
    lo, hi = np.nanpercentile(samples, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)


def bootstrap_ci(
    y_true,
    y_pred,
    *,
    metric: str | MetricFn = "macro_f1",
    classes: Sequence[str | int] = DEFAULT_SCORED,
    groups=None,
    unit: str = "auto",
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict:
    """Percentile bootstrap CI of one metric. ``unit='auto'``: by record if ``groups`` given.

    Returns {estimate, ci_low, ci_high, std, alpha, n_boot, unit, n_units}.
    """
    point, samples, unit, n_units = paired_bootstrap(
        y_true,
        [y_pred],
        metric=metric,
        classes=classes,
        groups=groups,
        unit=unit,
        n_boot=n_boot,
        seed=seed,
    )
    lo, hi = _interval(samples[:, 0], alpha)
    return {
        "estimate": float(point[0]),
        "ci_low": lo,
        "ci_high": hi,
        "std": float(np.nanstd(samples[:, 0])),
        "alpha": alpha,
        "n_boot": n_boot,
        "unit": unit,
        "n_units": n_units,
    }


def bootstrap_gain(
    y_true,
    y_pred_base,
    y_pred_new,
    *,
    metric: str | MetricFn = "macro_f1",
    classes: Sequence[str | int] = DEFAULT_SCORED,
    groups=None,
    unit: str = "auto",
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict:
    """Gain ``metric(new) - metric(base)`` with a paired percentile bootstrap CI.

    Returns {gain, ci_low, ci_high, std, base, new, p_not_better, alpha, n_boot, unit,
    n_units}; ``p_not_better`` is the share of resamples where the gain is <= 0 (a
    one-sided bootstrap p-value for "new is better").
    """
    point, samples, unit, n_units = paired_bootstrap(
        y_true,
        [y_pred_base, y_pred_new],
        metric=metric,
        classes=classes,
        groups=groups,
        unit=unit,
        n_boot=n_boot,
        seed=seed,
    )
    diff = samples[:, 1] - samples[:, 0]
    lo, hi = _interval(diff, alpha)
    return {
        "gain": float(point[1] - point[0]),
        "ci_low": lo,
        "ci_high": hi,
        "std": float(np.nanstd(diff)),
        "base": float(point[0]),
        "new": float(point[1]),
        "p_not_better": float(np.nanmean(diff <= 0)),
        "alpha": alpha,
        "n_boot": n_boot,
        "unit": unit,
        "n_units": n_units,
    }
