"""Signal metrics: RMSE/PRD by hand, DTW against a plain DP, NN-DTW, PSD and smoothness."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_beats import FS

from ecg_synth.metrics.controls import add_noise, class_templates
from ecg_synth.metrics.signal import (
    dtw_pairs,
    knn,
    nearest_real_metrics,
    nn_dtw,
    psd_distance,
    reconstruction_metrics,
    signal_metrics,
    smoothness_metrics,
)


def test_rmse_prd_hand_worked():
    x = np.array([[[3.0, 4.0, 0.0, 0.0]]], dtype=np.float32)
    x_hat = np.array([[[3.0, 4.0, 1.0, 1.0]]], dtype=np.float32)
    out = reconstruction_metrics(x, x_hat)
    # squared error 2 over 4 samples; energy 25; centred energy 12.75 (mean 1.75)
    assert out["rmse"] == pytest.approx(np.sqrt(2 / 4))
    assert out["prd"] == pytest.approx(100 * np.sqrt(2 / 25))
    assert out["prdn"] == pytest.approx(100 * np.sqrt(2 / 12.75))
    assert reconstruction_metrics(x, x) == {"rmse": 0.0, "prd": 0.0, "prdn": 0.0}


def test_nearest_real_matches_each_generated_segment_to_its_closest_real_one():
    rng = np.random.default_rng(0)
    real = rng.normal(0, 1, (50, 2, 64)).astype(np.float32)
    gen = real[::-1][:20] + np.float32(0.1)  # every generated row = a real row + 0.1 mV
    out = nearest_real_metrics(real, gen)
    assert out["rmse"] == pytest.approx(0.1, rel=1e-4)


def test_knn_is_exact_and_excludes_self():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(300, 40))
    q = np.concatenate([ref[:5], rng.normal(size=(20, 40))])
    d, i = knn(q, ref, k=3)
    brute = np.linalg.norm(q[:, None] - ref[None], axis=-1)
    np.testing.assert_allclose(d, np.sort(brute, axis=1)[:, :3], rtol=1e-12, atol=1e-12)
    assert (d[:5, 0] == 0).all() and (i[:5, 0] == np.arange(5)).all()
    d_self, i_self = knn(ref, ref, k=1, exclude_self=True)
    assert (i_self[:, 0] != np.arange(300)).all() and (d_self > 0).all()


def _dtw_reference(a, b, band):
    n = a.shape[-1]
    acc = np.full((n + 1, n + 1), np.inf)
    acc[0, 0] = 0
    for i in range(1, n + 1):
        for j in range(max(1, i - band), min(n, i + band) + 1):
            cost = np.square(a[:, i - 1] - b[:, j - 1]).sum()
            acc[i, j] = cost + min(acc[i - 1, j], acc[i, j - 1], acc[i - 1, j - 1])
    return np.sqrt(acc[n, n] / n)


@pytest.mark.parametrize("band", [0, 1, 4, 25])
def test_dtw_matches_plain_dynamic_programme(band):
    rng = np.random.default_rng(band)
    a, b = rng.normal(size=(6, 2, 25)), rng.normal(size=(6, 2, 25))
    expected = [_dtw_reference(a[i], b[i], band) for i in range(6)]
    np.testing.assert_allclose(dtw_pairs(a, b, band), expected, rtol=1e-10)


def test_dtw_band_zero_is_rmse_and_warping_absorbs_a_small_shift():
    t = np.linspace(0, 1, 200)
    a = np.exp(-0.5 * ((t - 0.5) / 0.03) ** 2)[None, None]
    b = np.roll(a, 6, axis=-1)
    rmse = np.sqrt(np.mean((a - b) ** 2))
    assert dtw_pairs(a, b, 0)[0] == pytest.approx(rmse)
    assert dtw_pairs(a, b, 10)[0] < 0.1 * rmse


def test_nn_dtw_ranks_real_beats_above_a_smooth_template_where_random_pairs_do_not(beats):
    """Random-pair DTW prefers the class-mean template (it is central to every pair);
    nearest-neighbour DTW prefers held-out real beats, which lie next to real ones."""
    train, _, _ = beats["train"]
    real, labels, _ = beats["heldout"]
    template = class_templates(real, labels)
    rng = np.random.default_rng(0)
    partners = train[rng.choice(len(train), 300)]
    random_real = dtw_pairs(real[:300], partners, 26).mean()
    random_template = dtw_pairs(template[:300], partners, 26).mean()
    assert random_template < random_real
    assert (
        nn_dtw(train, real, max_generated=300).mean()
        < nn_dtw(train, template, max_generated=300).mean()
    )


def test_psd_and_smoothness_see_noise_and_oversmoothing(beats):
    real, _, _ = beats["heldout"]
    train, _, _ = beats["train"]
    assert psd_distance(real, real, FS) == 0.0
    noisy = add_noise(real, 10.0, np.random.default_rng(0))
    kernel = np.ones(9) / 9
    smooth = np.apply_along_axis(lambda s: np.convolve(s, kernel, mode="same"), -1, real).astype(
        np.float32
    )
    floor = psd_distance(train, real, FS)
    assert psd_distance(train, noisy, FS) > 10 * floor
    s_noisy, s_smooth = smoothness_metrics(train, noisy, FS), smoothness_metrics(train, smooth, FS)
    assert s_noisy["hf_energy_ratio"] > 3 and s_noisy["tv_ratio"] > 2
    assert s_smooth["hf_energy_ratio"] < 0.3 and s_smooth["tv_ratio"] < 0.9
    s_real = smoothness_metrics(train, real, FS)
    assert s_real["hf_energy_ratio"] == pytest.approx(1, abs=0.1)
    assert s_real["tv_ratio"] == pytest.approx(1, abs=0.05)


def test_signal_metrics_keys_and_floor(beats):
    real, _, _ = beats["heldout"]
    out = signal_metrics(real, real, FS, dtw_max_generated=100)
    assert {"rmse", "prd", "prdn", "dtw", "psd", "hf_energy_ratio", "tv_ratio"} <= set(out)
    assert out["rmse"] == out["prd"] == out["dtw"] == out["psd"] == 0.0
    assert all(isinstance(v, float) for v in out.values())
