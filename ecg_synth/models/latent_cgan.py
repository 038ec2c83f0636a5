"""Stage two of the autoencoder-latent conditional GAN (second seed).

A frozen stage-one autoencoder (``autoencoder_ckpt``) encodes real segments to latent codes;
an MLP conditional GAN (BCE, as ``gan.py``) learns the codes' distribution per subject
and/or class; generated codes are decoded to ECG. The seed conditions on subject
(``condition: subject``); any of none / class / subject / class+subject works.

Self-contained checkpoints: on first construction the autoencoder's hyperparameters are
copied into this model's (``autoencoder_hparams``) and its weights become part of this
state_dict, so ``load_model(latent_ckpt)`` rebuilds and samples without the stage-one file.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ecg_synth.models.autoencoder import Autoencoder
from ecg_synth.models.components import (
    Conditional,
    ConditionEmbedding,
    MLPDiscriminator,
    MLPGenerator,
)
from ecg_synth.models.gan import BCEGANModule
from ecg_synth.models.registry import read_checkpoint


def check_same_data(ae_info: dict, info: dict, path: str | None) -> None:
    """The autoencoder must have been trained on segments of the same shape and units."""
    where = f"autoencoder_ckpt {path}" if path else "the stored autoencoder"
    for key in ("length", "leads"):
        if ae_info[key] != info[key]:
            raise ValueError(
                f"{where} was trained with {key}={ae_info[key]!r}, this dataset has "
                f"{key}={info[key]!r}"
            )
    a, b = ae_info["normalizer"], info["normalizer"]
    same = a["mode"] == b["mode"] and all(
        np.allclose(a[k], b[k], rtol=1e-6, atol=1e-9) for k in ("offset", "scale")
    )
    if not same:
        raise ValueError(
            f"{where} was trained with normaliser {a}, this dataset's is {b}: "
            "latent codes would not match the data's units"
        )


class LatentCGAN(BCEGANModule):
    model_kind = "latent_cgan"

    def __init__(
        self,
        data_info: dict,
        autoencoder_ckpt: str | None = None,
        condition: str = "class",
        z_dim: int = 64,
        embed_dim: int = 16,
        g_hidden: Sequence[int] = (256, 256),
        g_batch_norm: bool = True,
        d_hidden: Sequence[int] = (256, 256),
        d_dropout: float = 0.0,
        real_target: float = 1.0,
        optimizer_g: dict | None = None,
        optimizer_d: dict | None = None,
        scheduler: dict | None = None,
        grad_clip: float | None = None,
        ema: dict | None = None,
        val_samples: int = 1024,
        fixed_samples: int = 40,
        seed: int = 0,
        autoencoder_hparams: dict | None = None,
    ) -> None:
        super().__init__(
            data_info, condition, z_dim, ema, scheduler, grad_clip, val_samples, fixed_samples, seed
        )
        self.save_hyperparameters()
        self._finish_hparams()
        self._bce_settings(real_target, optimizer_g, optimizer_d)

        ae_state = None
        if autoencoder_hparams is None:  # first construction: read stage one
            if not autoencoder_ckpt or autoencoder_ckpt == "???":
                raise ValueError(
                    "autoencoder_ckpt is required: the checkpoint of a trained "
                    "stage-one model (train with model=autoencoder first)"
                )
            try:
                _, ckpt = read_checkpoint(autoencoder_ckpt, expected="autoencoder")
            except (FileNotFoundError, ValueError) as err:
                raise type(err)(f"autoencoder_ckpt: {err}") from err
            autoencoder_hparams = dict(ckpt["hyper_parameters"])
            ae_state = {
                k[len("net.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")
            }
            self.hparams["autoencoder_hparams"] = autoencoder_hparams
        check_same_data(autoencoder_hparams["data_info"], self.data_info, autoencoder_ckpt)
        self.autoencoder = Autoencoder.build_net(autoencoder_hparams)
        if ae_state is not None:
            self.autoencoder.load_state_dict(ae_state)
        self.autoencoder.requires_grad_(False).eval()
        latent_dim = int(autoencoder_hparams["latent_dim"])
        # Latent codes of a tanh-bounded encoder lie in [-1, 1]; the generator matches that.
        out = "tanh" if autoencoder_hparams["latent_activation"] == "tanh" else "none"

        cond = (self.use_class, self.use_subject, self.num_classes, self.num_subjects, embed_dim)
        g_embed, d_embed = ConditionEmbedding(*cond), ConditionEmbedding(*cond)
        self.generator = Conditional(
            MLPGenerator(z_dim, g_embed.out_dim, g_hidden, (latent_dim,), g_batch_norm, out),
            g_embed,
        )
        self.discriminator = Conditional(
            MLPDiscriminator(latent_dim, d_embed.out_dim, d_hidden, d_dropout), d_embed
        )
        self._setup_generative(self.generator)

    def train(self, mode: bool = True):
        """The frozen autoencoder stays in eval mode (batch-norm statistics fixed)."""
        super().train(mode)
        self.autoencoder.eval()
        return self

    def _real(self, batch: dict) -> torch.Tensor:
        with torch.no_grad():
            return self.autoencoder.encode(batch["signal"])

    def _generate(self, z, labels, subjects, use_ema: bool) -> torch.Tensor:
        codes = (self.ema.module if use_ema else self.generator)(z, labels, subjects)
        return self.autoencoder.decode(codes)
