"""Distribution distances between a reference and a candidate set of features.

Features are rows ``[N, D]`` (an embedding from ``embedding.embed``, or ``waveform_features``);
``[N, C, L]`` segments are flattened. Keys, all floats:

- ``fd``: Fréchet distance of Gaussians fitted to the two sets (float64). Lower is better;
  biased upwards for small N, so compare against the real-train vs real-test floor.
- ``fd_sd``: the FD's sampling noise, its sd over bootstrap resamples of the candidate set
  (``fd_boot`` of them); read FD differences against it.
- ``mmd``: unbiased squared MMD, RBF kernel, float64, not clipped (can be slightly negative
  when the sets match). The bandwidth is the median squared distance within the *reference*
  subsample, so every candidate set is measured with the same kernel. Lower is better.
  Budget: O(n^2), at most ``mmd_max_n`` rows of each set (seeded subsample).
- ``precision``, ``recall``, ``density``, ``coverage``: Naeem et al. 2020 ("Reliable
  fidelity and diversity metrics for generative models"), k-NN radii with k=5. Higher is
  better; precision and recall in [0, 1] (1 for identical sets), density around 1 for
  matching sets (above 1: samples crowd in dense real regions), coverage in [0, 1].
  Budget: chunked distance matrix, at most ``prdc_max_n`` rows of each set.
- ``fd_wave``, ``mmd_wave``: the same FD / MMD on the fixed ``waveform_features`` (no
  training needed; shape pooled in 32 time bins, so they also see a time shift).
"""

from __future__ import annotations

import numpy as np
import torch

from ecg_synth.metrics.embedding import ECGEncoder, embed
from ecg_synth.metrics.features import waveform_features
from ecg_synth.metrics.signal import check_features, check_pair, knn
from ecg_synth.metrics.training import frechet_distance, frechet_distance_with_sd, mmd_rbf


def _subsample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= n else x[np.sort(rng.choice(len(x), n, replace=False))]


