"""Whole-record preprocessing: zero-phase filters and resampling (NumPy/SciPy only).

Applied to complete records before segmentation, so filter transients appear once at the
record's ends (where edge beats are dropped anyway) instead of in every beat. All
functions take ``x`` of shape ``[..., n_samples]`` and filter along the last axis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from fractions import Fraction

import numpy as np
from scipy import ndimage, signal

from ecg_synth.data.types import Record

PREPROCESS_KEYS = ("bandpass", "notch", "smooth", "target_fs")


def bandpass(
    x: np.ndarray,
    fs: float,
    low_hz: float | None = 0.5,
    high_hz: float | None = 40.0,
    order: int = 2,
) -> np.ndarray:
    """Zero-phase Butterworth band-pass (``sosfiltfilt``); ``low_hz`` removes baseline
    wander, ``high_hz`` muscle noise. Either may be ``None`` for a high- or low-pass."""
    nyq = fs / 2
    if low_hz is None and high_hz is None:
        raise ValueError("preprocess.bandpass: set low_hz, high_hz or both")
    if low_hz is not None and not 0 < low_hz < nyq:
        raise ValueError(f"preprocess.bandpass.low_hz={low_hz} must be in (0, {nyq}) at fs={fs}")
    if high_hz is not None and not 0 < high_hz < nyq:
        raise ValueError(f"preprocess.bandpass.high_hz={high_hz} must be in (0, {nyq}) at fs={fs}")
    if low_hz is not None and high_hz is not None and low_hz >= high_hz:
        raise ValueError(f"preprocess.bandpass: low_hz={low_hz} must be below high_hz={high_hz}")
    if low_hz is None:
        sos = signal.butter(order, high_hz, btype="lowpass", fs=fs, output="sos")
    elif high_hz is None:
        sos = signal.butter(order, low_hz, btype="highpass", fs=fs, output="sos")
    else:
        sos = signal.butter(order, [low_hz, high_hz], btype="bandpass", fs=fs, output="sos")
    return signal.sosfiltfilt(sos, x, axis=-1)


def notch(x: np.ndarray, fs: float, freq_hz: float = 60.0, quality: float = 30.0) -> np.ndarray:
    """Zero-phase power-line notch (``iirnotch`` + ``filtfilt``)."""
    if not 0 < freq_hz < fs / 2:
        raise ValueError(f"preprocess.notch.freq_hz={freq_hz} must be in (0, {fs / 2}) at fs={fs}")
    b, a = signal.iirnotch(freq_hz, quality, fs=fs)
    return signal.filtfilt(b, a, x, axis=-1)


def smooth(x: np.ndarray, window: int = 5) -> np.ndarray:
    """Centred moving average over ``window`` samples (odd windows keep peaks in place)."""
    if int(window) < 1:
        raise ValueError(f"preprocess.smooth.window={window} must be >= 1")
    return ndimage.uniform_filter1d(x, size=int(window), axis=-1, mode="nearest")


def resample(
    x: np.ndarray, ann_samples: np.ndarray, fs: float, target_fs: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Polyphase resampling to ``target_fs``; annotation sample indices are rescaled with it.

    Returns ``(x [..., n'], ann_samples [m] int64, target_fs)``.
    """
    if target_fs <= 0:
        raise ValueError(f"preprocess.target_fs={target_fs} must be positive")
    ratio = Fraction(float(target_fs) / float(fs)).limit_denominator(1000)
    if abs(float(ratio) * fs - target_fs) > 1e-6 * target_fs:
        raise ValueError(f"preprocess.target_fs={target_fs}: no small rational ratio to fs={fs}")
    if ratio == 1:
        return x, ann_samples, float(fs)
    y = signal.resample_poly(x, ratio.numerator, ratio.denominator, axis=-1)
    new = np.rint(np.asarray(ann_samples) * (ratio.numerator / ratio.denominator)).astype(np.int64)
    return y, np.clip(new, 0, y.shape[-1] - 1), float(target_fs)


def preprocess_record(record: Record, cfg: Mapping | None) -> Record:
    """Apply the ``preprocess`` config (each step switched by ``enabled``) to a record."""
    cfg = dict(cfg or {})
    unknown = set(cfg) - set(PREPROCESS_KEYS)
    if unknown:
        raise ValueError(f"preprocess: unknown keys {sorted(unknown)}; expected {PREPROCESS_KEYS}")
    x, fs, samples = record.signal, record.fs, record.ann_samples
    bp, nt, sm = (dict(cfg.get(k) or {}) for k in ("bandpass", "notch", "smooth"))
    if bp.pop("enabled", False):
        x = bandpass(x, fs, **bp)
    if nt.pop("enabled", False):
        x = notch(x, fs, **nt)
    if sm.pop("enabled", False):
        x = smooth(x, **sm)
    if cfg.get("target_fs"):
        x, samples, fs = resample(x, samples, fs, float(cfg["target_fs"]))
    return replace(record, signal=x, fs=fs, ann_samples=samples)
