"""Sample-level signal metrics: RMSE, PRD, nearest-neighbour DTW, PSD distance, smoothness.

Every set of segments is a NumPy array ``[N, C, L]`` in millivolts; ``fs`` is in Hz. Also
home of the input checks and the exact k-nearest-neighbour search that the other metric
modules share.

Keys (all floats; "gen" = generated, "real" = the reference set):
- ``rmse`` (mV), ``prd`` (%), ``prdn`` (%): lower is better.
- ``dtw`` (mV): RMS error after the best Sakoe-Chiba warping to the nearest real segment;
  lower is better.
- ``psd`` (dB): RMS difference of the two sets' mean log power spectra; lower is better.
- ``hf_energy_*`` / ``tv_*``: smoothness; ``*_ratio`` = generated / real, 1 is best (below 1:
  too smooth, above 1: too noisy).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.signal import welch

_EPS = 1e-12


# ----------------------------------------------------------------------------- input checks
def check_segments(x, name: str, ndim: int = 3, min_n: int = 1) -> np.ndarray:
    """Return ``x`` as a finite float array of ``ndim`` dims with at least ``min_n`` rows.

    Raises ValueError naming ``name`` for a wrong ndim, too few rows, non-numeric data, NaN or inf.
    """
    arr = np.asarray(x)
    shape = {2: "[N, D]", 3: "[N, C, L]"}.get(ndim, f"{ndim}-d")
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {shape} array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name}: expected numbers, got dtype {arr.dtype}")
    if arr.shape[0] < min_n or arr.size == 0:
        raise ValueError(
            f"{name}: needs at least {min_n} row(s) and non-empty, got shape {arr.shape}"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        first = np.argwhere(bad)[0].tolist()
        raise ValueError(f"{name}: {int(bad.sum())} NaN/inf value(s), first at index {first}")
    return arr


def check_pair(a, b, name_a: str, name_b: str, min_n: int = 1, same_n: bool = False):
    """Check two ``[N, C, L]`` sets whose channels and lengths must match (and N if ``same_n``)."""
    a, b = check_segments(a, name_a, min_n=min_n), check_segments(b, name_b, min_n=min_n)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"{name_b}: shape {b.shape} does not match {name_a} {a.shape} in [C, L]")
    if same_n and len(a) != len(b):
        raise ValueError(f"{name_b}: {len(b)} segments but {name_a} has {len(a)}")
    return a, b


def check_features(x, name: str, min_n: int = 1) -> np.ndarray:
    """Accept ``[N, D]`` features or ``[N, C, L]`` segments (flattened); float64 ``[N, D]``."""
    arr = np.asarray(x)
    if arr.ndim not in (2, 3):
        raise ValueError(
            f"{name}: expected [N, D] features or [N, C, L] segments, got shape {arr.shape}"
        )
    arr = check_segments(arr, name, ndim=arr.ndim, min_n=min_n)
    return arr.reshape(len(arr), -1).astype(np.float64, copy=False)


def check_labels(labels, n: int, name: str) -> np.ndarray:
    """Integer labels ``[n]``; ValueError naming ``name`` otherwise."""
    lab = np.asarray(labels)
    if lab.ndim != 1 or len(lab) != n:
        raise ValueError(f"{name}: expected [{n}] labels, got shape {lab.shape}")
    if not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"{name}: expected integer labels, got dtype {lab.dtype}")
    return lab.astype(np.int64)


def check_fs(fs: float) -> float:
    if not (np.isscalar(fs) and np.isfinite(fs) and fs > 0):
        raise ValueError(f"fs: expected a positive sampling rate in Hz, got {fs!r}")
    return float(fs)


# ----------------------------------------------------------------- exact nearest neighbours
def knn(query, reference, k: int = 1, exclude_self: bool = False, chunk_bytes: int = 1 << 28):
    """k nearest rows of ``reference`` for each row of ``query`` (Euclidean, exact in float64).

    query ``[Nq, D]``, reference ``[Nr, D]`` (3-D inputs are flattened). Returns
    ``(dist [Nq, k] float64, index [Nq, k] int64)``, nearest first. The search runs in
    float32 ``torch.cdist`` chunks (fast matrix products), keeps ``k + 4`` candidates and
    re-ranks them with float64 distances, so exact copies come out at distance 0.
    ``exclude_self``: query is reference; row i never matches itself.
    """
    q = torch.from_numpy(
        np.ascontiguousarray(np.reshape(query, (len(query), -1)), dtype=np.float64)
    )
    r = torch.from_numpy(
        np.ascontiguousarray(np.reshape(reference, (len(reference), -1)), dtype=np.float64)
    )
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"knn: query has {q.shape[1]} features, reference {r.shape[1]}")
    n_ref = len(r) - int(exclude_self)
    if not 1 <= k <= n_ref:
        raise ValueError(f"knn: k={k} needs 1 <= k <= {n_ref} reference rows")
    m = min(k + 4, n_ref)
    r32 = r.float()
    # bound both the [b, Nr] float32 distances and the [b, m, D] float64 candidate gather
    rows = max(1, chunk_bytes // max(4 * len(r), 8 * m * r.shape[1]))
    dist, index = [], []
    for s in range(0, len(q), rows):
        qc = q[s : s + rows]
        d = torch.cdist(qc.float(), r32)
        if exclude_self:
            d[torch.arange(len(qc)), torch.arange(s, s + len(qc))] = float("inf")
        cand = d.topk(m, dim=1, largest=False).indices  # [b, m]
        exact = (qc[:, None, :] - r[cand]).square().sum(-1).sqrt()  # [b, m] float64
        order = exact.argsort(dim=1)[:, :k]
        dist.append(exact.gather(1, order))
        index.append(cand.gather(1, order))
    return torch.cat(dist).numpy(), torch.cat(index).numpy()


# --------------------------------------------------------------------------- RMSE and PRD
def rmse_prd_per_segment(x, x_hat) -> dict[str, np.ndarray]:
    """Per-segment ``rmse`` (mV), ``prd`` and ``prdn`` (%) of ``x_hat`` against reference ``x``.

    Both ``[N, C, L]``, compared over all channels and samples of a segment.
    prd = 100 ||x - x_hat|| / ||x||; prdn uses ||x - mean(x)|| in the denominator, so it
    does not depend on the baseline offset. Lower is better for all three.
    """
    x, x_hat = check_pair(x, x_hat, "x", "x_hat", same_n=True)
    x = x.reshape(len(x), -1).astype(np.float64)
    err = np.square(x - x_hat.reshape(len(x_hat), -1)).sum(1)
    energy = np.square(x).sum(1)
    centred = np.square(x - x.mean(1, keepdims=True)).sum(1)
    return {
        "rmse": np.sqrt(err / x.shape[1]),
        "prd": 100 * np.sqrt(err / np.maximum(energy, _EPS)),
        "prdn": 100 * np.sqrt(err / np.maximum(centred, _EPS)),
    }


def reconstruction_metrics(x, x_hat) -> dict[str, float]:
    """Mean ``rmse``/``prd``/``prdn`` of reconstructions ``x_hat`` vs ``x`` ([N, C, L]).
    Lower is better."""
    return {k: float(v.mean()) for k, v in rmse_prd_per_segment(x, x_hat).items()}


def nearest_real_metrics(real, generated) -> dict[str, float]:
    """Mean ``rmse``/``prd``/``prdn`` of each generated segment vs its Euclidean-nearest real one.

    A fidelity score (how close each sample lies to some real segment); a generator that
    copies or averages real beats also scores well here, so read it beside diversity and
    memorisation. Lower is better. Cost: one chunked N_gen x N_real distance search.
    """
    real, generated = check_pair(real, generated, "real", "generated")
    _, idx = knn(generated, real, k=1)
    return reconstruction_metrics(real[idx[:, 0]], generated)


# -------------------------------------------------------------------------------------- DTW
def dtw_pairs(a, b, band: int) -> np.ndarray:
    """DTW between paired segments ``a[i]``, ``b[i]`` (both ``[P, C, L]``): ``[P]`` in mV.

    Local cost: squared Euclidean distance across channels; Sakoe-Chiba band of ``band``
    samples. Returns sqrt(minimal accumulated cost / L), i.e. the RMS error after the best
    warping (equal to RMSE when no warping helps). Vectorised over pairs; one NumPy step per
    row of the cost matrix: within a row, D[i, j] = S[j] + cummin_k<=j(E[k] - S[k]) with S the
    running sum of the row's costs and E the cost plus the best of the two moves from row i-1.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    p, _, n = a.shape
    band = int(band)
    if band < 0:
        raise ValueError(f"band: must be >= 0 samples, got {band}")
    # column 0 is j = -1; D[-1, -1] = 0 is the virtual start
    prev = np.full((p, n + 1), np.inf)
    prev[:, 0] = 0.0
    for i in range(n):
        lo, hi = max(0, i - band), min(n - 1, i + band)
        cost = np.square(a[:, :, i, None] - b[:, :, lo : hi + 1]).sum(1)  # [P, W]
        e = cost + np.minimum(prev[:, lo + 1 : hi + 2], prev[:, lo : hi + 1])
        s = np.cumsum(cost, axis=1)
        row = np.full((p, n + 1), np.inf)
        row[:, lo + 1 : hi + 2] = s + np.minimum.accumulate(e - s, axis=1)
        prev = row
    return np.sqrt(prev[:, n] / n)


