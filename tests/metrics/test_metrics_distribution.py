"""Learned embedding and distribution distances: floors, controls, the time-shift blind spot."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from synthetic_beats import FS, R_INDEX

from ecg_synth.metrics.controls import make_controls
from ecg_synth.metrics.distribution import (
    distribution_metrics,
    embedding_metrics,
    fd,
    fd_with_sd,
    mmd,
    prdc,
    waveform_metrics,
)
from ecg_synth.metrics.embedding import (
    EncoderConfig,
    embed,
    fingerprint,
    load_encoder,
    load_or_train_encoder,
    train_encoder,
)


def _global_stats(x):
    """The per-segment statistics other suites compare (mean, variance, skewness, kurtosis)."""
    x = x[:, 0].astype(np.float64)
    return np.stack([x.mean(1), x.var(1), stats.skew(x, axis=1), stats.kurtosis(x, axis=1)], 1)


@pytest.fixture(scope="module")
def embedded(beats, encoder):
    real, labels, _ = beats["heldout"]
    sets = {"train": beats["train"][0], "heldout": real, "resample": beats["resample"][0]}
    sets |= make_controls(real, labels, FS, snr_db=10.0, seed=0)
    return sets, {k: embed(encoder, v) for k, v in sets.items()}


def test_identical_sets_give_the_floor(embedded):
    _, emb = embedded
    out = distribution_metrics(emb["heldout"], emb["heldout"])
    assert abs(out["fd"]) < 1e-6
    assert abs(out["mmd"]) < 2e-3  # unbiased estimator: ~ -1/n, never clipped
    assert out["precision"] == out["recall"] == out["coverage"] == 1.0


def test_resample_is_near_and_controls_are_far(embedded):
    _, emb = embedded
    base = distribution_metrics(emb["train"], emb["resample"])
    assert base["precision"] > 0.9 and base["recall"] > 0.9 and base["coverage"] > 0.6
    assert 0.8 < base["density"] < 1.2
    for name in ("noise", "shift", "template", "template_noise"):
        out = distribution_metrics(emb["train"], emb[name])
        assert out["fd"] > 20 * base["fd"], name
        assert out["mmd"] > 0.01 and out["mmd"] > 20 * abs(base["mmd"]), name
        assert out["coverage"] < 0.3, name  # none of them covers the real modes


def test_time_shift_is_invisible_to_global_statistics_but_not_to_our_fd(embedded):
    sets, emb = embedded
    train, real, shifted = sets["train"], sets["heldout"], sets["shift"]
    # a 167 ms circular shift leaves every global statistic exactly as it was ...
    assert fd(_global_stats(train), _global_stats(shifted)) == pytest.approx(
        fd(_global_stats(train), _global_stats(real))
    )
    # ... while the embedding and the binned waveform features move far beyond the floor
    assert fd(emb["train"], emb["shift"]) > 50 * fd(emb["train"], emb["heldout"])
    wave_real, wave_shift = waveform_metrics(train, real), waveform_metrics(train, shifted)
    assert wave_shift["fd_wave"] > 50 * wave_real["fd_wave"]
    assert wave_shift["mmd_wave"] > 0.1 > abs(wave_real["mmd_wave"])


def test_fd_sd_matches_the_spread_of_fd_over_fresh_samples_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(1000, 8))

    def fake(n):  # a generator that is off by 0.3 in every dimension and 20 % too wide
        return rng.normal(0.3, 1.2, size=(n, 8))

    def fd_sd(*args, **kwargs):
        return fd_with_sd(*args, **kwargs)[1]

    # what fd_sd estimates from one candidate set: FD's sd over fresh candidate sets
    fresh = [fd(real, fake(500)) for _ in range(60)]
    estimate = fd_sd(real, fake(500), n_boot=40, seed=1)
    assert 0.6 < estimate / np.std(fresh, ddof=1) < 1.6
    big = fd_sd(real, fake(4000), n_boot=40, seed=1)
    assert big < estimate / 1.6  # 8x the candidates: about 1/sqrt(8) of the noise
    again = fake(500)
    assert fd_sd(real, again, seed=3) == fd_sd(real, again, seed=3)  # seeded
    assert fd_with_sd(real, again)[0] == pytest.approx(fd(real, again), rel=1e-12)
    with pytest.raises(ValueError, match="n_boot >= 2"):
        fd_with_sd(real, again, n_boot=1)


@pytest.mark.parametrize("metric", [fd, fd_with_sd, mmd, prdc])
def test_sets_with_other_feature_counts_are_refused_naming_both(metric):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="candidate: 6 features per row, reference has 8"):
        metric(rng.normal(size=(40, 8)), rng.normal(size=(40, 6)))


def test_mmd_is_unbiased_float64_and_uses_the_reference_bandwidth():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    vals = [mmd(a, rng.normal(size=(400, 8)), seed=s) for s in range(5)]
    assert min(vals) < 0 < max(vals) or abs(np.mean(vals)) < 2e-3  # centred on 0, unclipped
    assert mmd(a, b + 1.0) > 0.1
    # the kernel depends on the reference only: a constant candidate far away gives
    # k(b, b) = 1, k(a, b) = 0, so MMD^2 = mean off-diagonal k(a, a) + 1 (torch takes the
    # lower middle value as the median, hence rel=1e-5)
    sq = np.square(a[:, None] - a[None]).sum(-1)
    k_aa = np.exp(-sq / np.median(sq[np.triu_indices(400, 1)]))
    assert mmd(a, np.full((400, 8), 100.0)) == pytest.approx(
        (k_aa.sum() - 400) / (400 * 399) + 1.0, rel=1e-5
    )


def test_prdc_on_a_hand_made_case():
    # reals on a line 0..9; fakes: two inside the real support, two far away
    real = np.arange(10.0)[:, None]
    fake = np.array([[2.2], [6.5], [100.0], [103.0], [106.0], [109.0], [112.0]])
    out = prdc(real, fake, k=5)
    assert out["precision"] == pytest.approx(2 / 7)
    assert out["coverage"] == pytest.approx(1.0)  # every real ball (radius >= 3) holds a fake
    # fake balls: 5-NN radii of the two inner fakes reach the far cluster: they cover all reals
    assert out["recall"] == pytest.approx(1.0)


def test_encoder_is_deterministic_cached_and_checks_its_input(beats, encoder, encoder_cache):
    x, y, g = beats["train"]
    cfg = EncoderConfig(epochs=4)
    key = fingerprint(x, y, g, FS, R_INDEX, cfg)
    path = encoder_cache / f"encoder-{key}.safetensors"
    assert path.is_file()
    loaded = load_encoder(path)
    np.testing.assert_array_equal(embed(loaded, x[:50]), embed(encoder, x[:50]))
    again = load_or_train_encoder(
        x, y, g, fs=FS, r_index=R_INDEX, cache_dir=encoder_cache, config=cfg
    )
    np.testing.assert_array_equal(embed(again, x[:50]), embed(encoder, x[:50]))
    # another window config is another key; same data and seed train to the same weights
    assert fingerprint(x, y, g, FS, R_INDEX + 1, cfg) != key
    small = EncoderConfig(epochs=1, max_train=400)
    w1, w2 = train_encoder(x, y, g, small).state_dict(), train_encoder(x, y, g, small).state_dict()
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    with pytest.raises(ValueError, match="x: segments of shape"):
        embed(encoder, x[:, :1])
    with pytest.raises(ValueError, match="labels"):
        train_encoder(x, y[:-1], g, small)


def test_embedding_metrics_wraps_embed(beats, encoder):
    real = beats["heldout"][0]
    out = embedding_metrics(encoder, beats["train"][0], real)
    assert set(out) == {"fd", "fd_sd", "mmd", "precision", "recall", "density", "coverage"}
    assert all(isinstance(v, float) and np.isfinite(v) for v in out.values())
