"""Amplitude normalisation: millivolts <-> model units, with an inverse.

Every mode is stored as one affine map per lead, ``model = (mv - offset) / scale``, so a
checkpoint or an exported model carries three small lists (``to_dict``) and can turn
generated signals back into millivolts without the training data.

Modes (fitted on the training split only):
- ``global``: one map per lead onto [-1, 1] from robust extremes (quantiles ``q`` and
  ``1 - q`` of the training samples); values beyond them are clipped, so the map is
  invertible for everything inside the training range.
- ``zscore``: per-lead mean and standard deviation.
- ``per_beat``: every segment min-max scaled to [-1, 1] on its own. That loses each beat's
  amplitude, so the inverse of *generated* signals uses the median beat's map from the
  training set (documented approximation); real segments keep their own map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

MODES = ("global", "zscore", "per_beat")


@dataclass
class Normalizer:
    mode: str
    offset: np.ndarray  # [C], mV
    scale: np.ndarray  # [C], mV per model unit
    clip: bool = False

    @classmethod
    def fit(cls, signals: np.ndarray, mode: str = "global", q: float = 0.001) -> Normalizer:
        """Fit on training signals ``[N, C, L]`` in mV."""
        if mode not in MODES:
            raise ValueError(f"unknown normalisation mode {mode!r}; expected one of {MODES}")
        if signals.ndim != 3 or len(signals) == 0:
            raise ValueError(
                f"Normalizer.fit needs signals [N, C, L] with N > 0, got {signals.shape}"
            )
        per_lead = np.moveaxis(signals, 1, 0).reshape(signals.shape[1], -1).astype(np.float64)
        if mode == "global":
            lo, hi = np.quantile(per_lead, [q, 1 - q], axis=1)
            offset, scale, clip = (hi + lo) / 2, (hi - lo) / 2, True
        elif mode == "zscore":
            offset, scale, clip = per_lead.mean(axis=1), per_lead.std(axis=1), False
        else:
            lo, hi = signals.min(axis=2), signals.max(axis=2)  # [N, C]
            offset, scale, clip = (
                np.median((hi + lo) / 2, axis=0),
                np.median((hi - lo) / 2, axis=0),
                False,
            )
        scale = np.where(scale > 1e-9, scale, 1.0)
        return cls(mode, np.asarray(offset, np.float64), np.asarray(scale, np.float64), clip)

    def transform(self, signals: np.ndarray) -> np.ndarray:
        """mV ``[N, C, L]`` -> model units (float32)."""
        if self.mode == "per_beat":
            lo = signals.min(axis=2, keepdims=True)
            hi = signals.max(axis=2, keepdims=True)
            half = np.where(hi - lo > 1e-9, (hi - lo) / 2, 1.0)
            return ((signals - (hi + lo) / 2) / half).astype(np.float32)
        out = (signals - self.offset[None, :, None]) / self.scale[None, :, None]
        if self.clip:
            out = np.clip(out, -1.0, 1.0)
        return out.astype(np.float32)

    def inverse(self, x):
        """Model units -> mV; accepts a NumPy array or a torch tensor ``[N, C, L]``."""
        if isinstance(x, torch.Tensor):
            offset = torch.as_tensor(self.offset, dtype=x.dtype, device=x.device)
            scale = torch.as_tensor(self.scale, dtype=x.dtype, device=x.device)
            return x * scale[None, :, None] + offset[None, :, None]
        return x * self.scale[None, :, None] + self.offset[None, :, None]

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "offset": [float(v) for v in self.offset],
            "scale": [float(v) for v in self.scale],
            "clip": bool(self.clip),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Normalizer:
        missing = {"mode", "offset", "scale"} - set(d)
        if missing:
            raise ValueError(f"normaliser description lacks {sorted(missing)}: {d}")
        return cls(
            d["mode"],
            np.asarray(d["offset"], np.float64),
            np.asarray(d["scale"], np.float64),
            bool(d.get("clip", False)),
        )


# rr_features gives 0 s for a record with fewer than two beats; no real RR is this short.
RR_FLOOR_S = 0.1


@dataclass
class RRScaler:
    """RR features ``[N, 3]`` seconds (previous, next, local mean) <-> model units: the log of
    each column, standardised with the training split's mean and sd. Log, because RR is
    positive and prematurity is a ratio (an S beat's previous RR is ~0.7x the local mean);
    a generator's unbounded output then always maps back to a positive interval."""

    mean: np.ndarray  # [3], log seconds
    std: np.ndarray  # [3]

    @classmethod
    def fit(cls, rr: np.ndarray) -> RRScaler:
        rr = np.asarray(rr, dtype=np.float64)
        if rr.ndim != 2 or rr.shape[1] != 3 or len(rr) == 0:
            raise ValueError(f"RRScaler.fit needs rr [N, 3] with N > 0, got shape {rr.shape}")
        log = np.log(np.maximum(rr, RR_FLOOR_S))
        std = log.std(axis=0)
        return cls(log.mean(axis=0), np.where(std > 1e-6, std, 1.0))

    def _params(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        as_t = lambda a: torch.as_tensor(a, dtype=like.dtype, device=like.device)  # noqa: E731
        return as_t(self.mean), as_t(self.std)

    def transform(self, rr: torch.Tensor) -> torch.Tensor:
        """Seconds ``[B, 3]`` -> model units."""
        mean, std = self._params(rr)
        return (torch.log(rr.clamp_min(RR_FLOOR_S)) - mean) / std

    def inverse(self, u: torch.Tensor) -> torch.Tensor:
        """Model units ``[B, 3]`` -> seconds."""
        mean, std = self._params(u)
        return torch.exp(u * std + mean)

    def to_dict(self) -> dict:
        return {"log_mean": [float(v) for v in self.mean], "log_std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, d: dict) -> RRScaler:
        try:
            mean, std = np.asarray(d["log_mean"], np.float64), np.asarray(d["log_std"], np.float64)
        except (KeyError, TypeError) as e:
            raise ValueError(f"RR scaler description needs log_mean and log_std, got {d!r}") from e
        if mean.shape != (3,) or std.shape != (3,) or not (std > 0).all():
            raise ValueError(f"RR scaler description needs 3 means and 3 sds > 0, got {d!r}")
        return cls(mean, std)