def _checked(reference, candidate, min_n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Both feature sets as float64 ``[N, D]`` with at least ``min_n`` rows and one ``D``."""
    a = check_features(reference, "reference", min_n=min_n)
    b = check_features(candidate, "candidate", min_n=min_n)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"candidate: {b.shape[1]} features per row, reference has {a.shape[1]}")
    return a, b


def fd(reference, candidate) -> float:
    """Fréchet distance between ``[N, D]`` feature sets (float64). Lower is better."""
    a, b = _checked(reference, candidate)
    return float(frechet_distance(torch.from_numpy(a), torch.from_numpy(b)))


def fd_with_sd(reference, candidate, n_boot: int = 50, seed: int = 0) -> tuple[float, float]:
    """:func:`fd` and its sampling noise from the candidate set
    (``training.frechet_distance_with_sd``: the sd over ``n_boot`` bootstrap resamples of
    ``candidate`` against the fixed ``reference``), from one fit of the reference. A 2,000-row
    quick evaluation's FD of one generator moved by 2 between two samplings, with an ``fd_sd``
    of 1.0 (bench/RESULTS.md)."""
    a, b = _checked(reference, candidate)
    value, sd = frechet_distance_with_sd(torch.from_numpy(a), torch.from_numpy(b), n_boot, seed)
    return float(value), float(sd)


def mmd(reference, candidate, max_n: int = 2000, seed: int = 0) -> float:
    """Unbiased RBF MMD^2 (float64, unclipped) with the reference's median bandwidth. Lower
    is better. At most ``max_n`` rows of each set, drawn with ``seed``."""
    a, b = _checked(reference, candidate)
    rng = np.random.default_rng(seed)
    a, b = torch.from_numpy(_subsample(a, max_n, rng)), torch.from_numpy(_subsample(b, max_n, rng))
    d = torch.pdist(a).square()
    bandwidth = d[d > 0].median().item() if (d > 0).any() else 1.0
    return float(mmd_rbf(a, b, bandwidth=bandwidth))


def prdc(
    reference, candidate, k: int = 5, max_n: int = 10_000, seed: int = 0, chunk: int = 1024
) -> dict[str, float]:
    """Precision, recall, density, coverage (Naeem et al. 2020) of ``candidate`` (fake)
    against ``reference`` (real), Euclidean k-NN balls with ``k`` neighbours (self excluded).

    precision: share of fakes inside some real ball; recall: share of reals inside some fake
    ball; density: mean number of real balls holding a fake, / k; coverage: share of reals
    whose own ball holds at least one fake. Higher is better (see module docstring).
    """
    real, fake = _checked(reference, candidate, min_n=k + 1)
    rng = np.random.default_rng(seed)
    real, fake = _subsample(real, max_n, rng), _subsample(fake, max_n, rng)
    r_real = torch.from_numpy(knn(real, real, k=k, exclude_self=True)[0][:, -1])
    r_fake = torch.from_numpy(knn(fake, fake, k=k, exclude_self=True)[0][:, -1])
    rt, ft = torch.from_numpy(real), torch.from_numpy(fake)
    inside_any = torch.zeros(len(fake), dtype=torch.bool)  # fake j inside some real ball
    n_balls = torch.zeros(len(fake), dtype=torch.float64)  # number of real balls holding fake j
    covered = torch.zeros(len(real), dtype=torch.bool)  # real i's ball holds a fake
    recalled = torch.zeros(len(real), dtype=torch.bool)  # real i inside some fake ball
    for s in range(0, len(real), chunk):
        d = torch.cdist(rt[s : s + chunk], ft)  # [b, n_fake] float64
        in_real_ball = d <= r_real[s : s + chunk, None]
        inside_any |= in_real_ball.any(0)
        n_balls += in_real_ball.sum(0)
        covered[s : s + chunk] = in_real_ball.any(1)
        recalled[s : s + chunk] = (d <= r_fake[None, :]).any(1)
    return {
        "precision": float(inside_any.double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(n_balls.mean() / k),
        "coverage": float(covered.double().mean()),
    }


def distribution_metrics(
    reference,
    candidate,
    k: int = 5,
    mmd_max_n: int = 2000,
    prdc_max_n: int = 10_000,
    fd_boot: int = 50,
    seed: int = 0,
) -> dict[str, float]:
    """``fd`` (and its bootstrap ``fd_sd`` over ``fd_boot`` resamples), ``mmd``,
    ``precision``, ``recall``, ``density``, ``coverage`` of feature rows ``candidate [M, D]``
    against ``reference [N, D]``. Call it with (real train, real test) too: that is the floor
    every generator is read against."""
    value, sd = fd_with_sd(reference, candidate, fd_boot, seed)
    out = {"fd": value, "fd_sd": sd, "mmd": mmd(reference, candidate, mmd_max_n, seed)}
    return out | prdc(reference, candidate, k=k, max_n=prdc_max_n, seed=seed)


def embedding_metrics(encoder: ECGEncoder, reference, candidate, **kwargs) -> dict[str, float]:
    """:func:`distribution_metrics` in the learned embedding of segments ``[N, C, L]`` (mV)."""
    reference, candidate = check_pair(reference, candidate, "reference", "candidate")
    return distribution_metrics(embed(encoder, reference), embed(encoder, candidate), **kwargs)


def waveform_metrics(
    reference, candidate, mmd_max_n: int = 2000, seed: int = 0
) -> dict[str, float]:
    """``fd_wave`` and ``mmd_wave`` on ``waveform_features`` of segments ``[N, C, L]`` (mV).
    Lower is better."""
    reference, candidate = check_pair(reference, candidate, "reference", "candidate", min_n=2)
    fa = waveform_features(torch.from_numpy(np.asarray(reference, dtype=np.float32))).numpy()
    fb = waveform_features(torch.from_numpy(np.asarray(candidate, dtype=np.float32))).numpy()
    return {"fd_wave": fd(fa, fb), "mmd_wave": mmd(fa, fb, mmd_max_n, seed)}
