"""Fully connected generator and discriminator (the vanilla GAN, and the latent GAN)."""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import torch
from torch import nn


def output_activation(name: str) -> nn.Module:
    """``tanh`` for data in [-1, 1], ``none`` (identity) for unbounded data."""
    if name == "tanh":
        return nn.Tanh()
    if name == "none":
        return nn.Identity()
    raise ValueError(f"output activation {name!r} is not one of ('tanh', 'none')")


def resolve_output(output: str, data_info: dict) -> str:
    """``auto``: tanh when the normaliser maps data into [-1, 1] (global, per_beat), else none."""
    if output == "auto":
        return "none" if data_info["normalizer"]["mode"] == "zscore" else "tanh"
    if output not in ("tanh", "none"):
        raise ValueError(f"output={output!r} is not one of ('auto', 'tanh', 'none')")
    return output


class MLPGenerator(nn.Module):
    """``z [B, z_dim]`` (+ condition ``[B, cond_dim]``, concatenated) -> ``[B, *out_shape]``.

    Linear layers with ReLU (optionally BatchNorm before it), then a linear output layer and
    ``output`` activation.
    """

    def __init__(
        self,
        z_dim: int,
        cond_dim: int,
        hidden: Sequence[int],
        out_shape: Sequence[int],
        batch_norm: bool = False,
        output: str = "tanh",
    ) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        layers: list[nn.Module] = []
        width = z_dim + cond_dim
        for h in hidden:
            layers += [
                nn.Linear(width, h),
                *([nn.BatchNorm1d(h)] if batch_norm else []),
                nn.ReLU(inplace=True),
            ]
            width = h
        layers += [nn.Linear(width, prod(self.out_shape)), output_activation(output)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None:
            z = torch.cat([z, cond], dim=1)
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """``x [B, ...]`` (flattened; + condition ``[B, cond_dim]``, concatenated) -> logits ``[B]``.

    Linear layers with LeakyReLU(0.2) and optional dropout; no sigmoid (losses take logits).
    """

    def __init__(
        self, in_dim: int, cond_dim: int, hidden: Sequence[int], dropout: float = 0.0
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim + cond_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2, inplace=True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        x = x.flatten(1)
        if cond is not None:
            x = torch.cat([x, cond.to(x.dtype)], dim=1)
        return self.net(x).squeeze(1)
