"""RR intervals generated with each beat (the quality issue's item 9).

A single-beat window does not show the beat's rhythm, yet prematurity (a short previous RR
against the local mean) is what tells most S beats from N. With these two pieces a beat
generator also makes the beat's RR features (previous, next, local mean RR, in
``RRScaler`` units) and the critic scores the beat and its RR as one sample.
"""

from __future__ import annotations

import torch
from torch import nn

RR_FEATURES = 3  # previous, next, local mean RR (ecg_synth.data.segment.rr_features)
RR_HIDDEN = 64


class WithRR(nn.Module):
    """``beat(z, cond) -> [B, C, L]`` plus an MLP that reads the same ``z`` and condition:
    ``forward(z, cond) -> (beat [B, C, L], rr [B, 3])``. The two share only their inputs;
    the critic scoring the pair is what makes them agree (an S beat's shape with an S beat's
    short RR)."""

    def __init__(self, beat: nn.Module, in_dim: int, hidden: int = RR_HIDDEN) -> None:
        super().__init__()
        self.beat = beat
        self.rr = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, RR_FEATURES),
        )

    def forward(
        self, z: torch.Tensor, cond: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        zc = z if cond is None else torch.cat([z, cond], dim=1)
        return self.beat(z, cond), self.rr(zc)


def beats_and_rr(out: torch.Tensor | tuple) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A generator's output as ``(beats, rr or None)``, whether or not it makes RR."""
    return out if isinstance(out, tuple) else (out, None)
