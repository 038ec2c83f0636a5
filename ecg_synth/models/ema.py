"""Exponential moving average of generator weights (Karras et al. 2018; Yazici et al. 2019)."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def ema_warmup_multi_avg_fn(decay: float):
    """``AveragedModel`` update ``ema += (1 - d) * (current - ema)`` with a warm-up
    ``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates (as TensorFlow's
    ExponentialMovingAverage with ``num_updates``). ``torch.optim.swa_utils.get_ema_multi_avg_fn``
    uses ``decay`` from the first step, so a short run's average would stay close to the
    initial weights; the warm-up tracks early training and reaches ``decay`` later."""

    @torch.no_grad()
    def update(
        ema: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor
    ) -> None:
        n = float(n_averaged)
        d = min(decay, (1.0 + n) / (10.0 + n))
        if torch.is_floating_point(ema[0]):
            torch._foreach_lerp_(ema, current, 1.0 - d)
        else:  # integer buffers (BatchNorm's num_batches_tracked) follow the model
            for e, c in zip(ema, current, strict=True):
                e.copy_(c)

    return update


def make_ema(module: nn.Module, decay: float) -> AveragedModel:
    """A frozen copy of ``module`` whose weights *and buffers* (BatchNorm running statistics)
    follow the warm-up EMA above on every ``update_parameters(module)``; the first update
    copies the weights. Its state (``module.*``, ``n_averaged``) is part of the owner's
    ``state_dict``, so checkpoints carry it."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"ema.decay={decay} must be in (0, 1)")
    ema = AveragedModel(module, multi_avg_fn=ema_warmup_multi_avg_fn(decay), use_buffers=True)
    ema.requires_grad_(False)
    return ema
