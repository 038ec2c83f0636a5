"""Mode collapse and diversity of a generated set against real data.

Inputs are feature rows ``[N, D]`` (use the learned embedding) or segments ``[N, C, L]``
(flattened). Keys:

- ``pairwise_ratio``: mean pairwise distance generated / real (seeded subsample of
  ``max_n`` rows each, O(n^2)). 1 is best; well below 1 means too little variety.
- ``mode_coverage``: k-means (``n_modes`` clusters) on the real rows; share of real clusters
  that receive at least ``min_rel_share`` x their real share of generated rows. Higher is
  better (1: every real mode is reproduced).
- ``modes_real``, ``modes_gen``: effective number of occupied modes, exp(entropy) of each
  set's cluster histogram; ``modes_ratio`` = gen / real, 1 is best.
- ``spread_ratio_<class>`` for every AAMI class: mean distance to the class centroid,
  generated / real (NaN where either set has fewer than 2 rows of the class). 1 is best.
- ``collapsed`` (bool), the rule: ``pairwise_ratio < 0.5`` or ``modes_ratio < 0.5`` or
  ``mode_coverage < 0.5``. A set with half the spread, half the effective modes, or that
  misses half the real modes is not a usable stand-in for the real data. A resample of real
  scores about 1 on all three; a generator that emits class templates (with or without
  noise) fills at most a few clusters.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans

from ecg_synth.data.types import AAMI_CLASSES
from ecg_synth.metrics.signal import check_features, check_labels

COLLAPSE_THRESHOLD = 0.5


def mean_pairwise_distance(x, max_n: int = 2000, seed: int = 0) -> float:
    """Mean Euclidean distance between distinct rows (seeded subsample of ``max_n``)."""
    x = check_features(x, "x", min_n=2)
    rng = np.random.default_rng(seed)
    if len(x) > max_n:
        x = x[np.sort(rng.choice(len(x), max_n, replace=False))]
    return float(torch.pdist(torch.from_numpy(x)).mean())


def _effective_modes(assign: np.ndarray, n: int) -> float:
    p = np.bincount(assign, minlength=n) / len(assign)
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def mode_metrics(
    real,
    generated,
    n_modes: int = 20,
    min_rel_share: float = 0.1,
    seed: int = 0,
    max_fit: int = 10_000,
) -> dict[str, float]:
    """``mode_coverage``, ``modes_real``, ``modes_gen``, ``modes_ratio`` (module docstring).
    k-means (sklearn, ``seed``) is fitted on at most ``max_fit`` real rows."""
    real, gen = check_features(real, "real", min_n=n_modes), check_features(generated, "generated")
    if real.shape[1] != gen.shape[1]:
        raise ValueError(f"generated: {gen.shape[1]} features per row, real has {real.shape[1]}")
    rng = np.random.default_rng(seed)
    fit = (
        real
        if len(real) <= max_fit
        else real[np.sort(rng.choice(len(real), max_fit, replace=False))]
    )
    km = KMeans(n_clusters=n_modes, n_init=3, random_state=seed).fit(fit)
    a_real, a_gen = km.predict(real), km.predict(gen)
    share_real = np.bincount(a_real, minlength=n_modes) / len(real)
    share_gen = np.bincount(a_gen, minlength=n_modes) / len(gen)
    modes_real, modes_gen = _effective_modes(a_real, n_modes), _effective_modes(a_gen, n_modes)
    real_modes = share_real > 0
    covered = share_gen[real_modes] >= min_rel_share * share_real[real_modes]
    return {
        "mode_coverage": float(covered.mean()),
        "modes_real": modes_real,
        "modes_gen": modes_gen,
        "modes_ratio": modes_gen / modes_real,
    }


def class_spread(real, generated, real_labels, gen_labels) -> dict[str, float]:
    """``spread_ratio_<class>``: mean distance to the class centroid, generated / real."""
    real, gen = check_features(real, "real"), check_features(generated, "generated")
    lr, lg = (
        check_labels(real_labels, len(real), "real_labels"),
        check_labels(gen_labels, len(gen), "gen_labels"),
    )
    out = {}
    for c, name in enumerate(AAMI_CLASSES):
        r, g = real[lr == c], gen[lg == c]
        if len(r) < 2 or len(g) < 2:
            out[f"spread_ratio_{name}"] = float("nan")
            continue
        sr = np.linalg.norm(r - r.mean(0), axis=1).mean()
        sg = np.linalg.norm(g - g.mean(0), axis=1).mean()
        out[f"spread_ratio_{name}"] = float(sg / max(sr, 1e-12))
    return out


def diversity_metrics(
    real,
    generated,
    real_labels=None,
    gen_labels=None,
    n_modes: int = 20,
    max_n: int = 2000,
    seed: int = 0,
) -> dict[str, float | bool]:
    """All diversity keys and the ``collapsed`` flag (rule in the module docstring).
    Per-class spreads only when both label arrays are given."""
    real, gen = (
        check_features(real, "real", min_n=2),
        check_features(generated, "generated", min_n=2),
    )
    ratio = mean_pairwise_distance(gen, max_n, seed) / max(
        mean_pairwise_distance(real, max_n, seed), 1e-12
    )
    out: dict[str, float | bool] = {"pairwise_ratio": ratio}
    out |= mode_metrics(real, gen, n_modes=n_modes, seed=seed)
    if real_labels is not None and gen_labels is not None:
        out |= class_spread(real, gen, real_labels, gen_labels)
    out["collapsed"] = bool(
        ratio < COLLAPSE_THRESHOLD
        or out["modes_ratio"] < COLLAPSE_THRESHOLD
        or out["mode_coverage"] < COLLAPSE_THRESHOLD
    )
    return out
