"""The generators' fixed output low-pass: what it passes, what it stops, and its errors."""

from __future__ import annotations

import math

import pytest
import torch

from ecg_synth.models.components.conv import LowPass, output_lowpass

FS = 360.0


def tone(hz: float, length: int = 720) -> torch.Tensor:
    t = torch.arange(length) / FS
    return torch.sin(2 * math.pi * hz * t).view(1, 1, 1, length)


def gain_db(f: LowPass, hz: float) -> float:
    x = tone(hz)
    y = f(x)[..., 100:-100]  # away from the reflected edges
    return 20 * math.log10(y.square().mean().sqrt() / x[..., 100:-100].square().mean().sqrt())


def test_passes_the_ecg_band_and_stops_high_frequencies():
    f = LowPass(FS, 40.0)
    assert abs(gain_db(f, 5.0)) < 0.1  # QRS energy lives below ~30 Hz
    assert gain_db(f, 60.0) < -40 and gain_db(f, 120.0) < -40  # mains and noise
    x = torch.randn(3, 2, 1, 256)
    assert f(x).shape == x.shape
    assert torch.allclose(f(torch.full((1, 1, 1, 256), 0.7)), torch.tensor(0.7), atol=1e-5)


def test_no_filter_by_default_and_clear_errors():
    assert output_lowpass(None, {"fs": FS}) is None
    with pytest.raises(ValueError, match="output_lowpass_hz=200.*Nyquist frequency 180 Hz"):
        output_lowpass(200.0, {"fs": FS})
    with pytest.raises(ValueError, match="taps=8"):
        LowPass(FS, 40.0, taps=8)


def test_the_filter_is_not_a_checkpoint_key():
    f = LowPass(FS, 40.0)
    assert f.state_dict() == {} and f.kernel.shape == (1, 1, 1, 63)
