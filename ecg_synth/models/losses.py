"""Functional GAN losses: pure functions of critic outputs, tested against hand-worked values.

Conventions: ``d_real`` / ``d_fake`` are raw discriminator outputs (logits for the BCE GAN,
unbounded scores for the Wasserstein critic), shape ``[B]`` or ``[B, 1]``. Every loss is a
scalar to *minimise*. Nothing here touches an optimizer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def gan_d_loss(
    d_real: torch.Tensor, d_fake: torch.Tensor, real_target: float = 1.0
) -> torch.Tensor:
    """Discriminator loss of the minimax GAN (Goodfellow et al. 2014) on logits:
    ``BCE(d_real, real_target) + BCE(d_fake, 0)``, each averaged over the batch.
    ``real_target < 1`` is one-sided label smoothing (Salimans et al. 2016)."""
    real = F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, real_target))
    fake = F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    return real + fake


def gan_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``-log sigmoid(d_fake)`` = ``BCE(d_fake, 1)``, averaged."""
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


def wgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Critic loss of the WGAN (Arjovsky et al. 2017): ``mean(d_fake) - mean(d_real)``,
    i.e. minus the Wasserstein estimate (gradient penalty added separately)."""
    return d_fake.mean() - d_real.mean()


def wgan_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Generator loss of the WGAN: ``-mean(d_fake)``."""
    return -d_fake.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    eps: torch.Tensor | None = None,
) -> torch.Tensor:
    """Two-sided gradient penalty of WGAN-GP (Gulrajani et al. 2017, Algorithm 1).

    One mixing weight ``eps ~ U[0, 1]`` *per sample*, ``x_hat = eps * real + (1 - eps) * fake``,
    and one gradient norm per sample: ``mean_i (||d critic(x_hat_i) / d x_hat_i||_2 - 1)^2``.
    (A single norm over the whole batch, as some libraries compute, is a different and much
    weaker constraint.) The graph is kept (``create_graph=True``) so the penalty trains the
    critic.

    critic: maps ``[B, ...]`` to ``[B]`` or ``[B, 1]``; a closure carries any conditioning.
    real, fake: ``[B, ...]``, same shape; ``fake`` should be detached from the generator.
    eps: optional ``[B]`` mixing weights (tests); drawn from the global generator otherwise.
    Returns a scalar tensor in the dtype of ``real``.
    """
    if real.shape != fake.shape:
        raise ValueError(
            f"gradient_penalty: real {tuple(real.shape)} and fake "
            f"{tuple(fake.shape)} differ in shape"
        )
    if eps is None:
        eps = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    eps = eps.to(real).view(-1, *([1] * (real.ndim - 1)))
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return (norms - 1).square().mean()


def lecam_penalty(
    d_real: torch.Tensor,
    d_fake: torch.Tensor,
    anchor_real: torch.Tensor | float,
    anchor_fake: torch.Tensor | float,
) -> torch.Tensor:
    """LeCam regulariser of the critic (Tseng et al. 2021, "Regularizing Generative
    Adversarial Networks under Limited Data"):
    ``mean(relu(d_real - anchor_fake)^2) + mean(relu(anchor_real - d_fake)^2)``, where the
    anchors are moving averages of the critic's mean score on real and on generated beats.

    It pulls each real beat's score down towards where generated beats sit, and each
    generated beat's score up towards where real beats sit, so the critic cannot single out
    individual training beats with scores far above the rest (the authors' account of how a
    critic on little data overfits). One-sided (ReLU) as in the authors' code: a real score
    already under the fake anchor is not pushed further."""
    real = F.relu(d_real.float() - anchor_fake).square().mean()
    fake = F.relu(anchor_real - d_fake.float()).square().mean()
    return real + fake


def mode_seeking_loss(
    x1: torch.Tensor, x2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """Mode-seeking term of the generator (Mao et al. 2019, MSGAN):
    ``1 / (mean|x1 - x2| / mean|z1 - z2| + eps)`` for outputs ``x1``, ``x2`` of the latents
    ``z1``, ``z2`` under the same conditions. Minimising it spreads the outputs of different
    latents apart, against a conditional generator that gives one beat per class whatever
    its latent. Means over the whole batch, as in the authors' code."""
    spread = (x1.float() - x2.float()).abs().mean() / (z1.float() - z2.float()).abs().mean()
    return 1.0 / (spread + eps)