def nn_dtw(
    real,
    generated,
    band: float = 0.1,
    n_candidates: int = 8,
    max_generated: int = 1000,
    seed: int = 0,
    max_cells: float = 2e8,
) -> np.ndarray:
    """Nearest-neighbour DTW of each generated segment over real candidates: ``[n]`` mV.

    For each generated segment the ``n_candidates`` Euclidean-nearest real segments are the
    candidate set and the smallest DTW to them is kept. Since the diagonal path is inside
    the band, DTW <= Euclidean, so this is an upper bound on the exact NN-DTW that is tight
    when the nearest neighbours agree. ``band``: fraction of L. Random real/generated pairs
    are deliberately not used: their DTW rewards smooth average templates over realistic,
    variable beats. Lower is better.

    Budget: DTW fills n_candidates * L * (2 * band * L + 1) cost cells per generated
    segment, so a seeded subsample of at most ``max_generated`` segments, and fewer (not
    below 10) if that would exceed ``max_cells`` cells (~1 s per 5e7 on 2 cores). Beat
    windows of 256 samples: the 1000 default fits (~4 s); 10 s rhythm windows: ~10.
    """
    real, generated = check_pair(real, generated, "real", "generated")
    if not 0 <= band <= 1:
        raise ValueError(f"band: expected a fraction of the segment length in [0, 1], got {band}")
    length = real.shape[-1]
    width = int(round(band * length))
    k = min(n_candidates, len(real))
    per_segment = k * length * (2 * width + 1)
    n = min(len(generated), max_generated, max(10, int(max_cells // per_segment)))
    rng = np.random.default_rng(seed)
    if len(generated) > n:
        generated = generated[np.sort(rng.choice(len(generated), n, replace=False))]
    _, idx = knn(generated, real, k=k)
    pairs_a = np.repeat(generated, k, axis=0)
    pairs_b = real[idx.reshape(-1)]
    return dtw_pairs(pairs_a, pairs_b, width).reshape(len(generated), k).min(1)


# ------------------------------------------------------------------------- spectra, smoothness
def welch_psd(x, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD per segment and channel: ``(freqs [F], psd [N, C, F])`` in mV^2/Hz.

    Segments of up to 256 samples (one Hann-windowed periodogram for short beat windows),
    mean removed.
    """
    x = check_segments(x, "x")
    nperseg = min(x.shape[-1], 256)
    return welch(
        x.astype(np.float64), fs=check_fs(fs), nperseg=nperseg, axis=-1, detrend="constant"
    )


def psd_distance(real, generated, fs: float) -> float:
    """``psd``: RMS over frequency (DC excluded) and channels of the difference between the
    two sets' mean PSDs in dB. Lower is better (0 for identical spectra)."""
    real, generated = check_pair(real, generated, "real", "generated")
    _, p_real = welch_psd(real, fs)
    _, p_gen = welch_psd(generated, fs)
    m_real, m_gen = p_real.mean(0)[:, 1:], p_gen.mean(0)[:, 1:]
    floor = _EPS * max(m_real.max(), m_gen.max(), _EPS)
    diff = 10 * (np.log10(m_gen + floor) - np.log10(m_real + floor))
    return float(np.sqrt(np.mean(np.square(diff))))


def smoothness_per_segment(x, fs: float, hf_cut: float = 40.0) -> dict[str, np.ndarray]:
    """Per segment: ``hf_energy`` = power above ``hf_cut`` Hz / total power (DC excluded),
    and ``tv`` = total variation sum |x[t+1] - x[t]| per second (mV/s), both channel means."""
    x = check_segments(x, "x")
    f, p = welch_psd(x, fs)
    total = p[..., 1:].sum(-1)
    hf = p[..., f >= hf_cut].sum(-1)
    tv = np.abs(np.diff(x.astype(np.float64), axis=-1)).sum(-1) * fs / x.shape[-1]
    return {"hf_energy": (hf / np.maximum(total, _EPS)).mean(1), "tv": tv.mean(1)}


def smoothness_metrics(real, generated, fs: float, hf_cut: float = 40.0) -> dict[str, float]:
    """``hf_energy_{real,gen,ratio}`` and ``tv_{real,gen,ratio}`` (set means; ratio gen/real,
    1 is best: below 1 the generator is too smooth, above 1 too noisy)."""
    real, generated = check_pair(real, generated, "real", "generated")
    r, g = smoothness_per_segment(real, fs, hf_cut), smoothness_per_segment(generated, fs, hf_cut)
    out = {}
    for key in ("hf_energy", "tv"):
        mr, mg = float(r[key].mean()), float(g[key].mean())
        out |= {f"{key}_real": mr, f"{key}_gen": mg, f"{key}_ratio": mg / max(mr, _EPS)}
    return out


def signal_metrics(
    real,
    generated,
    fs: float,
    seed: int = 0,
    dtw_max_generated: int = 1000,
    dtw_band: float = 0.1,
    hf_cut: float = 40.0,
) -> dict[str, float]:
    """All signal metrics of ``generated`` against ``real`` (both ``[N, C, L]`` mV).

    ``rmse``/``prd``/``prdn``: nearest-real match; ``dtw``: mean NN-DTW (seeded subsample of
    at most ``dtw_max_generated``, see :func:`nn_dtw` for the budget); ``psd``; smoothness
    keys. See the module docstring.
    """
    real, generated = check_pair(real, generated, "real", "generated")
    fs = check_fs(fs)
    out = nearest_real_metrics(real, generated)
    out["dtw"] = float(
        nn_dtw(real, generated, band=dtw_band, max_generated=dtw_max_generated, seed=seed).mean()
    )
    out["psd"] = psd_distance(real, generated, fs)
    return out | smoothness_metrics(real, generated, fs, hf_cut)
