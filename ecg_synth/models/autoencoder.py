"""Stage one of the autoencoder-latent conditional GAN (second seed): a 1-D conv autoencoder.

MSE reconstruction loss in model units, Adam. Logged: ``train/recon_rmse`` (model units),
``val/rmse`` (mV), ``val/prd`` (percentage root-mean-square difference in mV, per segment
``100 * sqrt(sum (x - x_hat)^2 / sum x^2)``, averaged over segments), and, so the shared
checkpoint callback can monitor it too, ``val/fd`` / ``val/mmd`` between real validation
segments and their reconstructions. Select checkpoints on ``val/rmse`` (``monitor``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric

from ecg_synth.models.base import ECGModule, adam, make_scheduler
from ecg_synth.models.components import ConvAutoencoder

DEFAULT_ADAM = {"lr": 1e-3, "betas": [0.9, 0.999], "weight_decay": 0.0}


def prd(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per-segment PRD (%) of ``[N, C, L]`` signals (same units, e.g. mV) -> ``[N]``."""
    err = (x - x_hat).square().flatten(1).sum(1)
    return 100 * (err / x.square().flatten(1).sum(1).clamp_min(1e-12)).sqrt()


class Autoencoder(ECGModule):
    model_kind = "autoencoder"
    monitor = "val/rmse"

    def __init__(
        self,
        data_info: dict,
        latent_dim: int = 32,
        encoder_channels: Sequence[int] = (16, 32, 64, 128),
        decoder_channels: Sequence[int] = (128, 64, 32, 16),
        kernel_size: int = 5,
        latent_activation: str = "tanh",
        optimizer: dict | None = None,
        scheduler: dict | None = None,
        grad_clip: float | None = None,
        val_samples: int = 1024,
    ) -> None:
        super().__init__(data_info, scheduler, grad_clip, val_samples)
        self.save_hyperparameters()
        self._finish_hparams()
        if latent_dim < 1:
            raise ValueError(f"latent_dim={latent_dim} must be >= 1")
        self.latent_dim = int(latent_dim)
        self.optimizer_cfg = optimizer or DEFAULT_ADAM
        self.net = self.build_net(self.hparams)
        self.val_prd = MeanMetric()
        self.val_mse_mv = MeanMetric()

    @staticmethod
    def build_net(hparams: dict) -> ConvAutoencoder:
        """The autoencoder network described by an ``Autoencoder``'s hyperparameters (also how
        the latent GAN rebuilds its frozen copy without the stage-one file)."""
        return ConvAutoencoder.from_hparams(hparams)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``[B, C, L]`` -> ``[B, C, L]`` (model units)."""
        return self.net(x)

    def configure_optimizers(self):
        opt = adam(self.net.parameters(), self.optimizer_cfg, "optimizer")
        if not self.scheduler_cfg:
            return opt
        return [opt], [make_scheduler(opt, self.scheduler_cfg)]

    def training_step(self, batch: dict, batch_idx: int) -> None:
        opt = self.optimizers()
        x = batch["signal"]
        loss = F.mse_loss(self.net(x).float(), x)
        norm = self._step(opt, loss, "loss")
        self.g_steps += 1
        self._step_schedulers("step")
        if self._should_log():
            self._log_train(
                {
                    "loss": loss,
                    "recon_rmse": loss.detach().sqrt(),
                    "grad_norm": norm,
                    "lr": opt.param_groups[0]["lr"],
                }
            )

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        x = batch["signal"]
        x_hat = self.net(x).float()
        x_mv, x_hat_mv = self.to_mv(x), self.to_mv(x_hat)
        self.val_prd.update(prd(x_mv, x_hat_mv))
        self.val_mse_mv.update((x_mv - x_hat_mv).square().flatten(1).mean(1))
        take = self._val_take(len(x), dataloader_idx)
        if take is not None:
            self._val_update(x[take], real=True)
            self._val_update(x_hat[take], real=False)

    def on_validation_epoch_end(self) -> None:
        self.log("val/rmse", self.val_mse_mv.compute().sqrt(), sync_dist=True, prog_bar=True)
        self.log("val/prd", self.val_prd.compute(), sync_dist=True)
        self.val_mse_mv.reset()
        self.val_prd.reset()
        self._val_log()

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """Model-unit segments ``[N, C, L]`` -> reconstructions ``[N, C, L]`` in mV, on CPU
        (eval mode inside, the previous mode restored)."""
        was_training = self.training
        self.eval()
        try:
            out = [
                self.net(x[i : i + batch_size].to(self.device)).float().cpu()
                for i in range(0, len(x), batch_size)
            ]
        finally:
            self.train(was_training)
        return self.to_mv(torch.cat(out) if out else x.new_empty(0, *x.shape[1:]))
