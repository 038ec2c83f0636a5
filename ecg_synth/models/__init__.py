"""Generative models of ECG segments as LightningModules (manual optimization).

Kinds: ``gan`` (vanilla fully connected GAN), ``wgan_gp`` (1-D conv WGAN-GP),
``autoencoder`` (stage one of the latent GAN) and ``latent_cgan`` (stage two). Every
generator has ``sample(n, labels, subjects, seed, batch_size) -> [n, C, L]`` mV on CPU and
``generate_fixed()``; ``load_model(path, expected)`` rebuilds any of them from a checkpoint.
"""

from __future__ import annotations

import importlib

import ecg_synth.numerics  # noqa: F401  (warms up MKL VML: see the module)

__all__ = ["MODEL_KINDS", "load_model", "model_class", "read_checkpoint"]


def __getattr__(name: str):
    # Lazy (PEP 562): importing ecg_synth.models.components (plain nn.Modules) must not pull
    # in Lightning, so an exported generator loads with torch and safetensors alone.
    if name in __all__:
        return getattr(importlib.import_module("ecg_synth.models.registry"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
