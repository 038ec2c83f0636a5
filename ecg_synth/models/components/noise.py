"""Measurement noise shaped like the real data's own, above a generator's output filter.

Why: a generator whose output is low-passed (``components.conv.LowPass``) makes beats with no
energy above the cutoff, where every real beat carries a little noise (muscle, electrode),
shaped by the preprocessing band-pass. The plausibility check reads that energy, and a
detector finds white noise at once (bench/RESULTS.md, "Noise shaped like the data's own").
``MeasurementNoise`` gives the beats that missing band back: Gaussian noise coloured by an FIR
with the spectrum of the real training beats' residual above the filter, at a level per
segment and lead drawn from the log-normal those beats' residual levels follow. Both are
fitted once on the training split (``fit``) and stored as buffers, so checkpoints and
exports carry them.

The draws are part of the latent: per segment ``C * (L + 1)`` standard normal values beyond
``z`` (one level draw and ``L`` white samples per lead), so one seed fixes beat and noise,
and an export replays both.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import signal as sps
from torch import nn

from ecg_synth.models.components.rhythm import beats_and_rr

NOISE_TAPS = 63  # the colouring FIR; ~6 Hz resolution at 360 Hz
QRS_HALF_WIDTH_S = 0.1  # residual near the R peak is the QRS's own high band, not noise


class MeasurementNoise(nn.Module):
    """``e [B, C * (L + 1)]`` standard normal -> noise ``[B, C, L]`` in model units.

    Lead ``c``: ``exp(mu_c + sd_c * e_level) * (kernel_c (*) white)``, with ``kernel_c`` of
    unit energy (white in, unit variance out) and circular convolution (white noise has no
    edges). Until ``fit`` the kernel is zero, so an unfitted model adds nothing.
    """

    def __init__(self, channels: int, length: int, taps: int = NOISE_TAPS) -> None:
        super().__init__()
        if taps < 3 or taps % 2 == 0:
            raise ValueError(f"noise taps={taps}: expected an odd number >= 3")
        self.channels, self.length = int(channels), int(length)
        self.register_buffer("kernel", torch.zeros(channels, 1, taps))
        self.register_buffer("log_level", torch.zeros(channels, 2))  # per lead: mean, sd

    @property
    def latent_dim(self) -> int:
        return self.channels * (self.length + 1)

    @property
    def fitted(self) -> bool:
        return bool(self.kernel.abs().sum() > 0)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        c, n = self.channels, self.length
        mu, sd = self.log_level[:, 0], self.log_level[:, 1]
        level = torch.exp(mu + sd * e[:, :c])  # [B, C]
        white = e[:, c:].reshape(-1, c, n)
        pad = self.kernel.shape[-1] // 2
        coloured = F.conv1d(F.pad(white, (pad, pad), mode="circular"), self.kernel, groups=c)
        return level.unsqueeze(-1) * coloured

    @torch.no_grad()
    def fit(self, signals: torch.Tensor, lowpass: nn.Module, fs: float, r_index: int) -> None:
        """Fit on real training segments ``[N, C, L]`` (model units): the residual
        ``x - lowpass(x)`` away from the QRS (R +- 0.1 s) gives the level distribution (log of
        each segment's rms, per lead) and the spectrum (Welch over the longest QRS-free
        stretch, averaged over segments) that the kernel is designed to (``firwin2``)."""
        x = signals.float()
        if x.ndim != 3 or x.shape[1:] != (self.channels, self.length):
            raise ValueError(
                f"noise fit needs segments [N, {self.channels}, {self.length}], got {list(x.shape)}"
            )
        if len(x) < 2:
            raise ValueError(f"noise fit needs at least 2 training segments, got {len(x)}")
        residual = (x - lowpass(x.unsqueeze(2)).squeeze(2)).double().numpy()
        half = round(QRS_HALF_WIDTH_S * fs)
        stretches = [residual[..., : max(0, r_index - half)], residual[..., r_index + half :]]
        off_qrs = np.concatenate(stretches, axis=-1)
        if off_qrs.shape[-1] < 16:
            raise ValueError(
                f"noise fit: segments of {self.length} samples with the R peak at {r_index} "
                f"leave {off_qrs.shape[-1]} samples outside R +- {QRS_HALF_WIDTH_S} s; need 16"
            )
        rms = np.sqrt(np.mean(off_qrs**2, axis=-1))  # [N, C]
        log_rms = np.log(np.maximum(rms, 1e-12))
        longest = max(stretches, key=lambda s: s.shape[-1])
        freqs, psd = sps.welch(longest, fs=fs, nperseg=min(64, longest.shape[-1]), axis=-1)
        gain = np.sqrt(np.maximum(psd.mean(axis=0), 0.0))  # [C, F]
        taps = self.kernel.shape[-1]
        kernels = []
        for g in gain:
            k = sps.firwin2(taps, freqs, g / max(g.max(), 1e-30), fs=fs)
            kernels.append(k / max(math.sqrt(np.sum(k**2)), 1e-30))
        self.kernel.copy_(torch.from_numpy(np.stack(kernels)).float().unsqueeze(1))
        stats = np.stack([log_rms.mean(axis=0), log_rms.std(axis=0)], axis=1)
        self.log_level.copy_(torch.from_numpy(stats).float())


class WithNoise(nn.Module):
    """``generator(z, labels, subjects)`` plus ``MeasurementNoise`` on its beats: called with
    the latent ``[B, z_dim + noise.latent_dim]``, the first ``z_dim`` columns go to the
    generator, the rest to the noise. Returns what the generator returns (beats, or beats and
    RR), the beats with the noise added."""

    def __init__(self, generator: nn.Module, noise: MeasurementNoise) -> None:
        super().__init__()
        self.generator = generator
        self.noise = noise

    @property
    def noise_dim(self) -> int:
        return self.noise.latent_dim

    def forward(
        self,
        latent: torch.Tensor,
        labels: torch.Tensor | None = None,
        subjects: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        z, e = latent[:, : -self.noise_dim], latent[:, -self.noise_dim :]
        beats, rr = beats_and_rr(self.generator(z, labels, subjects))
        beats = beats + self.noise(e).to(beats.dtype)
        return beats if rr is None else (beats, rr)


def with_measurement_noise(generator: nn.Module, enabled: bool, data_info: dict) -> nn.Module:
    """The generator, wrapped in ``WithNoise`` when the model adds measurement noise."""
    if not enabled:
        return generator
    return WithNoise(generator, MeasurementNoise(len(data_info["leads"]), int(data_info["length"])))
