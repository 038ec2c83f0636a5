"""1-D convolutional autoencoder: segment ``[B, C, L]`` <-> latent vector ``[B, latent_dim]``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ecg_synth.models.components.conv import ConvGenerator, ConvTrunk
from ecg_synth.models.components.mlp import output_activation


class ConvAutoencoder(nn.Module):
    """Encoder: stride-2 conv trunk (batch norm) -> linear -> ``latent_activation``.
    Decoder: the generator architecture (linear -> upsampling conv blocks), linear output.

    ``latent_activation="tanh"`` bounds the latent space to [-1, 1], which gives the
    stage-two latent GAN a fixed target range (its generator ends in tanh too).
    """

    @classmethod
    def from_hparams(cls, hparams: dict) -> ConvAutoencoder:
        """The network an ``Autoencoder`` with these hyperparameters (``data_info`` included)
        builds; also how the latent GAN and exported generators rebuild it."""
        info = hparams["data_info"]
        keys = (
            "latent_dim",
            "encoder_channels",
            "decoder_channels",
            "kernel_size",
            "latent_activation",
        )
        return cls(len(info["leads"]), int(info["length"]), **{k: hparams[k] for k in keys})

    def __init__(
        self,
        in_channels: int,
        length: int,
        latent_dim: int,
        encoder_channels: Sequence[int],
        decoder_channels: Sequence[int],
        kernel_size: int = 5,
        latent_activation: str = "tanh",
    ) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            ConvTrunk(in_channels, length, encoder_channels, latent_dim, kernel_size, norm="batch"),
            output_activation(latent_activation),
        )
        self.decoder = ConvGenerator(
            latent_dim,
            in_channels,
            length,
            decoder_channels,
            kernel_size,
            norm="batch",
            output="none",
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, L]`` -> ``[B, latent_dim]``."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``[B, latent_dim]`` -> ``[B, C, L]``."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
