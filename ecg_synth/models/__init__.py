"""Generative models of ECG segments as LightningModules (manual optimization).

Kinds: ``gan`` (vanilla fully connected GAN), ``wgan_gp`` (1-D conv WGAN-GP),
``autoencoder`` (stage one of the latent GAN) and ``latent_cgan`` (stage two). Every
generator has ``sample(n, labels, subjects, seed, batch_size) -> [n, C, L]`` mV on CPU and
``generate_fixed()``; ``load_model(path, expected)`` rebuilds any of them from a checkpoint.
"""

from ecg_synth.models.registry import MODEL_KINDS, load_model, model_class, read_checkpoint

__all__ = ["MODEL_KINDS", "load_model", "model_class", "read_checkpoint"]
