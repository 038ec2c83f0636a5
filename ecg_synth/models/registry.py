"""Model kinds and checkpoint loading with clear errors (``load_model``)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

#: ``model_kind`` (stored in every checkpoint's hyper_parameters) -> "module:Class"
MODEL_KINDS = {
    "gan": "ecg_synth.models.gan:GAN",
    "wgan_gp": "ecg_synth.models.wgan_gp:WGANGP",
    "autoencoder": "ecg_synth.models.autoencoder:Autoencoder",
    "latent_cgan": "ecg_synth.models.latent_cgan:LatentCGAN",
}


def model_class(kind: str) -> type[pl.LightningModule]:
    """The LightningModule class of ``kind`` (ValueError for an unknown kind)."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known kinds: {sorted(MODEL_KINDS)}")
    module, name = MODEL_KINDS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def read_checkpoint(path: str | Path, expected: str | None = None) -> tuple[str, dict[str, Any]]:
    """Read a checkpoint safely (``weights_only=True``) and check what it holds.

    Returns ``(model_kind, checkpoint dict)``. Raises FileNotFoundError for a missing file and
    ValueError naming the file for: not a PyTorch file, not a Lightning checkpoint of an
    ecg_synth model, an unknown kind, or a kind other than ``expected``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path}: no such file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and weights_only errors all mean "not a checkpoint"
        raise ValueError(
            f"checkpoint {path} could not be read as a PyTorch checkpoint "
            f"with weights_only=True: {type(err).__name__}: {err}"
        ) from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"checkpoint {path} is not a Lightning checkpoint (no 'state_dict')")
    kind = (ckpt.get("hyper_parameters") or {}).get("model_kind")
    if kind is None:
        raise ValueError(
            f"checkpoint {path} is not an ecg_synth model checkpoint "
            "(no 'model_kind' in its hyper_parameters)"
        )
    if kind not in MODEL_KINDS:
        raise ValueError(
            f"checkpoint {path} holds an unknown model kind {kind!r}; "
            f"known kinds: {sorted(MODEL_KINDS)}"
        )
    if expected is not None and kind != expected:
        raise ValueError(f"checkpoint {path} holds a {kind!r} model, expected {expected!r}")
    return kind, ckpt


def load_model(
    path: str | Path, expected: str | None = None, map_location: str | torch.device = "cpu"
) -> pl.LightningModule:
    """Rebuild the model stored in a Lightning checkpoint (hyperparameters + weights, EMA,
    fixed noise, step counters), after the checks of ``read_checkpoint``."""
    kind, _ = read_checkpoint(path, expected)
    return model_class(kind).load_from_checkpoint(
        path, map_location=map_location, weights_only=True
    )
