"""Fixed, training-free features of ECG segments, for cheap distribution distances.

Used by the validation metric that selects checkpoints during training. They see shape
and timing (the waveform pooled into bins, so a shifted QRS moves between bins), high
frequency content (pooled first differences) and amplitude statistics.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def waveform_features(x: torch.Tensor, bins: int = 32) -> torch.Tensor:
    """``[B, C, L]`` segments -> ``[B, C * (bins + bins // 2 + 2)]`` features (float64)."""
    if x.ndim != 3:
        raise ValueError(f"waveform_features expects [B, C, L], got shape {tuple(x.shape)}")
    x = x.double()
    shape = F.adaptive_avg_pool1d(x, bins)
    slope = F.adaptive_avg_pool1d(x.diff(dim=-1).abs(), bins // 2)
    stats = torch.stack([x.std(dim=-1), x.amax(dim=-1) - x.amin(dim=-1)], dim=-1)
    return torch.cat([shape, slope, stats], dim=-1).flatten(1)
