"""WGAN-GP (Gulrajani et al. 2017) with a 1-D convolutional generator and critic.

Critic steps and real batches: every training batch is one critic step on its own real batch
(Algorithm 1 draws a fresh real minibatch per critic iteration), and after every
``n_critic``-th critic step comes one generator step on fresh noise with the same batch's
conditions. So one epoch is ``len(train_loader)`` critic steps and ``len // n_critic``
generator steps; ``global_step`` counts both (Lightning counts optimizer steps).

Gradient penalty: per-sample mixing weight and per-sample gradient norm
(``ecg_synth.models.losses.gradient_penalty``), computed in float32 with autocast disabled
even under ``precision="bf16-mixed"``: a second-order gradient in bfloat16 (8 bits of mantissa)
makes ``||grad|| - 1`` too coarse to steer the critic.

Conditioning (``condition``): class and/or subject embeddings concatenated to z in the
generator (with ``g_cond_norm``, z and the embeddings also set every generator block's norm
gain and bias); in the critic a projection term (Miyato & Koyama 2018, ``critic_conditioning:
projection``) or embeddings as extra input channels (``concat``).
Class head (``aux_class_weight > 0``, AC-GAN, Odena et al. 2017): a linear classifier on the
critic's features learns the class of the *real* beats (cross-entropy added to the critic
loss), and the generator is also asked to make beats that it recognises as the requested class.
The projection term only says "real or not, given the class"; the head says "which class".
It trains on real beats only, so it never learns the generator's beats as a class. Off in the
presets: on MIT-BIH it lowered val/fd but not the classifier scores (bench/RESULTS.md).
RR with each beat (``generate_rr``, ``components.rhythm``): the generator also gives the beat's
RR features (previous, next, local mean RR; ``RRScaler`` units), the critic scores the beat and
its RR together, and the gradient penalty is taken over both (one sample = beat + RR).
Measurement noise (``measurement_noise``, ``components.noise``): with an output low-pass, the
beats get back noise shaped like the training beats' own above the filter, fitted on the
training split when the fit starts; its draws extend the latent (``latent_dim``), and the
critic sees the noisy beats.
LeCam regulariser (``lecam_weight > 0``, Tseng et al. 2021, ``losses.lecam_penalty``): the
critic's scores are held near moving averages (``lecam_decay``) of its mean score on the other
kind of beat, so it cannot push single training beats far above the rest (meant against a
critic that overfits a small training set; bench/RESULTS.md has what it did here).
Mode seeking (``mode_seeking_weight > 0``, Mao et al. 2019, ``losses.mode_seeking_loss``): each
generator step draws two latents for each of the batch's first half of conditions, and the
generator is also asked to keep the two beats of a pair as far apart as their latents are.

Logged: ``train/loss_d`` (critic loss incl. penalty), ``train/loss_g``, ``train/wdist``
(mean critic(real) - mean critic(fake)), ``train/gp``, ``train/d_real`` / ``train/d_fake``
(mean critic *scores*), gradient norms and learning rates; with the class head
``train/aux_real`` / ``train/aux_fake`` (its cross-entropy on real / generated beats); with
the LeCam regulariser ``train/lecam`` (its value, before the weight); with mode seeking
``train/mode_seeking`` (its value, before the weight).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ecg_synth.models.base import GenerativeModule
from ecg_synth.models.components import Conditional, ConditionEmbedding, ConvCritic, ConvGenerator
from ecg_synth.models.components.conv import output_lowpass
from ecg_synth.models.components.mlp import resolve_output
from ecg_synth.models.components.noise import with_measurement_noise
from ecg_synth.models.components.rhythm import WithRR, beats_and_rr
from ecg_synth.models.losses import (
    gradient_penalty,
    lecam_penalty,
    mode_seeking_loss,
    wgan_d_loss,
    wgan_g_loss,
)

log = logging.getLogger(__name__)

# Adam(lr=1e-4, beta1=0, beta2=0.9): the paper's defaults.
DEFAULT_ADAM = {"lr": 1e-4, "betas": [0.0, 0.9], "weight_decay": 0.0}


class WGANGP(GenerativeModule):
    model_kind = "wgan_gp"

    def __init__(
        self,
        data_info: dict,
        condition: str = "class",
        z_dim: int = 64,
        embed_dim: int = 16,
        g_channels: Sequence[int] = (64, 32, 16, 8),
        g_kernel_size: int = 5,
        g_norm: str = "batch",
        g_residual: bool = False,
        g_cond_norm: bool = False,
        d_channels: Sequence[int] = (16, 32, 64, 128),
        d_kernel_size: int = 5,
        d_norm: str = "layer",
        d_feat_dim: int = 128,
        d_minibatch_std: int = 0,
        spectral_norm: bool = False,
        critic_conditioning: str = "projection",
        output: str = "auto",
        output_lowpass_hz: float | None = None,
        measurement_noise: bool = False,
        n_critic: int = 5,
        gp_weight: float = 10.0,
        aux_class_weight: float = 0.0,
        lecam_weight: float = 0.0,
        lecam_decay: float = 0.99,
        mode_seeking_weight: float = 0.0,
        generate_rr: bool = False,
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
        if int(n_critic) != n_critic or n_critic < 1:
            raise ValueError(f"n_critic={n_critic} must be an integer >= 1")
        if gp_weight < 0:
            raise ValueError(f"gp_weight={gp_weight} must be >= 0")
        if aux_class_weight < 0:
            raise ValueError(f"aux_class_weight={aux_class_weight} must be >= 0")
        if lecam_weight < 0:
            raise ValueError(f"lecam_weight={lecam_weight} must be >= 0")
        if mode_seeking_weight < 0:
            raise ValueError(f"mode_seeking_weight={mode_seeking_weight} must be >= 0")
        if not 0.0 <= lecam_decay < 1.0:
            raise ValueError(f"lecam_decay={lecam_decay} must be in [0, 1)")
        if int(d_minibatch_std) != d_minibatch_std or d_minibatch_std < 0 or d_minibatch_std == 1:
            raise ValueError(
                f"d_minibatch_std={d_minibatch_std} must be 0 (off) or a group size >= 2"
            )
        if aux_class_weight > 0 and not self.use_class:
            raise ValueError(
                f"aux_class_weight={aux_class_weight} needs a class-conditioned model "
                f"(condition={condition!r})"
            )
        self.n_critic = int(n_critic)
        self.gp_weight = float(gp_weight)
        self.aux_class_weight = float(aux_class_weight)
        self.lecam_weight, self.lecam_decay = float(lecam_weight), float(lecam_decay)
        self.mode_seeking_weight = float(mode_seeking_weight)
        if self.lecam_weight > 0:  # mean critic score on real, on generated beats; checkpointed
            self.register_buffer("lecam_anchors", torch.zeros(2))
        self.optimizer_g = optimizer_g or DEFAULT_ADAM
        self.optimizer_d = optimizer_d or DEFAULT_ADAM
        if not isinstance(generate_rr, bool):
            raise ValueError(f"generate_rr must be true or false, got {generate_rr!r}")
        if generate_rr:
            self.rr_scaler = self._rr_scaler_from_info()
        if not isinstance(measurement_noise, bool):
            raise ValueError(f"measurement_noise must be true or false, got {measurement_noise!r}")
        if measurement_noise and (
            output_lowpass_hz is None or self.data_info.get("r_index") is None
        ):
            raise ValueError(
                "measurement_noise=true adds the real beats' noise above the output filter: "
                f"it needs model.output_lowpass_hz (got {output_lowpass_hz}) and beat segments "
                f"with an R peak (data_info r_index={self.data_info.get('r_index')})"
            )
        if measurement_noise and mode_seeking_weight > 0:
            # The noise draws extend the latent (C * (L + 1) values against z_dim), so a pair's
            # latent and beat distances would measure the noise, not the generator's modes.
            raise ValueError(
                f"mode_seeking_weight={mode_seeking_weight} with measurement_noise=true: the "
                "noise draws would dominate the pair distances; use one of the two"
            )
        cond = (self.use_class, self.use_subject, self.num_classes, self.num_subjects)
        g_embed = ConditionEmbedding(*cond, embed_dim)
        beat = ConvGenerator(
            z_dim,
            self.channels,
            self.length,
            g_channels,
            g_kernel_size,
            g_norm,
            g_residual,
            resolve_output(output, self.data_info),
            g_embed.out_dim,
            output_lowpass(output_lowpass_hz, self.data_info),
            g_cond_norm,
        )
        self.generator = with_measurement_noise(
            Conditional(WithRR(beat, z_dim + g_embed.out_dim) if generate_rr else beat, g_embed),
            measurement_noise,
            self.data_info,
        )
        self.critic = ConvCritic(
            self.channels,
            self.length,
            d_channels,
            d_feat_dim,
            d_kernel_size,
            d_norm,
            spectral_norm,
            critic_conditioning,
            *cond,
            embed_dim,
            self.num_classes if self.aux_class_weight > 0 else 0,
            generate_rr,
            int(d_minibatch_std),
        )
        self._setup_generative(self.generator)

    def on_fit_start(self) -> None:
        """Fit the measurement noise on the datamodule's training split, once: a resumed run
        restores it from the checkpoint."""
        if not self.hparams.measurement_noise or self.generator.noise.fitted:
            return
        dm = self.trainer.datamodule
        if dm is None or not callable(getattr(dm, "signals", None)):
            raise RuntimeError(
                "measurement_noise=true fits the noise on the training segments: train with a "
                "datamodule that has signals('train') (ECGDataModule), or call "
                "fit_measurement_noise(signals) before trainer.fit"
            )
        self.fit_measurement_noise(dm.signals("train"))

    def fit_measurement_noise(self, signals: torch.Tensor) -> None:
        """Fit the noise (``components.noise``) on real training segments ``[N, C, L]`` in
        model units, in the generator and its EMA copy."""
        if not self.hparams.measurement_noise:
            raise ValueError("this model was built with measurement_noise=false")
        info = self.data_info
        lowpass = output_lowpass(self.hparams.output_lowpass_hz, info)
        for gen in [self.generator] + ([self.ema.module] if self.ema is not None else []):
            gen.noise.fit(signals.cpu(), lowpass, float(info["fs"]), int(info["r_index"]))
        mu, sd = self.generator.noise.log_level[0].tolist()
        log.info("measurement noise fitted: log rms level ~ N(%.2f, %.2f^2) model units", mu, sd)

    def configure_optimizers(self):
        return self._gan_optimizers(self.critic)

    def penalty(
        self, real: torch.Tensor, fake: torch.Tensor, labels, subjects, real_rr=None, fake_rr=None
    ) -> torch.Tensor:
        """Per-sample gradient penalty in float32 (autocast off), conditioned like the batch.
        With RR, one sample is the beat and its RR: both are interpolated with the same
        weight and the gradient norm is taken over both (packed into one vector)."""
        with torch.autocast(device_type=self.device.type, enabled=False):
            if real_rr is None:
                return gradient_penalty(
                    lambda x: self.critic(x, labels, subjects), real.float(), fake.float()
                )
            shape, size = real.shape[1:], real[0].numel()
            pack = lambda x, rr: torch.cat([x.float().flatten(1), rr.float()], 1)  # noqa: E731

            def critic(v: torch.Tensor) -> torch.Tensor:
                return self.critic(v[:, :size].view(-1, *shape), labels, subjects, v[:, size:])

            return gradient_penalty(critic, pack(real, real_rr), pack(fake, fake_rr))

    def lecam(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        """Move the anchors towards this batch's mean scores (the first critic step sets
        them), averaged over DDP ranks so that every rank holds the same anchors; then the
        LeCam penalty against them."""
        means = torch.stack([d_real.detach().float().mean(), d_fake.detach().float().mean()])
        means = self.trainer.strategy.reduce(means, reduce_op="mean")
        if self.d_steps == 0:
            self.lecam_anchors.copy_(means)
        else:
            self.lecam_anchors.lerp_(means, 1.0 - self.lecam_decay)
        return lecam_penalty(d_real, d_fake, self.lecam_anchors[0], self.lecam_anchors[1])

    def training_step(self, batch: dict, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        real = batch["signal"]
        real_rr = self.rr_scaler.transform(batch["rr"]) if self.makes_rr else None
        labels, subjects = self._conditions(batch["label"], batch["subject"])
        n = real.shape[0]

        # Critic step: the fakes come without a generator graph, so only the critic (and the
        # penalty's interpolates) get gradients.
        with torch.no_grad():
            z = torch.randn(n, self.latent_dim, device=self.device)
            fake, fake_rr = beats_and_rr(self.generator(z, labels, subjects))
        phi_real = self.critic.features(real, labels, subjects, real_rr)
        d_real = self.critic.score(phi_real, labels, subjects)
        d_fake = self.critic(fake, labels, subjects, fake_rr)
        gp = self.penalty(real, fake, labels, subjects, real_rr, fake_rr)
        loss_d = wgan_d_loss(d_real, d_fake) + self.gp_weight * gp
        if self.aux_class_weight > 0:
            aux_real = F.cross_entropy(self.critic.classify(phi_real).float(), labels)
            loss_d = loss_d + self.aux_class_weight * aux_real
        if self.lecam_weight > 0:
            lecam = self.lecam(d_real, d_fake)
            loss_d = loss_d + self.lecam_weight * lecam
        norm_d = self._step(opt_d, loss_d, "loss_d")
        self.d_steps += 1
        log = self._should_log()
        if log:
            metrics = {
                "loss_d": loss_d,
                "wdist": (d_real.mean() - d_fake.mean()).detach(),
                "gp": gp.detach(),
                "d_real": d_real.detach().mean(),
                "d_fake": d_fake.detach().mean(),
                "grad_norm_d": norm_d,
                "lr_d": opt_d.param_groups[0]["lr"],
            }
            if self.aux_class_weight > 0:
                metrics["aux_real"] = aux_real.detach()
            if self.lecam_weight > 0:
                metrics["lecam"] = lecam.detach()

        if self.d_steps % self.n_critic == 0:
            with self._frozen(self.critic):  # generator step: gradients for G only
                h = n // 2 if self.mode_seeking_weight > 0 else 0
                if h:  # two latents for each of the batch's first h conditions
                    n = 2 * h
                    labels, subjects = (_first_half_twice(c, h) for c in (labels, subjects))
                z = torch.randn(n, self.latent_dim, device=self.device)
                fake, fake_rr = beats_and_rr(self.generator(z, labels, subjects))
                phi_fake = self.critic.features(fake, labels, subjects, fake_rr)
                loss_g = wgan_g_loss(self.critic.score(phi_fake, labels, subjects))
                if h:
                    mode_seeking = mode_seeking_loss(fake[:h], fake[h:], z[:h], z[h:])
                    loss_g = loss_g + self.mode_seeking_weight * mode_seeking
                if self.aux_class_weight > 0:
                    aux_fake = F.cross_entropy(self.critic.classify(phi_fake).float(), labels)
                    loss_g = loss_g + self.aux_class_weight * aux_fake
                norm_g = self._step(opt_g, loss_g, "loss_g")
            self.g_steps += 1
            self._update_ema(self.generator)
            self._step_schedulers("step")
            if log:
                metrics.update(loss_g=loss_g, grad_norm_g=norm_g, lr_g=opt_g.param_groups[0]["lr"])
                if self.aux_class_weight > 0:
                    metrics["aux_fake"] = aux_fake.detach()
                if h:
                    metrics["mode_seeking"] = mode_seeking.detach()
        if log:
            self._log_train(metrics)


def _first_half_twice(condition: torch.Tensor | None, h: int) -> torch.Tensor | None:
    """The first ``h`` conditions, then the same again: rows i and i + h match."""
    return None if condition is None else condition[:h].repeat(2)
