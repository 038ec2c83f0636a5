"""Losses against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from ecg_synth.models.components import ConvCritic
from ecg_synth.models.losses import (
    gan_d_loss,
    gan_g_loss,
    gradient_penalty,
    lecam_penalty,
    mode_seeking_loss,
    wgan_d_loss,
    wgan_g_loss,
)

D_REAL = torch.tensor([0.0, 2.0])
D_FAKE = torch.tensor([0.0, -1.0])


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_gan_losses_golden():
    # BCE(x, 1) = softplus(-x), BCE(x, 0) = softplus(x), averaged over the batch.
    real = (math.log(2) + softplus(-2.0)) / 2  # 0.410038
    fake = (math.log(2) + softplus(-1.0)) / 2  # 0.503205
    assert gan_d_loss(D_REAL, D_FAKE).item() == pytest.approx(real + fake, abs=1e-6)
    assert gan_d_loss(D_REAL, D_FAKE).item() == pytest.approx(0.913242, abs=1e-6)
    # non-saturating G: softplus(-x) on the fake logits
    assert gan_g_loss(D_FAKE).item() == pytest.approx((math.log(2) + softplus(1.0)) / 2, abs=1e-6)
    assert gan_g_loss(D_FAKE).item() == pytest.approx(1.003205, abs=1e-6)


def test_gan_d_loss_one_sided_label_smoothing():
    # BCE(x, t) = softplus(x) - t * x: real target 0.9 -> (log 2 + softplus(2) - 1.8) / 2
    real = (math.log(2) + softplus(2.0) - 1.8) / 2
    fake = (math.log(2) + softplus(-1.0)) / 2
    assert gan_d_loss(D_REAL, D_FAKE, real_target=0.9).item() == pytest.approx(
        real + fake, abs=1e-6
    )


def test_wgan_losses_golden():
    d_real, d_fake = torch.tensor([1.0, 3.0]), torch.tensor([0.5, 1.5])
    assert wgan_d_loss(d_real, d_fake).item() == pytest.approx(1.0 - 2.0)
    assert wgan_g_loss(d_fake).item() == pytest.approx(-1.0)


def test_lecam_penalty_golden():
    """Real scores above the fake anchor and fake scores below the real anchor are penalised,
    squared and averaged per side; scores on the other side of their anchor are not."""
    d_real, d_fake = torch.tensor([1.0, 3.0, -2.0]), torch.tensor([0.5, -1.5, 4.0])
    # anchors real 2, fake -1: real side (2^2 + 4^2 + 0) / 3, fake side (1.5^2 + 3.5^2 + 0) / 3
    expected = (4.0 + 16.0) / 3 + (2.25 + 12.25) / 3
    assert lecam_penalty(d_real, d_fake, 2.0, -1.0).item() == pytest.approx(expected)
    # each score's gradient is 2 * its excess / batch size, zero past its anchor
    d_real.requires_grad_(True)
    lecam_penalty(d_real, d_fake, 2.0, -1.0).backward()
    assert torch.allclose(d_real.grad, torch.tensor([4.0, 8.0, 0.0]) / 3)


def test_mode_seeking_loss_golden():
    """Outputs 0.5 apart on average from latents 2 apart: spread 0.25, loss 1 / 0.25 = 4; the
    gradient pushes the outputs of a pair apart."""
    x1 = torch.tensor([[0.0, 1.0], [2.0, 0.0]], requires_grad=True)
    x2 = torch.tensor([[0.5, 0.5], [2.5, 0.5]])  # |x1 - x2| = 0.5 everywhere
    z1, z2 = torch.zeros(2, 3), torch.full((2, 3), 2.0)
    loss = mode_seeking_loss(x1, x2, z1, z2, eps=0.0)
    assert loss.item() == pytest.approx(4.0)
    loss.backward()
    # d loss / d x1 = -(1 / spread^2) * sign(x1 - x2) / (numel * mean|z1 - z2|) = -16 sign / 8
    assert torch.allclose(x1.grad, torch.tensor([[2.0, -2.0], [2.0, 2.0]]))
    # a step against the gradient moves each x1 element away from x2
    assert ((x1 - 0.1 * x1.grad - x2).abs() > (x1 - x2).abs()).all()


def test_gradient_penalty_linear_critic_with_class_term():
    """f(x) = w.x + b[y]: the gradient is w for every sample, so gp = (||w|| - 1)^2 whatever
    the mixing weights and the class term."""
    torch.manual_seed(0)
    w = torch.randn(1, 1, 16)
    w = 3.0 * w / w.norm()  # ||w|| = 3 -> gp = 4
    bias = torch.tensor([5.0, -2.0, 7.0])
    labels = torch.tensor([0, 1, 2, 1])
    critic = lambda x: (x * w).sum(dim=(1, 2)) + bias[labels]  # noqa: E731
    real, fake = torch.randn(4, 1, 16), torch.randn(4, 1, 16)
    gp = gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx(4.0, rel=1e-5)
    assert gp.requires_grad is False  # x only; a critic with parameters gets a graph


def test_gradient_penalty_is_per_sample():
    """f(x) = ||x||^2 / 2 has gradient x: with real = fake (x_hat = real for any eps) of norms
    1 and 3 the penalty is mean((1-1)^2, (3-1)^2) = 2, not (||[g1, g2]|| - 1)^2 = 4.675."""
    real = torch.zeros(2, 1, 4)
    real[0, 0, 0] = 1.0
    real[1, 0, :] = torch.tensor([1.5, 1.5, 1.5, 1.5])  # norm 3
    critic = lambda x: 0.5 * x.square().sum(dim=(1, 2))  # noqa: E731
    gp = gradient_penalty(critic, real, real.clone())
    assert gp.item() == pytest.approx(2.0, rel=1e-6)
    assert gp.item() != pytest.approx((math.sqrt(10) - 1) ** 2, rel=1e-3)


def test_gradient_penalty_uses_given_eps_per_sample():
    """f(x) = ||x||^2 / 2, fake = 0: x_hat_i = eps_i * real_i, norm eps_i * ||real_i||."""
    real = torch.zeros(2, 1, 4)
    real[:, 0, 0] = 4.0
    eps = torch.tensor([0.25, 0.75])  # norms 1 and 3
    gp = gradient_penalty(
        lambda x: 0.5 * x.square().sum(dim=(1, 2)), real, torch.zeros_like(real), eps=eps
    )
    assert gp.item() == pytest.approx(2.0, rel=1e-6)


def test_gradient_penalty_of_the_conv_critic_decouples_samples():
    """With layer norm and a projection term, each sample's gradient depends on that sample
    only: the batch penalty equals the mean of single-sample penalties (same eps)."""
    torch.manual_seed(0)
    critic = ConvCritic(1, 32, [4, 8], 8, 5, "layer", False, "projection", True, True, 5, 3, 4)
    real, fake = torch.randn(3, 1, 32), torch.randn(3, 1, 32)
    labels, subjects = torch.tensor([0, 2, 4]), torch.tensor([1, -1, 0])
    eps = torch.tensor([0.1, 0.5, 0.9])
    batch = gradient_penalty(lambda x: critic(x, labels, subjects), real, fake, eps=eps)
    singles = [
        gradient_penalty(
            lambda x, i=i: critic(x, labels[i : i + 1], subjects[i : i + 1]),
            real[i : i + 1],
            fake[i : i + 1],
            eps=eps[i : i + 1],
        )
        for i in range(3)
    ]
    assert batch.item() == pytest.approx(torch.stack(singles).mean().item(), rel=1e-5)
    batch.backward()  # create_graph=True: the penalty trains the critic
    assert all(p.grad is not None for p in critic.trunk.parameters())


def test_gradient_penalty_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="differ in shape"):
        gradient_penalty(lambda x: x.sum(), torch.zeros(2, 1, 4), torch.zeros(2, 1, 5))
