"""Vanilla GAN (Goodfellow et al. 2014) with fully connected networks: the first seed design.

Generator: noise (+ class/subject embedding) -> linear+ReLU layers -> Tanh -> ``[B, C, L]``.
Discriminator: flattened segment (+ embedding) -> linear+LeakyReLU layers -> one logit.
BCE on logits (no sigmoid in D), non-saturating generator loss, Adam; each training batch
trains D once, then G once, on the batch's labels/subjects.
Logged: ``train/loss_d``, ``train/loss_g``, ``train/d_real`` / ``train/d_fake`` (mean D
*probability* sigmoid(logit) on real / fake), gradient norms and learning rates.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ecg_synth.models.base import GenerativeModule
from ecg_synth.models.components import (
    Conditional,
    ConditionEmbedding,
    MLPDiscriminator,
    MLPGenerator,
)
from ecg_synth.models.components.mlp import resolve_output
from ecg_synth.models.losses import gan_d_loss, gan_g_loss

DEFAULT_ADAM = {"lr": 2e-4, "betas": [0.5, 0.999], "weight_decay": 0.0}


class BCEGANModule(GenerativeModule):
    """Training loop of a BCE GAN over ``self.generator`` / ``self.discriminator`` (both
    ``Conditional``) on the "real" rows ``self._real(batch)`` (segments, or latent codes)."""

    def _bce_settings(
        self, real_target: float, optimizer_g: dict | None, optimizer_d: dict | None
    ) -> None:
        if not 0.0 < real_target <= 1.0:
            raise ValueError(f"real_target={real_target} must be in (0, 1]")
        self.real_target = float(real_target)
        self.optimizer_g = optimizer_g or DEFAULT_ADAM
        self.optimizer_d = optimizer_d or DEFAULT_ADAM

    def _real(self, batch: dict) -> torch.Tensor:
        return batch["signal"]

    def configure_optimizers(self):
        return self._gan_optimizers(self.discriminator)

    def training_step(self, batch: dict, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        real = self._real(batch)
        labels, subjects = self._conditions(batch["label"], batch["subject"])
        z = torch.randn(real.shape[0], self.latent_dim, device=self.device)

        # D step: the fakes come without a generator graph, so only D gets gradients.
        with torch.no_grad():
            fake = self.generator(z, labels, subjects)
        d_real = self.discriminator(real, labels, subjects)
        d_fake = self.discriminator(fake, labels, subjects)
        loss_d = gan_d_loss(d_real, d_fake, self.real_target)
        norm_d = self._step(opt_d, loss_d, "loss_d")
        self.d_steps += 1

        with self._frozen(self.discriminator):  # G step: gradients for G only
            z = torch.randn_like(z)  # a fresh draw for G
            d_gen = self.discriminator(self.generator(z, labels, subjects), labels, subjects)
            loss_g = gan_g_loss(d_gen)
            norm_g = self._step(opt_g, loss_g, "loss_g")
        self.g_steps += 1
        self._update_ema(self.generator)
        self._step_schedulers("step")

        if self._should_log():
            self._log_train(
                {
                    "loss_d": loss_d,
                    "loss_g": loss_g,
                    "d_real": torch.sigmoid(d_real.detach().float()).mean(),
                    "d_fake": torch.sigmoid(d_fake.detach().float()).mean(),
                    "grad_norm_d": norm_d,
                    "grad_norm_g": norm_g,
                    "lr_d": opt_d.param_groups[0]["lr"],
                    "lr_g": opt_g.param_groups[0]["lr"],
                }
            )


class GAN(BCEGANModule):
    """Vanilla fully connected GAN; ``condition`` none (the seed) or class / subject."""

    model_kind = "gan"

    def __init__(
        self,
        data_info: dict,
        condition: str = "none",
        z_dim: int = 100,
        embed_dim: int = 16,
        g_hidden: Sequence[int] = (256, 512, 1024),
        g_batch_norm: bool = False,
        d_hidden: Sequence[int] = (1024, 512, 256),
        d_dropout: float = 0.3,
        output: str = "auto",
        real_target: float = 1.0,
        optimizer_g: dict | None = None,
        optimizer_d: dict | None = None,
        scheduler: dict | None = None,
        grad_clip: float | None = None,
        ema: dict | None = None,
        val_samples: int = 1024,
        fixed_samples: int = 40,
        seed: int = 0,
    ) -> None:
        super().__init__(
            data_info, condition, z_dim, ema, scheduler, grad_clip, val_samples, fixed_samples, seed
        )
        self.save_hyperparameters()
        self._finish_hparams()
        self._bce_settings(real_target, optimizer_g, optimizer_d)
        cond = (self.use_class, self.use_subject, self.num_classes, self.num_subjects, embed_dim)
        g_embed, d_embed = ConditionEmbedding(*cond), ConditionEmbedding(*cond)
        self.generator = Conditional(
            MLPGenerator(
                z_dim,
                g_embed.out_dim,
                g_hidden,
                (self.channels, self.length),
                g_batch_norm,
                resolve_output(output, self.data_info),
            ),
            g_embed,
        )
        self.discriminator = Conditional(
            MLPDiscriminator(self.channels * self.length, d_embed.out_dim, d_hidden, d_dropout),
            d_embed,
        )
        self._setup_generative(self.generator)
