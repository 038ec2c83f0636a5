"""Clinical measures on beats with known geometry, on rhythm windows, and real vs controls."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_beats import FS, LENGTH, R_INDEX

from ecg_synth.data.types import AAMI_CLASSES
from ecg_synth.metrics.clinical import clinical_metrics, measure_beats, measure_rhythm
from ecg_synth.metrics.controls import make_controls


def _triangle(n: int, start: float, peak: float, end: float, height: float) -> np.ndarray:
    return np.interp(np.arange(n), [0, start, peak, end, n - 1], [0, 0, height, 0, 0])


def _known_beat(r: int, qrs: int, pr: int = 45, t_end: int = 130, n: int = LENGTH) -> np.ndarray:
    """Triangle P (peak ``pr`` samples before QRS onset), QRS of ``qrs`` samples peaking at
    ``r``, triangle T ending ``t_end`` samples after QRS offset; baseline 0 mV."""
    onset, offset = r - qrs // 2, r + qrs // 2
    p = onset - pr
    x = _triangle(n, onset, r, offset, 1.2)
    x += _triangle(n, p - 12, p, p + 12, 0.15)
    x += _triangle(n, offset + t_end - 70, offset + t_end - 25, offset + t_end, 0.3)
    return x


def test_qrs_width_r_position_pr_and_qt_of_known_beats():
    widths = np.array([18, 28, 40, 50])  # samples: 50, 78, 111, 139 ms
    offsets = np.array([0, 5, -8, 3])
    x = np.stack([_known_beat(R_INDEX + o, w) for w, o in zip(widths, offsets, strict=True)])[
        :, None
    ]
    x += np.random.default_rng(0).normal(0, 0.005, x.shape)  # recording-like noise
    m = measure_beats(x.astype(np.float32), FS, R_INDEX)
    ms = 1000 / FS
    np.testing.assert_allclose(m["r_offset_ms"], offsets * ms)
    assert (m["r_ok"] == 1).all()
    np.testing.assert_allclose(
        m["qrs_ms"], widths * ms, atol=8.0
    )  # smoothing adds ~1 sample a side
    np.testing.assert_allclose(m["pr_ms"], 45 * ms, atol=6.0)
    np.testing.assert_allclose(m["qt_ms"], (widths + 130) * ms, atol=10.0)
    np.testing.assert_allclose(m["r_amp_mv"], 1.2, atol=0.05)


def test_misplaced_r_peak_is_reported():
    x = np.stack([_known_beat(R_INDEX + 60, 28), _known_beat(R_INDEX + 12, 28)])[:, None]
    m = measure_beats(x, FS, R_INDEX)
    assert m["r_ok"].tolist() == [0.0, 0.0]  # 167 ms away: not found; 33 ms away: found, off
    assert m["r_offset_ms"][1] == pytest.approx(12 * 1000 / FS)


def test_window_too_short_for_pr_and_qt_gives_nan():
    x = _known_beat(40, 28, pr=20, n=120)[None, None]
    m = measure_beats(x, FS, 40)
    assert np.isnan(m["pr_ms"][0]) and np.isnan(m["qt_ms"][0]) and np.isfinite(m["qrs_ms"][0])


def _rhythm(rr_s: float, n: int = 3600, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    beats_t = np.arange(0.4, n / FS, rr_s)
    x = np.zeros(n)
    for b in beats_t:
        for mu, sd, a in [
            (-0.16, 0.02, 0.15),
            (0, 0.01, 1.2),
            (0.025, 0.008, -0.3),
            (0.28, 0.045, 0.3),
        ]:
            x += a * np.exp(-0.5 * ((t - b - mu) / sd) ** 2)
    return (x + rng.normal(0, 0.01, n))[None]


def test_rhythm_windows_heart_rate_by_xqrs():
    x = np.stack([_rhythm(0.75), _rhythm(1.0), _rhythm(0.6)]).astype(np.float32)
    m = measure_rhythm(x, FS)
    np.testing.assert_allclose(m["hr_bpm"], [80, 60, 100], atol=2.0)
    np.testing.assert_allclose(m["rr_std_ms"], 0, atol=6.0)
    assert (m["n_beats"] >= [11, 8, 14]).all()
    assert np.all((m["qrs_ms"] > 30) & (m["qrs_ms"] < 90))
    # a flat generated window has no beats (missing); a noise window has far too many
    flat = np.zeros((1, 1, 3600), dtype=np.float32)
    noise = np.random.default_rng(1).normal(0, 0.05, (1, 1, 3600)).astype(np.float32)
    out = clinical_metrics(x, np.concatenate([flat, noise]), FS, None)
    assert out["hr_bpm_missing_gen"] == 0.5 and out["hr_bpm_missing_real"] == 0.0
    assert out["hr_bpm_in_range"] == 0.0 and out["hr_bpm_median_gen"] > 120
    assert out["plausible_gen"] == 0.0 and out["plausible_real"] > 0  # no beats / too many


def test_clinical_metrics_real_vs_controls(beats):
    train, lt, _ = beats["train"]
    real, lr, _ = beats["heldout"]
    c = make_controls(real, lr, FS, snr_db=10.0, seed=0)
    base = clinical_metrics(train, real, FS, R_INDEX, lt, lr)
    assert {f"qrs_ms_wd_{k}" for k in AAMI_CLASSES} <= set(base)
    assert base["qrs_ms_in_range"] > 0.95 and base["qrs_ms_in_range_N"] > 0.95
    assert base["r_ok_real"] > 0.95 and base["r_ok_gen"] > 0.95
    assert base["qrs_ms_median_real_V"] > 1.5 * base["qrs_ms_median_real_N"]  # V beats are wide
    noisy = clinical_metrics(train, c["noise"], FS, R_INDEX, lt, lr)
    assert noisy["qrs_ms_wd_N"] > 10 * base["qrs_ms_wd_N"] and noisy["qrs_ms_in_range_N"] < 0.5
    assert noisy["qt_ms_wd"] > 10 * base["qt_ms_wd"]
    shifted = clinical_metrics(train, c["shift"], FS, R_INDEX, lt, lr)
    assert shifted["r_ok_gen"] < 0.05
    # plausibility: unseen real beats pass about as often as the reference itself does;
    # noisy (high-frequency energy) and shifted (R out of place) beats mostly fail.
    assert base["plausible_real"] > 0.85
    assert abs(base["plausible_gen"] - base["plausible_real"]) < 0.1
    assert noisy["plausible_gen"] < 0.3 and shifted["plausible_gen"] < 0.05
    assert np.isnan(base["qrs_ms_wd_Q"])  # no Q beats
