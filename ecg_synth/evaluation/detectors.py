"""Real-vs-generated detectors: can a classifier tell synthetic ECG from real?

An AUC (or accuracy) of 0.5 on held-out data means the two sets are indistinguishable to that
detector; 1.0 means trivially separable. Two detectors:

- an RBF SVM on hand-made features (``svm_detector``), reported on two feature sets: *shape*
  (every segment amplitude-normalised first, so only waveform shape and timing count) and
  *amplitude* (raw mV, so scale and offset errors count too);
- a small 1-D CNN on the raw segments (``cnn_detector``).

Protocol for both: real and generated sets are each split into a training and a held-out
part, *by group* when groups are given (records for real data, e.g. conditioning subjects for
generated data), so a detector cannot score by memorising a patient; both parts are balanced
(the larger set subsampled) so chance is exactly 0.5. Scalers are fitted on training parts
only (``Pipeline``); the CNN early-stops on a validation part carved out of its training part.

Caveat (measured on MIT-BIH): records differ a lot, so when the real records of the training
part differ in patient mix from those held out, the detector partly learns "these records vs
the rest", which on held-out records points the wrong way and pulls the AUC *below* 0.5
(real vs real across disjoint DS1 records gave AUCs of 0.18-0.44). Give generated segments
the record or subject they were conditioned on as ``fake_groups`` (then both sets are split
with one assignment of ids, ``split="joint-group"``), and/or average over ``n_repeats``
splits; read an AUC far *below* 0.5 as "too few records to judge", not "better than real".
Both detectors take ``n_repeats``; runs with different seeds share no split
(``repeat_seeds``). Averaging removes the fit-to-fit part of the noise only: which held-out
records form the reference (evaluate.py's seed) still moves the AUC, so compare a set with
its floor at the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.signal
import scipy.stats
import torch
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ecg_synth.evaluation._common import (
    TrainConfig,
    as_groups,
    as_rr,
    as_segments,
    balance_two,
    fit_network,
    holdout_split,
    predict_logits,
    same_shape,
    standardise_stats,
    torch_session,
)
from ecg_synth.evaluation.classifier import BeatCNN

FEATURE_SETS = ("shape", "amplitude")
BANDS_HZ: tuple[tuple[float, float], ...] = ((0.5, 5.0), (5.0, 15.0), (15.0, 40.0))


def segment_features(x, fs: float, rr=None, kind: str = "amplitude") -> np.ndarray:
    """Per-segment features ``[N, F]`` of ``x [N, C, L]`` (mV), for the SVM detector.

    Per lead: mean and variance (``amplitude`` only: they are constant after normalising),
    skewness, kurtosis, R amplitude (signed largest deviation from the median baseline), QRS
    width proxy (seconds the deviation stays above half its peak around that peak),
    peak-to-peak and log band powers in ``BANDS_HZ`` (Welch). ``kind='shape'`` first z-scores
    every segment and lead. ``rr [N, 3]`` seconds is appended when given.
    """
    if kind not in FEATURE_SETS:
        raise ValueError(f"kind must be one of {FEATURE_SETS}, got {kind!r}")
    x = as_segments(x, "x").astype(np.float64)
    n, _, length = x.shape
    rr = as_rr(rr, n, "rr")
    if kind == "shape":
        x = (x - x.mean(-1, keepdims=True)) / np.maximum(x.std(-1, keepdims=True), 1e-9)
    feats = []
    if kind == "amplitude":
        feats += [x.mean(-1), x.var(-1)]
    # Constant segments make skew/kurtosis undefined (NaN); they carry no shape, so use 0.
    feats += [
        np.nan_to_num(scipy.stats.skew(x, axis=-1)),
        np.nan_to_num(scipy.stats.kurtosis(x, axis=-1)),
    ]
    dev = x - np.median(x, axis=-1, keepdims=True)
    mag = np.abs(dev)
    peak = mag.argmax(-1)  # [N, C]
    r_amp = np.take_along_axis(dev, peak[..., None], -1)[..., 0]
    below = mag < (mag.max(-1) / 2)[..., None]
    idx = np.arange(length)
    left = np.where(below & (idx < peak[..., None]), idx, -1).max(-1)
    right = np.where(below & (idx > peak[..., None]), idx, length).min(-1)
    feats += [r_amp, (right - left - 1) / fs, x.max(-1) - x.min(-1)]
    freqs, psd = scipy.signal.welch(x, fs=fs, nperseg=min(length, 256), axis=-1)
    for lo, hi in BANDS_HZ:
        band = (freqs >= lo) & (freqs < min(hi, fs / 2))
        if band.any():
            feats.append(np.log10(psd[..., band].sum(-1) + 1e-12))
    out = np.concatenate([f.reshape(n, -1) for f in feats], axis=1)
    if rr is not None:
        out = np.concatenate([out, rr], axis=1)
    return out.astype(np.float64)


def check_repeats(n_repeats) -> None:
    """Both detectors' ``n_repeats``: an integer >= 1 (ValueError otherwise)."""
    if not isinstance(n_repeats, int) or n_repeats < 1:
        raise ValueError(f"n_repeats must be an integer >= 1, got {n_repeats!r}")


