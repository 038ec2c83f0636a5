"""Plain-torch generation networks of each model kind, rebuilt from hyperparameters alone.

An exported model (``export.py``) stores the generation path only: these networks' weights
in safetensors and the model's hyperparameters in JSON. Each recipe below rebuilds, from the
``ecg_synth.models.components`` building blocks, exactly the sub-networks that the
LightningModule's ``_generate`` runs, under the same parameter names, so that its
``state_dict`` loads unchanged, and ``ExportedGenerator.sample`` repeats
``GenerativeModule.sample``'s noise draws. ``tests/generation/test_export.py`` checks that the
two give bit-identical signals for every model kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ecg_synth.data.normalize import Normalizer, RRScaler
from ecg_synth.models.components.mlp import resolve_output
from ecg_synth.models.components.rhythm import beats_and_rr


def _embedding(hp: dict, info: dict):
    from ecg_synth.models.components.conditioning import ConditionEmbedding, parse_condition

    use_class, use_subject = parse_condition(hp.get("condition", "none"))
    return ConditionEmbedding(
        use_class, use_subject, len(info["classes"]), len(info["subjects"]), int(hp["embed_dim"])
    )


class Decoded(nn.Module):
    """``decoder(generator(z, labels, subjects))``: the latent GAN's two stages."""

    def __init__(self, generator: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.decoder = decoder

    def forward(
        self, z: torch.Tensor, labels: torch.Tensor | None, subjects: torch.Tensor | None
    ) -> torch.Tensor:
        return self.decoder(self.generator(z, labels, subjects))


def build_gan(hp: dict, info: dict) -> nn.Module:
    """``GAN.generator``: ``Conditional(MLPGenerator, ConditionEmbedding)``."""
    from ecg_synth.models.components import Conditional, MLPGenerator

    embed = _embedding(hp, info)
    return Conditional(
        MLPGenerator(
            int(hp["z_dim"]),
            embed.out_dim,
            list(hp["g_hidden"]),
            (len(info["leads"]), int(info["length"])),
            bool(hp["g_batch_norm"]),
            resolve_output(hp["output"], info),
        ),
        embed,
    )


def build_wgan_gp(hp: dict, info: dict) -> nn.Module:
    """``WGANGP.generator``: ``Conditional(ConvGenerator, ConditionEmbedding)``, the
    ConvGenerator inside ``WithRR`` when the model generates RR, the whole inside ``WithNoise``
    when it adds measurement noise (whose fitted buffers come with the weights)."""
    from ecg_synth.models.components import Conditional, ConvGenerator, WithRR
    from ecg_synth.models.components.conv import output_lowpass
    from ecg_synth.models.components.noise import with_measurement_noise

    embed = _embedding(hp, info)
    net = ConvGenerator(
        int(hp["z_dim"]),
        len(info["leads"]),
        int(info["length"]),
        list(hp["g_channels"]),
        int(hp["g_kernel_size"]),
        hp["g_norm"],
        bool(hp["g_residual"]),
        resolve_output(hp["output"], info),
        embed.out_dim,
        output_lowpass(hp.get("output_lowpass_hz"), info),
        bool(hp.get("g_cond_norm", False)),  # absent from exports made before the option
    )
    if hp.get("generate_rr"):
        net = WithRR(net, int(hp["z_dim"]) + embed.out_dim)
    return with_measurement_noise(
        Conditional(net, embed), bool(hp.get("measurement_noise", False)), info
    )


def build_latent_cgan(hp: dict, info: dict) -> nn.Module:
    """``LatentCGAN.generator`` (latent codes) then the frozen autoencoder's decoder."""
    from ecg_synth.models.components import Conditional, ConvAutoencoder, MLPGenerator

    ae = hp["autoencoder_hparams"]
    latent_dim = int(ae["latent_dim"])
    embed = _embedding(hp, info)
    out = "tanh" if ae["latent_activation"] == "tanh" else "none"
    generator = Conditional(
        MLPGenerator(
            int(hp["z_dim"]),
            embed.out_dim,
            list(hp["g_hidden"]),
            (latent_dim,),
            bool(hp["g_batch_norm"]),
            out,
        ),
        embed,
    )
    decoder = ConvAutoencoder.from_hparams(ae).decoder
    return Decoded(generator, decoder)


def _generator_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The generator weights ``_generate`` uses: the EMA copy when the model has one."""
    ema = getattr(model, "ema", None)
    return (ema.module if ema is not None else model.generator).state_dict()


def latent_cgan_state(model: nn.Module) -> dict[str, torch.Tensor]:
    state = {f"generator.{k}": v for k, v in _generator_state(model).items()}
    state.update({f"decoder.{k}": v for k, v in model.autoencoder.decoder.state_dict().items()})
    return state


# kind -> (build(hparams, data_info) -> nn.Module, state(lightning model) -> its state_dict).
# The autoencoder (stage one) is not a generator and has no recipe.
RECIPES: dict[
    str, tuple[Callable[[dict, dict], nn.Module], Callable[[nn.Module], dict[str, torch.Tensor]]]
] = {
    "gan": (build_gan, _generator_state),
    "wgan_gp": (build_wgan_gp, _generator_state),
    "latent_cgan": (build_latent_cgan, latent_cgan_state),
}


def build_network(kind: str, hparams: dict, info: dict) -> nn.Module:
    if kind not in RECIPES:
        raise ValueError(f"model kind {kind!r} cannot be exported; known kinds: {sorted(RECIPES)}")
    return RECIPES[kind][0](hparams, info)


def generation_state(model: nn.Module) -> dict[str, torch.Tensor]:
    kind = str(model.model_kind)
    if kind not in RECIPES:
        raise ValueError(f"model kind {kind!r} cannot be exported; known kinds: {sorted(RECIPES)}")
    return {k: v.detach().cpu().contiguous() for k, v in RECIPES[kind][1](model).items()}


class ExportedGenerator:
    """``sample`` with the contract of ``GenerativeModule.sample``, from a plain network.

    Per ``batch_size`` chunk: ``z = randn(b, latent_dim)`` from one ``torch.Generator`` seeded with
    ``seed``, the network in eval mode, then the normaliser's inverse to millivolts (and, for
    a network that makes RR, the RR scaler's inverse to seconds).
    """

    def __init__(self, net: nn.Module, kind: str, hparams: dict[str, Any], info: dict) -> None:
        self.net = net.eval()
        self.model_kind = kind
        self.hparams = {**hparams, "data_info": info}
        # z, then the measurement noise's draws when the network adds it (as latent_dim)
        self.latent_dim = int(hparams["z_dim"]) + getattr(net, "noise_dim", 0)
        self.normalizer = Normalizer.from_dict(info["normalizer"])
        makes_rr = bool(hparams.get("generate_rr"))
        self.rr_scaler = RRScaler.from_dict(info["rr_scaler"]) if makes_rr else None
        from ecg_synth.models.components.conditioning import parse_condition

        self.use_class, self.use_subject = parse_condition(hparams.get("condition", "none"))
        counts = info["class_counts"]
        if isinstance(counts, dict):
            counts = [counts.get(c, 0) for c in info["classes"]]
        counts = torch.as_tensor(counts, dtype=torch.float64)
        probs = counts / counts.sum() if counts.sum() > 0 else torch.ones_like(counts)
        self.class_probs = (probs / probs.sum()).float()
        self.num_subjects = len(info["subjects"])

    def _conditions(self, n: int, labels, subjects, g: torch.Generator | None):
        """As ``GenerativeModule._draw_conditions``: given, else drawn in the same order."""
        if self.use_class and labels is None:
            labels = torch.multinomial(self.class_probs, n, replacement=True, generator=g)
        if self.use_subject and subjects is None:
            subjects = torch.randint(self.num_subjects, (n,), generator=g)
        as_long = lambda v: None if v is None else torch.as_tensor(v).long().flatten()  # noqa: E731
        lab = as_long(labels) if self.use_class else None
        sub = as_long(subjects) if self.use_subject else None
        if lab is not None and lab.numel() == 1 and n != 1:
            lab = lab.expand(n)
        if sub is not None and sub.numel() == 1 and n != 1:
            sub = sub.expand(n)
        return lab, sub

    @property
    def makes_rr(self) -> bool:
        return self.rr_scaler is not None

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels=None,
        subjects=None,
        seed: int | None = None,
        batch_size: int = 4096,
        with_rr: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``[n, C, L]`` float32 mV (with ``with_rr``: and the RR ``[n, 3]`` seconds).
        labels / subjects: ``[n]`` ints (or one int), or None: drawn from the training class
        distribution / uniformly, as the LightningModule does."""
        if with_rr and not self.makes_rr:
            raise ValueError(f"this exported {self.model_kind} model does not generate RR")
        g = None if seed is None else torch.Generator().manual_seed(int(seed))
        lab, sub = self._conditions(n, labels, subjects, g)
        out, rr = [], []
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            z = torch.randn(b, self.latent_dim, generator=g)
            y = None if lab is None else lab[start : start + b]
            s = None if sub is None else sub[start : start + b]
            x, x_rr = beats_and_rr(self.net(z, y, s))
            out.append(x.float())
            rr.append(x_rr)
        x = self.normalizer.inverse(torch.cat(out))
        return (x, self.rr_scaler.inverse(torch.cat(rr).float())) if with_rr else x
