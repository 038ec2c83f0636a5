"""Arrhythmia (AAMI beat-class) classifier as a utility test of synthetic ECG.

A small 1-D CNN over beat segments ``[N, C, L]`` (mV) with, optionally, RR-interval
features as a second input: S beats look like N beats and differ mainly in prematurity, so
without RR no classifier separates them well. Optionally (``rr_expert``) a class-weighted
logistic regression on the five RR features alone is trained beside the CNN and the two are
multiplied (a product of experts). The CNN fits the training patients' S beats by their
shape, which does not carry over to other patients, and learns little from RR: on the
validation patients it found almost no S beat (F1 0.02), the product half of them (0.52).
Beats that bring no RR of their own borrow a real beat's (``sample_rr_like``): of the same
class, or of any class (``borrowed_rr``). With RR of the same class and the expert, a
classifier trained on noise beats scored as well as one trained on real beats, so TSTR no
longer measured the beats; evaluate.yaml therefore pairs the expert with RR of any class
(this dataclass's defaults are the plain CNN with RR lent by class).
Protocols:

- TRTR: train real / test real (the reference),
- TSTR: train synthetic / test real (is the synthetic data *sufficient*?),
- TRTS: train real / test synthetic (is the synthetic data *recognisable*?),
- augmentation: real + synthetic beats of chosen rare classes, compared with real only on
  the same real test set, with the gain's paired bootstrap CI (by test record by default).

Everything is seeded: the same inputs and config give the same model and numbers on CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from scipy.special import log_softmax
from sklearn.linear_model import LogisticRegression
from sklearn.utils.class_weight import compute_class_weight
from torch import nn

from ecg_synth.data.types import AAMI_CLASSES, SegmentSet
from ecg_synth.evaluation._common import (
    N_CLASSES,
    TrainConfig,
    as_groups,
    as_labels,
    as_rr,
    as_segments,
    fit_network,
    holdout_split,
    predict_logits,
    require_classes,
    resolve_classes,
    same_shape,
    torch_session,
)
from ecg_synth.evaluation.stats import (
    DEFAULT_SCORED,
    bootstrap_ci,
    bootstrap_gain,
    classification_metrics,
)

PROTOCOLS = ("TRTR", "TSTR", "TRTS")
BORROWED_RR = ("same_class", "any_class")


@dataclass
class ClassifierConfig(TrainConfig):
    """Training settings of the beat classifier (defaults: ~20k beats in tens of seconds)."""

    use_rr: bool = True
    rr_expert: bool = False  # with use_rr: multiply in a logistic regression on RR alone
    # The RR lent to beats that bring none (sample_rr_like): a real beat's of the same class,
    # or of any class (then RR tells the classifier nothing of the class it did not generate).
    borrowed_rr: str = "same_class"
    class_weight: str | Sequence[float] | None = "balanced"  # "balanced", None, or 5 weights
    # "balanced" weights raised to this power: 1 is sklearn's n / (k * n_class); below 1
    # tempers them, so a class of 21 beats does not weigh 146 times an N beat.
    class_weight_power: float = 1.0
    channels: tuple[int, ...] = (16, 32, 64)
    kernel_size: int = 7
    dropout: float = 0.2
    val_by_group: bool = False  # early-stopping split by record (needs groups) or by beat

    def __post_init__(self) -> None:
        # Checked here, not at the first fit, so evaluate.py refuses a bad setting before
        # minutes of metrics (pipeline.check_request builds this config first).
        super().__post_init__()
        w = self.class_weight
        if isinstance(w, str):
            if w != "balanced":
                raise ValueError(f"class_weight must be 'balanced', None or 5 numbers, got {w!r}")
        elif w is not None:
            a = np.asarray(w, dtype=np.float64)
            if a.shape != (N_CLASSES,) or (a < 0).any():
                raise ValueError(
                    f"class_weight must hold {N_CLASSES} non-negative numbers, got {w!r}"
                )
        for name in ("use_rr", "rr_expert"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.borrowed_rr not in BORROWED_RR:
            raise ValueError(f"borrowed_rr must be one of {BORROWED_RR}, got {self.borrowed_rr!r}")
        if not 0.0 <= self.class_weight_power <= 1.0:
            raise ValueError(
                f"class_weight_power must lie in [0, 1], got {self.class_weight_power!r}"
            )


@dataclass
class BeatData:
    """Labelled beat segments: ``x [N, C, L]`` mV, ``y [N]`` AAMI index, optional
    ``rr [N, 3]`` seconds (prev, next, local mean) and ``groups [N]`` record ids."""

    x: np.ndarray
    y: np.ndarray
    rr: np.ndarray | None = None
    groups: np.ndarray | None = None

    def checked(self, name: str) -> BeatData:
        x = as_segments(self.x, f"{name}.x")
        n = len(x)
        return BeatData(
            x,
            as_labels(self.y, n, f"{name}.y"),
            as_rr(self.rr, n, f"{name}.rr"),
            as_groups(self.groups, n, f"{name}.groups"),
        )

    @classmethod
    def from_segment_set(cls, s: SegmentSet) -> BeatData:
        return cls(s.signals, s.labels, s.rr, s.records)

    def __len__(self) -> int:
        return len(self.y)


def rr_features(rr: np.ndarray) -> np.ndarray:
    """``[N, 3]`` RR seconds -> ``[N, 5]``: prev, next, local, prev/local, next/local.

    The ratios are what marks a premature (S, V) beat regardless of the patient's heart rate.
    """
    local = rr[:, 2:3]
    return np.concatenate([rr, rr[:, :2] / local], axis=1).astype(np.float32)


class BeatCNN(nn.Module):
    """Conv blocks (conv-BN-ReLU-maxpool) -> avg+max pooling -> [+ RR features] -> MLP.

    ``forward(x [B, C, L], rr [B, n_rr] | None) -> logits [B, n_classes]``.
    """

    def __init__(
        self,
        in_channels: int,
        n_rr: int = 0,
        n_classes: int = N_CLASSES,
        channels: Sequence[int] = (16, 32, 64),
        kernel_size: int = 7,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for ch in channels:
            layers += [
                nn.Conv1d(prev, ch, kernel_size, padding=kernel_size // 2, bias=False),
                nn.BatchNorm1d(ch),
                nn.ReLU(),
                nn.MaxPool1d(2),
            ]
            prev = ch
        self.features = nn.Sequential(*layers)
        self.n_rr = n_rr
        self.head = nn.Sequential(
            nn.Linear(2 * prev + n_rr, 64), nn.ReLU(), nn.Dropout(dropout), nn.Linear(64, n_classes)
        )

    def forward(self, x: torch.Tensor, rr: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        parts = [h.mean(dim=-1), h.amax(dim=-1)]
        if self.n_rr:
            parts.append(rr)
        return self.head(torch.cat(parts, dim=1))


@dataclass
class TrainedClassifier:
    """A trained ``BeatCNN`` with the input scaling fitted on its training data."""

    net: BeatCNN
    config: ClassifierConfig
    x_scale: np.ndarray  # [1, C, 1] std of baseline-removed training beats, mV
    rr_mean: np.ndarray | None  # [1, 5]
    rr_std: np.ndarray | None
    rr_model: LogisticRegression | None = None  # the RR expert, on the scaled RR features
    history: dict = field(default_factory=dict)

    def _inputs(self, x: np.ndarray, rr: np.ndarray | None) -> list[np.ndarray]:
        # Remove each beat's baseline (median per lead) so wander and DC offsets between
        # patients do not matter, keep relative amplitude (global per-lead scale).
        x = (x - np.median(x, axis=2, keepdims=True)) / self.x_scale
        inputs = [x.astype(np.float32)]
        if self.rr_mean is not None:
            if rr is None:
                raise ValueError("rr is required: this classifier was trained with use_rr=True")
            inputs.append(((rr_features(rr) - self.rr_mean) / self.rr_std).astype(np.float32))
        return inputs

    def predict_proba(self, x, rr=None) -> np.ndarray:
        """Class probabilities ``[N, 5]`` (AAMI order) of segments ``x [N, C, L]``."""
        x = as_segments(x, "x")
        rr = as_rr(rr, len(x), "rr")
        inputs = self._inputs(x, rr)
        with torch.no_grad():
            log_p = torch.log_softmax(predict_logits(self.net, inputs), dim=1).numpy()
        if self.rr_model is not None:  # product of experts, renormalised
            log_q = np.full_like(log_p, -np.inf)
            log_q[:, self.rr_model.classes_] = rr_log_proba(self.rr_model, inputs[1])
            log_p = log_p + log_q
            log_p -= log_p.max(axis=1, keepdims=True)
        p = np.exp(log_p)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, x, rr=None) -> np.ndarray:
        """Predicted AAMI labels ``[N]`` (int64)."""
        return self.predict_proba(x, rr).argmax(axis=1).astype(np.int64)


def _class_weights(y: np.ndarray, cfg: ClassifierConfig) -> np.ndarray | None:
    """Per-class loss weights ``[N_CLASSES]`` of a checked ``cfg`` for labels ``y``."""
    if cfg.class_weight is None:
        return None
    if isinstance(cfg.class_weight, str):  # "balanced", the only string __post_init__ allows
        present = np.unique(y)
        w = np.ones(N_CLASSES)
        w[present] = (
            compute_class_weight("balanced", classes=present, y=y) ** cfg.class_weight_power
        )
        return w
    return np.asarray(cfg.class_weight, dtype=np.float64)


def ecg_classifier_train(
    x,
    y,
    rr=None,
    *,
    groups=None,
    config: ClassifierConfig | None = None,
    classes: Sequence[str | int] = DEFAULT_SCORED,
) -> TrainedClassifier:
    """Train the beat classifier on ``x [N, C, L]`` mV with labels ``y [N]`` (AAMI index).

    ``rr [N, 3]`` is required when ``config.use_rr``. ``groups [N]`` (record ids) are used
    for the early-stopping split when ``config.val_by_group``. Every class in ``classes``
    must occur in ``y`` (else ValueError). Training is seeded by ``config.seed``.
    """
    cfg = config or ClassifierConfig()
    x = as_segments(x, "x")
    y = as_labels(y, len(x), "y")
    rr = as_rr(rr, len(x), "rr")
    groups = as_groups(groups, len(x), "groups")
    require_classes(y, resolve_classes(classes), "y")
    if cfg.use_rr and rr is None:
        raise ValueError("rr is required when config.use_rr is True (or set use_rr=False)")
    if cfg.val_by_group and groups is None:
        raise ValueError("groups are required when config.val_by_group is True")

    tr, va = holdout_split(
        len(y),
        groups if cfg.val_by_group else None,
        cfg.val_fraction,
        cfg.seed,
        "validation split",
        labels=y,
    )
    x0 = x - np.median(x, axis=2, keepdims=True)
    x_scale = np.maximum(x0[tr].std(axis=(0, 2), keepdims=True), 1e-6).astype(np.float32)
    rr_mean = rr_std = None
    if cfg.use_rr:
        feats = rr_features(rr[tr])
        rr_mean, rr_std = (
            feats.mean(0, keepdims=True),
            np.maximum(feats.std(0, keepdims=True), 1e-6),
        )
    class_weight = _class_weights(y[tr], cfg)  # the same for the CNN and the RR expert
    with torch_session(cfg.seed, cfg.num_threads):
        net = BeatCNN(
            x.shape[1],
            5 if cfg.use_rr else 0,
            N_CLASSES,
            cfg.channels,
            cfg.kernel_size,
            cfg.dropout,
        )
        model = TrainedClassifier(net, cfg, x_scale, rr_mean, rr_std)
        inputs = model._inputs(x, rr)
        model.history = fit_network(
            net,
            [a[tr] for a in inputs],
            y[tr],
            [a[va] for a in inputs],
            y[va],
            cfg,
            class_weight=class_weight,
        )
    if cfg.use_rr and cfg.rr_expert:
        model.rr_model = fit_rr_expert(inputs[1][tr], y[tr], class_weight)
    return model


def fit_rr_expert(rr_scaled: np.ndarray, y: np.ndarray, class_weight: np.ndarray | None):
    """Logistic regression on the scaled RR features, with the CNN's class weights."""
    w = None if class_weight is None else class_weight[y]
    return LogisticRegression(max_iter=2000).fit(rr_scaled, y, sample_weight=w)


