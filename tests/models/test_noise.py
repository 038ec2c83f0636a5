"""Measurement noise above the output filter: what it learns from real beats, how the WGAN-GP
fits it when training starts, and that seeds, checkpoints and bad settings behave."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import signal as sps

from ecg_synth.models.components.conv import LowPass
from ecg_synth.models.components.noise import MeasurementNoise
from ecg_synth.models.wgan_gp import WGANGP
from tests.models.conftest import SineData, make_info, trainer

FS, LENGTH, R_INDEX = 360.0, 256, 90


def highband(x: np.ndarray, lowpass: LowPass) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(x)).float()
    return (t - lowpass(t.unsqueeze(2)).squeeze(2)).numpy()


def noisy_beats(n: int, log_mean: float, log_sd: float, lowpass: LowPass) -> np.ndarray:
    """Smooth beats plus noise through a 0.5-40 Hz band-pass (as the data's preprocessing),
    scaled so each segment's level above the filter is ``exp(N(log_mean, log_sd^2))``."""
    rng = np.random.default_rng(0)
    sos = sps.butter(2, [0.5, 40.0], btype="bandpass", fs=FS, output="sos")
    noise = sps.sosfiltfilt(sos, rng.standard_normal((n, 1, LENGTH + 400)), axis=-1)[..., 200:-200]
    level = np.sqrt(np.mean(highband(noise, lowpass) ** 2, axis=-1, keepdims=True))
    target = np.exp(rng.normal(log_mean, log_sd, (n, 1, 1)))
    t = np.arange(LENGTH)
    beat = np.exp(-0.5 * ((t - R_INDEX) / 4.0) ** 2) + 0.3 * np.sin(2 * np.pi * t / LENGTH)
    return beat + noise * target / level


def test_fit_recovers_the_level_distribution_and_the_spectrum_above_the_filter():
    lowpass = LowPass(FS, 30.0)
    real = noisy_beats(3000, -3.0, 0.5, lowpass)
    noise = MeasurementNoise(1, LENGTH)
    noise.fit(torch.from_numpy(real).float(), lowpass, FS, R_INDEX)
    mu, sd = noise.log_level[0].tolist()
    assert abs(mu - (-3.0)) < 0.05 and abs(sd - 0.5) < 0.05

    made = noise(torch.randn(3000, noise.latent_dim, generator=torch.Generator().manual_seed(1)))
    after_qrs = slice(R_INDEX + 36, None)
    f, p_real = sps.welch(highband(real, lowpass)[..., after_qrs], fs=FS, nperseg=64, axis=-1)
    _, p_made = sps.welch(made.numpy()[..., after_qrs], fs=FS, nperseg=64, axis=-1)
    p_real, p_made = p_real.mean(axis=0)[0], p_made.mean(axis=0)[0]
    assert 0.9 < p_made.sum() / p_real.sum() < 1.1
    # Within 10 dB of the peak (where the real residual has its energy) the spectra agree to
    # 2 dB; the filter's steep edge below is blurred by the 64-sample Welch estimate.
    band = p_real > p_real.max() / 10
    assert f[band].min() > 25 and f[band].max() < 80
    assert np.abs(10 * np.log10(p_made[band] / p_real[band])).max() < 2.0
    # Below the filter, where the generator draws the beat, the noise adds next to nothing.
    assert p_made[f < 20].sum() < 0.01 * p_made.sum()


def test_an_unfitted_noise_adds_nothing_and_the_latent_fixes_the_draws():
    noise = MeasurementNoise(2, 64)
    assert noise.latent_dim == 2 * 65 and not noise.fitted
    assert torch.equal(noise(torch.randn(3, noise.latent_dim)), torch.zeros(3, 2, 64))
    real = torch.from_numpy(noisy_beats(200, -4.0, 0.3, LowPass(FS, 30.0))[..., :64]).float()
    noise.fit(real.repeat(1, 2, 1), LowPass(FS, 30.0), FS, 10)
    e = torch.randn(4, noise.latent_dim)
    assert noise.fitted and torch.equal(noise(e), noise(e))
    louder = e.clone()
    louder[:, 0] += 1.0  # lead 0's level draw: lead 0 scales by exp(sd), lead 1 is untouched
    ratio = noise(louder)[:, 0] / noise(e)[:, 0]
    torch.testing.assert_close(ratio, torch.full_like(ratio, float(noise.log_level[0, 1].exp())))
    assert torch.equal(noise(louder)[:, 1], noise(e)[:, 1])


def test_fit_names_what_is_wrong():
    noise, lowpass = MeasurementNoise(1, 64), LowPass(FS, 30.0)
    with pytest.raises(ValueError, match=r"segments \[N, 1, 64\], got \[5, 2, 64\]"):
        noise.fit(torch.zeros(5, 2, 64), lowpass, FS, 20)
    with pytest.raises(ValueError, match="R peak at 30 leave 0 samples outside"):
        noise.fit(torch.zeros(5, 1, 64), lowpass, FS, 30)
    with pytest.raises(ValueError, match="taps=8"):
        MeasurementNoise(1, 64, taps=8)


def small_noisy_wgan(**kw) -> WGANGP:
    return WGANGP(
        make_info(128),
        z_dim=8,
        g_channels=[16, 8],
        d_channels=[8, 16],
        d_feat_dim=16,
        val_samples=32,
        fixed_samples=10,
        output_lowpass_hz=30.0,
        measurement_noise=True,
        **kw,
    )


def test_training_fits_the_noise_once_and_checkpoints_carry_it(tmp_path):
    model = small_noisy_wgan(generate_rr=True, ema={"enabled": True, "decay": 0.9})
    assert model.latent_dim == 8 + 129 and model.fixed_z.shape == (10, 137)
    data = SineData(length=128)
    fit_trainer = trainer(tmp_path, max_steps=4, limit_val_batches=0)
    fit_trainer.fit(model, datamodule=data)
    noise, ema_noise = model.generator.noise, model.ema.module.noise
    assert noise.fitted and torch.equal(noise.kernel, ema_noise.kernel)
    assert torch.equal(noise.log_level, ema_noise.log_level)

    # The beats carry the noise: with the noise's own draws zeroed, sampling changes.
    x, rr = model.sample(16, seed=3, with_rr=True)
    assert x.shape == (16, 1, 128) and rr.shape == (16, 3)
    assert torch.equal(x, model.sample(16, seed=3))
    z = torch.randn(16, model.latent_dim, generator=torch.Generator().manual_seed(0))
    quiet = z.clone()
    quiet[:, 8:] = 0.0
    labels = torch.zeros(16, dtype=torch.long)
    model.eval()
    with torch.no_grad():
        loud, _ = model.generator(z, labels, None)
        calm, _ = model.generator(quiet, labels, None)
    high = highband((loud - calm).numpy(), LowPass(FS, 30.0))
    assert (loud - calm).abs().max() > 0 and np.mean(high**2) > 0.5 * np.mean(
        (loud - calm).numpy() ** 2
    )

    path = tmp_path / "noisy.ckpt"
    fit_trainer.save_checkpoint(path)
    restored = WGANGP.load_from_checkpoint(path, weights_only=True)
    assert torch.equal(restored.generator.noise.kernel, noise.kernel)
    assert torch.equal(restored.sample(16, seed=3), x)

    # Training on: the fitted noise is kept, not refitted from other data.
    model.train()
    marker = noise.log_level.clone() + 0.25
    noise.log_level.copy_(marker)
    trainer(tmp_path, max_steps=6, limit_val_batches=0).fit(
        model, datamodule=SineData(128, length=128)
    )
    assert torch.equal(model.generator.noise.log_level, marker)


def test_bad_noise_settings_are_refused_with_the_key_named():
    with pytest.raises(ValueError, match="needs model.output_lowpass_hz"):
        WGANGP(make_info(128), measurement_noise=True)
    with pytest.raises(ValueError, match="measurement_noise must be true or false, got 'yes'"):
        WGANGP(make_info(128), output_lowpass_hz=30.0, measurement_noise="yes")
    rhythm = {**make_info(128), "r_index": None}
    with pytest.raises(ValueError, match="R peak"):
        WGANGP(rhythm, output_lowpass_hz=30.0, measurement_noise=True)
    with pytest.raises(ValueError, match="measurement_noise=false"):
        WGANGP(make_info(128)).fit_measurement_noise(torch.zeros(4, 1, 128))


def test_training_without_a_datamodule_says_how_to_fit_the_noise(tmp_path):
    from torch.utils.data import DataLoader

    from tests.models.conftest import _Rows, sine_batch

    model = small_noisy_wgan()
    loader = DataLoader(_Rows(**sine_batch(32, 128)), batch_size=16)
    with pytest.raises(RuntimeError, match=r"fit_measurement_noise\(signals\) before trainer.fit"):
        trainer(tmp_path, max_steps=1, limit_val_batches=0).fit(model, train_dataloaders=loader)
