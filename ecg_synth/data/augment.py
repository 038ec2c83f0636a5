"""Random between-patient variation of real training beats (``dataset.augment``).

Why: generators and classifiers are scored on patients they never saw (inter-patient). A
generator fitted to the training patients' beats sits on them: after 72 epochs its beats were
closer to the training set than unseen patients' beats are, and both the embedding distance
and the synthetic-trained classifier got worse on held-out patients while fitting improved.
Varying the real beats the way patients differ from one another (lead gain, QRS/QT duration,
baseline level) teaches the generator a broader distribution than the 12 training patients.
Ablation: bench/RESULTS.md, "Between-patient augmentation".

Applied to training batches only, on their device, after normalisation (the datamodule's
``on_after_batch_transfer``); the random draws use torch's global generator, which the seed
and the RNG-state callback make reproducible across a resume.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from ecg_synth.data.wfdb_io import DataError

FIELDS = ("amplitude_sd", "time_scale", "baseline_mv")


class BeatAugment:
    """``x`` (model units, ``[B, C, L]``) -> a randomly varied copy, per beat:

    - gain ``exp(N(0, amplitude_sd))`` on the millivolt signal (all leads alike);
    - time stretch by a factor uniform in ``1 +- time_scale`` about the R peak (``r_index``;
      the window centre when None), linear interpolation, edges held;
    - a constant baseline offset ``N(0, baseline_mv)`` mV.

    ``offset`` / ``scale`` are the normaliser's per-lead map (``model = (mV - offset) /
    scale``); with ``clip`` the result is clipped to [-1, 1] like the normalised data.
    """

    def __init__(
        self,
        offset,
        scale,
        r_index: int | None,
        length: int,
        clip: bool,
        amplitude_sd: float = 0.0,
        time_scale: float = 0.0,
        baseline_mv: float = 0.0,
    ) -> None:
        for name, value in zip(FIELDS, (amplitude_sd, time_scale, baseline_mv), strict=True):
            if not value >= 0:
                raise DataError(f"dataset.augment.{name}={value}: must be >= 0")
        if time_scale >= 0.5:
            raise DataError(f"dataset.augment.time_scale={time_scale}: must be below 0.5")
        self.offset = torch.as_tensor(offset, dtype=torch.float32).view(1, -1, 1)
        self.scale = torch.as_tensor(scale, dtype=torch.float32).view(1, -1, 1)
        self.center = float(length // 2 if r_index is None else r_index)
        self.clip = bool(clip)
        self.amplitude_sd, self.time_scale, self.baseline_mv = (
            float(amplitude_sd),
            float(time_scale),
            float(baseline_mv),
        )

    @staticmethod
    def check_config(cfg: Mapping) -> None:
        unknown = sorted(set(cfg) - set(FIELDS))
        if unknown:
            raise DataError(f"dataset.augment: unknown keys {unknown}; expected {list(FIELDS)}")

    @classmethod
    def from_config(
        cls, cfg: Mapping | None, normalizer, r_index: int | None, length: int
    ) -> BeatAugment | None:
        """The augmenter of a ``dataset.augment`` mapping, or None when it changes nothing."""
        cfg = dict(cfg or {})
        cls.check_config(cfg)
        if not any(float(cfg.get(k, 0.0)) for k in FIELDS):
            return None
        return cls(normalizer.offset, normalizer.scale, r_index, length, normalizer.clip, **cfg)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        b, dev = x.shape[0], x.device
        offset, scale = self.offset.to(dev, x.dtype), self.scale.to(dev, x.dtype)
        mv = x * scale + offset
        if self.time_scale:
            mv = self._stretch(mv)
        if self.amplitude_sd:
            mv = mv * torch.exp(torch.randn(b, 1, 1, device=dev) * self.amplitude_sd)
        if self.baseline_mv:
            mv = mv + torch.randn(b, 1, 1, device=dev) * self.baseline_mv
        out = (mv - offset) / scale
        return out.clamp(-1.0, 1.0) if self.clip else out

    def _stretch(self, mv: torch.Tensor) -> torch.Tensor:
        """Sample ``t`` of the output reads the input at ``center + (t - center) / s``."""
        b, c, n = mv.shape
        s = 1.0 + (torch.rand(b, 1, device=mv.device) * 2.0 - 1.0) * self.time_scale
        t = torch.arange(n, device=mv.device, dtype=mv.dtype).view(1, n)
        src = self.center + (t - self.center) / s  # [B, L], input sample positions
        grid_x = src / (n - 1) * 2.0 - 1.0  # align_corners=True coordinates
        grid = torch.stack([grid_x, torch.zeros_like(grid_x)], dim=-1).view(b, 1, n, 2)
        out = F.grid_sample(
            mv.unsqueeze(2), grid.to(mv.dtype), align_corners=True, padding_mode="border"
        )
        return out.squeeze(2)