def rr_log_proba(expert: LogisticRegression, rr_scaled: np.ndarray) -> np.ndarray:
    """The expert's log class probabilities ``[N, classes]``, as the log-softmax of its
    decision function. sklearn's ``predict_log_proba`` takes the log of probabilities that
    underflow to 0 for an RR far from a class (a warning and -inf); this stays finite."""
    d = expert.decision_function(rr_scaled)
    if d.ndim == 1:  # two classes: the score is the second class's logit against the first
        d = np.stack([np.zeros_like(d), d], axis=1)
    return log_softmax(d, axis=1)


def ecg_classifier_eval(
    model: TrainedClassifier,
    x,
    y,
    rr=None,
    *,
    groups=None,
    classes: Sequence[str | int] = DEFAULT_SCORED,
    n_boot: int = 0,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict:
    """Metrics of ``model`` on labelled segments (see ``stats.classification_metrics``).

    Adds ``n_test`` and ``y_pred`` ([N] int array, for paired comparisons); with
    ``n_boot > 0`` also ``macro_f1_ci`` (bootstrap by record when ``groups`` are given).
    """
    x = as_segments(x, "x")
    y = as_labels(y, len(x), "y")
    rr = as_rr(rr, len(x), "rr")
    groups = as_groups(groups, len(x), "groups")
    with torch_session(seed, model.config.num_threads):
        y_pred = model.predict(x, rr)
    out = classification_metrics(y, y_pred, classes)
    out.update(n_test=len(y), y_pred=y_pred)
    if n_boot > 0:
        out["macro_f1_ci"] = bootstrap_ci(
            y, y_pred, classes=classes, groups=groups, n_boot=n_boot, alpha=alpha, seed=seed
        )
    return out


def sample_rr_like(
    labels, donor_labels, donor_rr, seed: int = 0, borrowed_rr: str = "same_class"
) -> np.ndarray:
    """RR rows ``[N, 3]`` for beats with ``labels``, drawn (with replacement) from real beats
    of the same class, or with ``borrowed_rr="any_class"`` from real beats of any class (in
    the donors' class mix). A beat generator makes no rhythm; this pairs each beat with a
    plausible one."""
    if borrowed_rr not in BORROWED_RR:
        raise ValueError(f"borrowed_rr must be one of {BORROWED_RR}, got {borrowed_rr!r}")
    donor_rr = as_rr(donor_rr, len(np.asarray(donor_labels)), "donor_rr")
    donor_labels = as_labels(donor_labels, len(donor_rr), "donor_labels")
    labels = as_labels(labels, len(np.asarray(labels)), "labels")
    rng = np.random.default_rng(seed)
    if borrowed_rr == "any_class":
        return donor_rr[rng.choice(len(donor_rr), size=len(labels))].astype(np.float32)
    out = np.empty((len(labels), 3), np.float32)
    for c in np.unique(labels):  # loop over <= 5 classes, vectorised inside
        pool = np.flatnonzero(donor_labels == c)
        if len(pool) == 0:
            raise ValueError(
                f"donor_labels has no beats of class {AAMI_CLASSES[c]} to borrow RR from"
            )
        rows = labels == c
        out[rows] = donor_rr[rng.choice(pool, size=int(rows.sum()))]
    return out


def _with_rr(
    data: BeatData, donor: BeatData, needed: bool, seed: int, name: str, borrowed_rr: str
) -> BeatData:
    if not needed or data.rr is not None:
        return data
    if donor.rr is None:
        raise ValueError(f"{name}.rr is missing and the real data has no RR to borrow from")
    return replace(data, rr=sample_rr_like(data.y, donor.y, donor.rr, seed, borrowed_rr))


def augment_with_synthetic(
    real: BeatData,
    synthetic: BeatData,
    classes: Sequence[str | int] = ("S", "V", "F"),
    *,
    ratio: float | None = None,
    target_count: int | None = None,
    replace_draws: bool = False,
    seed: int = 0,
) -> tuple[BeatData, dict[str, int]]:
    """Real beats plus synthetic beats of ``classes``; returns (data, {class: n_added}).

    Give exactly one of ``ratio`` (synthetic per real beat of that class, so ``n_add =
    round(ratio * n_real_c)``) or ``target_count`` (top each class up to that many beats).
    Synthetic beats are drawn without replacement unless ``replace_draws``; too few raise.
    Missing synthetic RR is borrowed from real beats of the same class (``sample_rr_like``);
    synthetic rows get group ``"synthetic"`` when the real data has groups.
    """
    real, synthetic = real.checked("real"), synthetic.checked("synthetic")
    same_shape(real.x, synthetic.x, "real.x", "synthetic.x")
    if (ratio is None) == (target_count is None):
        raise ValueError("give exactly one of ratio or target_count")
    if ratio is not None and ratio < 0 or target_count is not None and target_count < 0:
        raise ValueError(f"ratio / target_count must be >= 0, got {ratio!r} / {target_count!r}")
    synthetic = _with_rr(synthetic, real, real.rr is not None, seed, "synthetic", "same_class")
    rng = np.random.default_rng(seed)
    real_counts = np.bincount(real.y, minlength=N_CLASSES)
    picks, added = [], {}
    for c in resolve_classes(classes):
        n_add = (
            round(ratio * real_counts[c])
            if ratio is not None
            else max(0, target_count - real_counts[c])
        )
        pool = np.flatnonzero(synthetic.y == c)
        if n_add > 0 and len(pool) == 0:
            raise ValueError(f"synthetic has no segments of class {AAMI_CLASSES[c]} to add")
        if n_add > len(pool) and not replace_draws:
            raise ValueError(
                f"synthetic has {len(pool)} segments of class {AAMI_CLASSES[c]} but {n_add} are "
                "requested; generate more or pass replace_draws=True"
            )
        picks.append(rng.choice(pool, size=n_add, replace=replace_draws) if n_add else pool[:0])
        added[AAMI_CLASSES[c]] = int(n_add)
    take = np.concatenate(picks)
    groups = None
    if real.groups is not None:
        groups = np.concatenate(
            [real.groups.astype(object), np.full(len(take), "synthetic", object)]
        )
    data = BeatData(
        np.concatenate([real.x, synthetic.x[take]]),
        np.concatenate([real.y, synthetic.y[take]]),
        None if real.rr is None else np.concatenate([real.rr, synthetic.rr[take]]),
        groups,
    )
    return data, added


def _fit(train: BeatData, cfg: ClassifierConfig, classes) -> TrainedClassifier:
    return ecg_classifier_train(
        train.x, train.y, train.rr, groups=train.groups, config=cfg, classes=classes
    )


def evaluate_beats(
    model: TrainedClassifier, test: BeatData, classes, n_boot: int = 0, seed: int = 0
) -> dict:
    """``ecg_classifier_eval`` on a :class:`BeatData` (its RR features and record groups)."""
    return ecg_classifier_eval(
        model,
        test.x,
        test.y,
        test.rr,
        groups=test.groups,
        classes=classes,
        n_boot=n_boot,
        seed=seed,
    )


def _evaluate(model: TrainedClassifier, test: BeatData, n_train: int, classes, n_boot: int) -> dict:
    out = evaluate_beats(model, test, classes, n_boot, seed=model.config.seed)
    h = model.history
    out["train"] = {
        "n": n_train,
        "epochs_run": h["epochs_run"],
        "best_epoch": h["best_epoch"],
        "seconds": h["seconds"],
    }
    return out


def run_protocols(
    real_train: BeatData,
    real_test: BeatData,
    synthetic: BeatData,
    *,
    protocols: Sequence[str] = PROTOCOLS,
    config: ClassifierConfig | None = None,
    classes: Sequence[str | int] = DEFAULT_SCORED,
    n_boot: int = 0,
) -> dict[str, dict]:
    """Run TRTR / TSTR / TRTS; returns {protocol: metrics (see ``ecg_classifier_eval``)}.

    Synthetic beats without RR borrow it from real training beats (``config.borrowed_rr``).
    """
    cfg = config or ClassifierConfig()
    unknown = set(protocols) - set(PROTOCOLS)
    if unknown:
        raise ValueError(f"protocols: unknown {sorted(unknown)}; expected some of {PROTOCOLS}")
    real_train, real_test = real_train.checked("real_train"), real_test.checked("real_test")
    synthetic = synthetic.checked("synthetic")
    same_shape(real_train.x, real_test.x, "real_train.x", "real_test.x")
    same_shape(real_train.x, synthetic.x, "real_train.x", "synthetic.x")
    synthetic = _with_rr(synthetic, real_train, cfg.use_rr, cfg.seed, "synthetic", cfg.borrowed_rr)
    plan = {
        "TRTR": (real_train, real_test),
        "TSTR": (synthetic, real_test),
        "TRTS": (real_train, synthetic),
    }
    results, real_model = {}, None
    for p in protocols:
        train, test = plan[p]
        if train is real_train:  # TRTR and TRTS share one model (same data and seed)
            if real_model is None:
                real_model = _fit(real_train, cfg, classes)
            model = real_model
        else:
            model = _fit(train, cfg, classes)
        results[p] = _evaluate(model, test, len(train), classes, n_boot)
    return results


def augmentation_experiment(
    real_train: BeatData,
    real_test: BeatData,
    synthetic: BeatData,
    *,
    aug_classes: Sequence[str | int] = ("S", "V", "F"),
    ratio: float | None = None,
    target_count: int | None = None,
    config: ClassifierConfig | None = None,
    classes: Sequence[str | int] = DEFAULT_SCORED,
    baseline: dict | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    unit: str = "auto",
) -> dict:
    """Real-only vs real + synthetic (``augment_with_synthetic``) on the same real test set.

    ``baseline``: a previous real-only result on this test set (with ``y_pred``) to reuse
    across a sweep of ratios. Returns {real_only, augmented, added, gain} where ``gain`` has
    one ``bootstrap_gain`` dict per metric (macro_f1, balanced_accuracy), paired over test
    records when ``real_test.groups`` is given (``unit='auto'``) else over segments.
    """
    cfg = config or ClassifierConfig()
    real_train, real_test = real_train.checked("real_train"), real_test.checked("real_test")
    aug, added = augment_with_synthetic(
        real_train, synthetic, aug_classes, ratio=ratio, target_count=target_count, seed=cfg.seed
    )
    if baseline is None:
        baseline = _evaluate(_fit(real_train, cfg, classes), real_test, len(real_train), classes, 0)
    elif len(np.asarray(baseline.get("y_pred", []))) != len(real_test):
        raise ValueError("baseline must be a real-only result on real_test (with y_pred)")
    augmented = _evaluate(_fit(aug, cfg, classes), real_test, len(aug), classes, 0)
    gain = {
        m: bootstrap_gain(
            real_test.y,
            baseline["y_pred"],
            augmented["y_pred"],
            metric=m,
            classes=classes,
            groups=real_test.groups,
            unit=unit,
            n_boot=n_boot,
            alpha=alpha,
            seed=cfg.seed,
        )
        for m in ("macro_f1", "balanced_accuracy")
    }
    return {"real_only": baseline, "augmented": augmented, "added": added, "gain": gain}
