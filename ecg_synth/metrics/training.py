"""torchmetrics versions of the cheap distances that training logs for model selection.

Both accumulate real and generated feature rows (``update(x, real=...)``) and synchronise
them across DDP processes like any torchmetrics ``Metric``. Computation is in float64.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from ecg_synth.metrics.features import waveform_features


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Fréchet distance between Gaussians fitted to rows of ``a`` and ``b`` (float64)."""
    return _frechet_to(_reference_gaussian(a), b)


def _reference_gaussian(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean, covariance and the covariance's square root of the rows of ``a`` (float64): what
    the FD needs of its reference, computed once however many sets are measured against it."""
    a = a.double()
    cov = torch.cov(a.T)
    vals, vecs = torch.linalg.eigh(cov)
    return a.mean(0), cov, (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def _frechet_to(reference, b: torch.Tensor) -> torch.Tensor:
    mu_a, cov_a, sqrt_a = reference
    b = b.double()
    mu_b, cov_b = b.mean(0), torch.cov(b.T)
    # tr(sqrt(A B)) from the eigenvalues of sqrt(A) B sqrt(A), which is symmetric PSD.
    cross = torch.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a).clamp_min(0).sqrt().sum()
    return (mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * cross


def frechet_distance_with_sd(
    a: torch.Tensor, b: torch.Tensor, n_boot: int = 50, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`frechet_distance` and its sampling noise from ``b`` (the generated rows), from
    one fit of ``a``'s Gaussian. The noise is the FD's standard deviation over ``n_boot``
    bootstrap resamples of ``b`` (rows drawn with replacement) against the fixed ``a``, i.e. how
    far another draw of as many generated rows would move it. Two FDs on one reference less
    than about three of these apart are not told apart."""
    if n_boot < 2:
        raise ValueError(f"the FD's bootstrap sd needs n_boot >= 2 resamples, got {n_boot}")
    g = torch.Generator().manual_seed(seed)
    rows = [torch.randint(len(b), (len(b),), generator=g).to(b.device) for _ in range(n_boot)]
    reference = _reference_gaussian(a)
    sd = torch.stack([_frechet_to(reference, b[r]) for r in rows]).std()
    return _frechet_to(reference, b), sd


def mmd_rbf(a: torch.Tensor, b: torch.Tensor, bandwidth: float | None = None) -> torch.Tensor:
    """Unbiased squared MMD with an RBF kernel (median heuristic), float64, not clipped."""
    a, b = a.double(), b.double()
    if bandwidth is None:
        joint = torch.cat([a, b])
        d = torch.cdist(joint, joint).square()
        bandwidth = d[d > 0].median().item() if (d > 0).any() else 1.0
    k = lambda u, v: torch.exp(-torch.cdist(u, v).square() / bandwidth)  # noqa: E731
    m, n = len(a), len(b)
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    return (
        (kaa.sum() - kaa.diagonal().sum()) / (m * (m - 1))
        + (kbb.sum() - kbb.diagonal().sum()) / (n * (n - 1))
        - 2 * kab.mean()
    )


class _RealFakeFeatures(Metric):
    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("real", default=[], dist_reduce_fx="cat")
        self.add_state("fake", default=[], dist_reduce_fx="cat")

    def update(self, x: torch.Tensor, real: bool) -> None:
        (self.real if real else self.fake).append(waveform_features(x.detach()))

    def _features(self) -> tuple[torch.Tensor, torch.Tensor]:
        # A list of batches before DDP synchronisation, one concatenated tensor after it.
        if any(len(rows) == 0 for rows in (self.real, self.fake)):
            raise RuntimeError(f"{type(self).__name__}: update() needs both real and fake rows")
        return dim_zero_cat(self.real), dim_zero_cat(self.fake)


class SegmentFrechetDistance(_RealFakeFeatures):
    """``val/fd``: Fréchet distance on ``waveform_features``; lower is better. Its sampling
    noise, ``val/fd_sd``, comes with it from ``compute_with_sd``."""

    higher_is_better = False

    def compute(self) -> torch.Tensor:
        return frechet_distance(*self._features())

    def compute_with_sd(self, n_boot: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
        """``val/fd`` and ``val/fd_sd`` (:func:`frechet_distance_with_sd`) over the rows of
        every DDP process, gathered once."""
        with self.sync_context():
            return frechet_distance_with_sd(*self._features(), n_boot)


class SegmentMMD(_RealFakeFeatures):
    """``val/mmd``: unbiased RBF MMD^2 on ``waveform_features``; lower is better."""

    higher_is_better = False

    def compute(self) -> torch.Tensor:
        return mmd_rbf(*self._features())


class RRWasserstein(_RealFakeFeatures):
    """``val/rr_w1`` of a model that generates RR: the 1-D Wasserstein distance between the
    real and the generated RR features (``RRScaler`` units, i.e. sds of log RR), from their
    quantiles on a 101-point grid, averaged over the three columns; lower is better."""

    higher_is_better = False

    def update(self, rr: torch.Tensor, real: bool) -> None:
        (self.real if real else self.fake).append(rr.detach().double())

    def compute(self) -> torch.Tensor:
        a, b = self._features()
        q = torch.linspace(0, 1, 101, dtype=torch.float64, device=a.device)
        return (torch.quantile(a, q, dim=0) - torch.quantile(b, q, dim=0)).abs().mean()