def repeat_seeds(seed: int, n_repeats: int) -> range:
    """Seeds of the ``n_repeats`` fits of a detector run with ``seed``: ``seed * n_repeats``
    onwards, so runs with different seeds share no fit (seeds 0, 1, 2 of a three-seed table
    would otherwise reuse four of five splits), and ``n_repeats=1`` is the single fit."""
    return range(seed * n_repeats, (seed + 1) * n_repeats)


def _check_pair(real, fake, real_groups, fake_groups):
    real = as_segments(real, "real")
    fake = as_segments(fake, "fake")
    same_shape(real, fake, "real", "fake")
    return (
        real,
        fake,
        as_groups(real_groups, len(real), "real_groups"),
        as_groups(fake_groups, len(fake), "fake_groups"),
    )


def _cap(n: int, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if cap is None or n <= cap else np.sort(rng.choice(n, cap, replace=False))


def _joint(real_groups, fake_groups) -> bool:
    return (
        real_groups is not None
        and fake_groups is not None
        and bool(np.isin(fake_groups, real_groups).all())
    )


def _split_kind(real_groups, fake_groups) -> str:
    """How the sets were split: ``joint-group`` (one assignment of shared ids), else
    ``<real>/<fake>``, each side by ``group`` or at ``random``."""
    if _joint(real_groups, fake_groups):
        return "joint-group"
    return "/".join("random" if g is None else "group" for g in (real_groups, fake_groups))


def _split_pair(real_groups, fake_groups, n_real, n_fake, fraction, seed):
    """Split real and fake into (train, held-out) by group when groups are given; then
    balance each part. Returns (real_tr, real_te, fake_tr, fake_te) index arrays.

    When every fake group is also a real group (generation conditioned on a record or
    subject), one split of the group ids is applied to both sets, so each part holds real
    and generated beats of the same records. Split separately, the parts would differ in
    patient mix, and the detector would learn "training real records vs the rest": on held
    out records that points the wrong way, biasing the AUC *below* 0.5.
    """
    if _joint(real_groups, fake_groups):
        ids = np.unique(real_groups)
        _, te = holdout_split(len(ids), ids, fraction, seed, "real_groups")
        r_held, f_held = np.isin(real_groups, ids[te]), np.isin(fake_groups, ids[te])
        r_tr, r_te = np.flatnonzero(~r_held), np.flatnonzero(r_held)
        f_tr, f_te = np.flatnonzero(~f_held), np.flatnonzero(f_held)
    else:
        r_tr, r_te = holdout_split(n_real, real_groups, fraction, seed, "real_groups")
        f_tr, f_te = holdout_split(n_fake, fake_groups, fraction, seed + 1, "fake_groups")
    rng = np.random.default_rng(seed)
    a, b = balance_two(len(r_tr), len(f_tr), rng)
    c, d = balance_two(len(r_te), len(f_te), rng)
    if min(len(a), len(c)) < 4:
        raise ValueError(
            f"real/fake: too few segments for a balanced train / held-out split "
            f"(real {n_real}, fake {n_fake}; parts of {len(a)} and {len(c)} per class)"
        )
    return r_tr[a], r_te[c], f_tr[b], f_te[d]


def svm_detector(
    real,
    fake,
    fs: float,
    *,
    real_rr=None,
    fake_rr=None,
    real_groups=None,
    fake_groups=None,
    test_fraction: float = 0.5,
    max_per_set: int | None = 4000,
    n_repeats: int = 1,
    C: float = 1.0,
    gamma: str | float = "scale",
    seed: int = 0,
) -> dict:
    """RBF-SVM real-vs-generated detector on ``segment_features``, both feature sets.

    ``real [N, C, L]`` and ``fake [M, C, L]`` in mV; RR features are used only when given
    for both. ``max_per_set`` caps each set before splitting (SVM training is quadratic).
    With few records a single group split is noisy (the held-out AUC then reflects which
    patients fell on which side), so ``n_repeats`` averages over that many seeded splits.
    Returns {"shape": {accuracy, auc, auc_std}, "amplitude": {...}, n_train, n_test
    (first split), n_repeats, split ("joint-group", or "<real>/<fake>" with each side
    "group" or "random"), uses_rr};
    0.5 = indistinguishable.
    """
    real, fake, real_groups, fake_groups = _check_pair(real, fake, real_groups, fake_groups)
    real_rr = as_rr(real_rr, len(real), "real_rr")
    fake_rr = as_rr(fake_rr, len(fake), "fake_rr")
    check_repeats(n_repeats)
    use_rr = real_rr is not None and fake_rr is not None
    rng = np.random.default_rng(seed)
    ri, fi = _cap(len(real), max_per_set, rng), _cap(len(fake), max_per_set, rng)
    rg = None if real_groups is None else real_groups[ri]
    fg = None if fake_groups is None else fake_groups[fi]
    feats = {
        kind: (
            segment_features(real[ri], fs, real_rr[ri] if use_rr else None, kind),
            segment_features(fake[fi], fs, fake_rr[fi] if use_rr else None, kind),
        )
        for kind in FEATURE_SETS
    }
    scores: dict = {kind: {"accuracy": [], "auc": []} for kind in FEATURE_SETS}
    for rep, split_seed in enumerate(repeat_seeds(seed, n_repeats)):
        r_tr, r_te, f_tr, f_te = _split_pair(rg, fg, len(ri), len(fi), test_fraction, split_seed)
        y_tr = np.r_[np.zeros(len(r_tr)), np.ones(len(f_tr))]
        y_te = np.r_[np.zeros(len(r_te)), np.ones(len(f_te))]
        if rep == 0:
            sizes = {"n_train": len(y_tr), "n_test": len(y_te)}
        for kind, (fr, ff) in feats.items():
            svc = SVC(kernel="rbf", C=C, gamma=gamma)
            model = Pipeline([("scale", StandardScaler()), ("svc", svc)])
            model.fit(np.concatenate([fr[r_tr], ff[f_tr]]), y_tr)
            x_te = np.concatenate([fr[r_te], ff[f_te]])
            scores[kind]["accuracy"].append(accuracy_score(y_te, model.predict(x_te)))
            scores[kind]["auc"].append(roc_auc_score(y_te, model.decision_function(x_te)))
    out: dict = {
        **sizes,
        "n_repeats": n_repeats,
        "split": _split_kind(real_groups, fake_groups),
        "uses_rr": use_rr,
    }
    for kind, sc in scores.items():
        out[kind] = {
            "accuracy": float(np.mean(sc["accuracy"])),
            "auc": float(np.mean(sc["auc"])),
            "auc_std": float(np.std(sc["auc"])),
        }
    return out


@dataclass
class DetectorConfig(TrainConfig):
    """Settings of the CNN detector (a ``BeatCNN`` with two outputs)."""

    epochs: int = 20
    batch_size: int = 128
    patience: int = 4
    val_fraction: float = 0.2
    channels: tuple[int, ...] = (16, 32, 32)
    kernel_size: int = 7
    dropout: float = 0.2
    test_fraction: float = 0.5
    max_per_set: int | None = 10000
    # One fit's held-out AUC swings with which records fall on which side and with the
    # initialisation (sd 0.05-0.14 at one seed on MIT-BIH test patients), as much as the gaps
    # being measured; the AUC is the mean of this many fits.
    n_repeats: int = 1

    def __post_init__(self) -> None:
        # Checked here, so evaluate.py refuses it before minutes of metrics (check_request).
        super().__post_init__()
        check_repeats(self.n_repeats)


def cnn_detector(
    real, fake, *, real_groups=None, fake_groups=None, config: DetectorConfig | None = None
) -> dict:
    """1-D CNN real-vs-generated detector with the same held-out protocol as the SVM.

    Trained on real segments of some records vs some generated ones, early-stopped on a
    validation part of that (split by group too when possible), tested on the other records'
    real segments vs the other generated ones. Input: raw mV, standardised per lead with
    training statistics (amplitude errors stay visible). ``config.n_repeats`` fits are made,
    each with its own subsample, split and initialisation (``repeat_seeds``).
    Returns {auc (mean over fits), auc_std, aucs, accuracy (mean), n_train, n_test,
    epochs_run, best_epoch (first fit), n_repeats, split}.
    """
    cfg = config or DetectorConfig()
    real, fake, real_groups, fake_groups = _check_pair(real, fake, real_groups, fake_groups)
    fits = [
        _cnn_fit(real, fake, real_groups, fake_groups, replace(cfg, seed=s))
        for s in repeat_seeds(cfg.seed, cfg.n_repeats)
    ]
    aucs = [f["auc"] for f in fits]
    return {
        **fits[0],
        "auc": float(np.mean(aucs)),
        "auc_std": float(np.std(aucs)),
        "aucs": aucs,
        "accuracy": float(np.mean([f["accuracy"] for f in fits])),
        "n_repeats": cfg.n_repeats,
        "split": _split_kind(real_groups, fake_groups),
    }


def _cnn_fit(real, fake, real_groups, fake_groups, cfg: DetectorConfig) -> dict:
    """One CNN detector fit, seeded by ``cfg.seed``: subsample, split, train, score on the
    held-out part."""
    seed = cfg.seed
    rng = np.random.default_rng(seed)
    ri, fi = _cap(len(real), cfg.max_per_set, rng), _cap(len(fake), cfg.max_per_set, rng)
    real, fake = real[ri], fake[fi]
    rg = None if real_groups is None else real_groups[ri]
    fg = None if fake_groups is None else fake_groups[fi]
    r_tr, r_te, f_tr, f_te = _split_pair(rg, fg, len(real), len(fake), cfg.test_fraction, seed)

    # Validation part of the training part, split the same way (by group where possible).
    def sub(groups, idx):
        return None if groups is None or len(np.unique(groups[idx])) < 2 else groups[idx]

    a, b, c, d = _split_pair(
        sub(rg, r_tr), sub(fg, f_tr), len(r_tr), len(f_tr), cfg.val_fraction, seed + 2
    )
    r_fit, r_val, f_fit, f_val = r_tr[a], r_tr[b], f_tr[c], f_tr[d]
    x_fit = np.concatenate([real[r_fit], fake[f_fit]])
    mean, std = standardise_stats(x_fit)

    def part(r_idx, f_idx):
        x = (np.concatenate([real[r_idx], fake[f_idx]]) - mean) / std
        y = np.r_[np.zeros(len(r_idx), np.int64), np.ones(len(f_idx), np.int64)]
        return x.astype(np.float32), y

    (xf, yf), (xv, yv), (xt, yt) = part(r_fit, f_fit), part(r_val, f_val), part(r_te, f_te)
    with torch_session(seed, cfg.num_threads):
        net = BeatCNN(real.shape[1], 0, 2, cfg.channels, cfg.kernel_size, cfg.dropout)
        hist = fit_network(net, [xf], yf, [xv], yv, cfg)
        prob = torch.softmax(predict_logits(net, [xt]), dim=1)[:, 1].numpy()
    return {
        "auc": float(roc_auc_score(yt, prob)),
        "accuracy": float(accuracy_score(yt, prob > 0.5)),
        "n_train": len(yf),
        "n_test": len(yt),
        "epochs_run": hist["epochs_run"],
        "best_epoch": hist["best_epoch"],
    }
