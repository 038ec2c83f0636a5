"""Control sets built from real held-out segments, to report every metric beside them.

Each control is a known kind of bad generator; a metric that cannot tell it from real data
is blind to that failure. All take and return ``[N, C, L]`` float32 mV with the input's row
order, so the input labels still apply.

- ``noise``: real + white Gaussian noise at ``snr_db`` (per segment and lead, against the
  segment's own variance): a noisy but otherwise perfect generator.
- ``shift``: real shifted later in time by ``shift`` samples (default 167 ms, 60 samples at
  360 Hz), circularly by default: right waves in the wrong place, with every amplitude
  statistic (mean, variance, skewness, kurtosis, spectrum magnitude) exactly as real, so
  only a metric that sees timing can tell. ``mode="edge"`` holds the edge sample instead.
- ``template``: every segment replaced by its class mean: total mode collapse.
- ``template_noise``: class mean + noise at ``snr_db``: a collapsed generator that hides its
  collapse behind variance.
"""

from __future__ import annotations

import numpy as np

from ecg_synth.metrics.signal import check_fs, check_labels, check_segments

SHIFT_S = 0.167


def add_noise(x, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` plus white Gaussian noise of power var(x) / 10^(snr_db / 10), per segment and lead."""
    x = check_segments(x, "x").astype(np.float64)
    if not np.isfinite(snr_db):
        raise ValueError(f"snr_db: expected a finite number of dB, got {snr_db!r}")
    sigma = np.sqrt(x.var(axis=-1, keepdims=True) / 10 ** (snr_db / 10))
    return (x + sigma * rng.standard_normal(x.shape)).astype(np.float32)


def time_shift(x, shift: int, mode: str = "roll") -> np.ndarray:
    """Shift every segment by ``shift`` samples (positive: later). ``mode="roll"`` wraps the
    end around to the start (a seam, but global statistics unchanged); ``"edge"`` repeats
    the edge sample into the gap."""
    x = check_segments(x, "x")
    length = x.shape[-1]
    if not -length < shift < length:
        raise ValueError(f"shift: expected |shift| < segment length {length}, got {shift}")
    if mode == "roll":
        idx = (np.arange(length) - int(shift)) % length
    elif mode == "edge":
        idx = np.clip(np.arange(length) - int(shift), 0, length - 1)
    else:
        raise ValueError(f"mode: expected 'roll' or 'edge', got {mode!r}")
    return np.ascontiguousarray(x[..., idx], dtype=np.float32)


def class_templates(x, labels) -> np.ndarray:
    """Every segment replaced by the mean of its class (classes seen in ``labels`` only)."""
    x = check_segments(x, "x")
    labels = check_labels(labels, len(x), "labels")
    out = np.empty(x.shape, dtype=np.float32)
    for c in np.unique(labels):
        out[labels == c] = x[labels == c].mean(0, dtype=np.float64)
    return out


def make_controls(
    x, labels, fs: float, snr_db: float = 10.0, shift: int | None = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """All controls of held-out real ``x [N, C, L]`` with AAMI ``labels [N]``:
    ``{"noise", "shift", "template", "template_noise"}`` -> ``[N, C, L]`` float32 mV.
    ``shift`` defaults to round(0.167 s * fs). Deterministic given ``seed``."""
    x = check_segments(x, "x")
    fs = check_fs(fs)
    shift = int(round(SHIFT_S * fs)) if shift is None else int(shift)
    rng = np.random.default_rng(seed)
    template = class_templates(x, labels)
    return {
        "noise": add_noise(x, snr_db, rng),
        "shift": time_shift(x, shift),
        "template": template,
        "template_noise": add_noise(template, snr_db, rng),
    }
