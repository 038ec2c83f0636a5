"""1-D convolutional generator, critic trunk and critic (WGAN-GP, the autoencoder).

Layout note (why ``Conv2d`` with a ``(1, k)`` kernel): every 1-D layer here runs as a 2-D layer
on ``[B, C, 1, L]`` tensors in ``channels_last`` memory format. On CPU, oneDNN's 1-D
convolution with few channels reorders activations and weights on every call; the NHWC 2-D
path does not, and measured 2-4x faster for these channel counts (see bench/bench_train.py).
The public shapes stay ``[B, C, L]``; the extra axis never leaves a module.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from scipy.signal import firwin
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ecg_synth.models.components.conditioning import ConditionEmbedding, Projection
from ecg_synth.models.components.mlp import output_activation
from ecg_synth.models.components.rhythm import RR_FEATURES, RR_HIDDEN

NORMS = ("batch", "layer", "none")


def conv(cin: int, cout: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """A 1-D convolution (``same`` padding for odd kernels) on ``[B, C, 1, L]``."""
    return nn.Conv2d(cin, cout, (1, kernel_size), stride=(1, stride), padding=(0, kernel_size // 2))


def norm_layer(kind: str, channels: int, affine: bool = True) -> nn.Module:
    """``batch`` (BatchNorm), ``layer`` (normalise each sample over [C, L], affine per channel;
    no batch statistics, so the per-sample gradient penalty stays per sample) or ``none``.
    ``affine=False``: no learnt gain and bias (a conditional norm supplies them)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=affine)
    if kind == "layer":
        return nn.GroupNorm(1, channels, affine=affine)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm={kind!r} is not one of {NORMS}")


def to_2d(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, L]`` -> ``[B, C, 1, L]`` in channels_last."""
    return x.unsqueeze(2).contiguous(memory_format=torch.channels_last)


def from_2d(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, 1, L]`` -> contiguous ``[B, C, L]``."""
    return x.squeeze(2).contiguous()


def check_length(length: int, stages: int, field: str = "length") -> int:
    """Base length ``length / 2**stages`` of a generator with ``stages`` x2 upsampling blocks."""
    step = 2**stages
    if length < step or length % step:
        lo = max(step, length // step * step)
        raise ValueError(
            f"{field}={length} cannot be produced by a generator with {stages} x2 upsampling "
            f"stages (len(channels) - 1): it must be a positive multiple of 2^{stages} = {step}, "
            f"e.g. {lo} or {lo + step}; change the segment length or the number of channels"
        )
    return length // step


def pixel_shuffle_1d(h: torch.Tensor) -> torch.Tensor:
    """``[B, 2C, 1, L]`` -> ``[B, C, 1, 2L]``: channels ``[0, C)`` become the even output samples,
    ``[C, 2C)`` the odd ones. In channels_last memory (``[B, L, 2C]``) this is a free view."""
    b, c2, _, n = h.shape
    return h.permute(0, 2, 3, 1).reshape(b, 1, 2 * n, c2 // 2).permute(0, 3, 1, 2)


class UpBlock(nn.Module):
    """``[B, cin, 1, L]`` -> ``[B, cout, 1, 2L]``: sub-pixel convolution (Shi et al. 2016; a conv
    at the input length to ``2 * cout`` channels, shuffled into twice the length), norm, ReLU;
    plus a 1x1-conv shortcut repeated to twice the length when ``residual``.

    Same function class as nearest-upsample + conv at twice the length, at the cost of one
    conv at the input length and with no upsampling pass over memory.

    ``style_dim > 0``: conditional normalisation (BigGAN, Brock et al. 2019): the norm's gain
    and bias are linear maps of a per-sample vector ``style [B, style_dim]`` (the generator's
    input), instead of one learnt pair for every sample. Zero-initialised around gain 1, bias
    0, so the block starts as the unconditional one.
    """

    def __init__(
        self, cin: int, cout: int, kernel_size: int, norm: str, residual: bool, style_dim: int = 0
    ) -> None:
        super().__init__()
        self.conv = conv(cin, 2 * cout, kernel_size)
        self.norm = norm_layer(norm, cout, affine=style_dim == 0)
        self.act = nn.ReLU(inplace=True)
        self.skip = conv(cin, cout, 1) if residual else None
        self.style = nn.Linear(style_dim, 2 * cout) if style_dim > 0 else None
        if self.style is not None:
            nn.init.zeros_(self.style.weight)
            nn.init.zeros_(self.style.bias)

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm(pixel_shuffle_1d(self.conv(x)))
        if self.style is not None:
            gain, bias = self.style(style)[:, :, None, None].chunk(2, dim=1)
            h = h * (1.0 + gain) + bias
        y = self.act(h)
        if self.skip is None:
            return y
        s = self.skip(x)
        return y + pixel_shuffle_1d(torch.cat([s, s], dim=1))


class LowPass(nn.Module):
    """Fixed linear-phase FIR low-pass (Hamming window, unit gain at DC) over ``[B, C, 1, L]``,
    edges reflected. Why at a generator's output: real segments are band-limited by the
    preprocessing band-pass, while a conv generator's output carries high-frequency energy
    that no real segment has (tens of times real's above 40 Hz), which detectors and the
    plausibility check pick up at once. The filter is derived from hyperparameters, so it is
    a non-persistent buffer: no checkpoint key, and an export rebuilds it identically."""

    def __init__(self, fs: float, cutoff_hz: float, taps: int = 63) -> None:
        super().__init__()
        if not 0 < cutoff_hz < fs / 2:
            raise ValueError(
                f"output_lowpass_hz={cutoff_hz}: must lie between 0 and the Nyquist frequency "
                f"{fs / 2:g} Hz of the data"
            )
        if taps < 3 or taps % 2 == 0:
            raise ValueError(f"low-pass taps={taps}: expected an odd number >= 3")
        kernel = torch.tensor(firwin(taps, cutoff_hz, fs=fs), dtype=torch.float32)
        self.register_buffer("kernel", kernel.view(1, 1, 1, taps), persistent=False)
        self.cutoff_hz, self.fs = float(cutoff_hz), float(fs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, _, length = x.shape
        pad = self.kernel.shape[-1] // 2
        flat = F.pad(x.reshape(b * c, 1, length), (pad, pad), mode="reflect")
        return F.conv2d(flat.unsqueeze(2), self.kernel.to(x.dtype)).view(b, c, 1, length)

    def extra_repr(self) -> str:
        return f"cutoff_hz={self.cutoff_hz:g}, fs={self.fs:g}, taps={self.kernel.shape[-1]}"


def output_lowpass(cutoff_hz: float | None, data_info: dict) -> LowPass | None:
    """The generators' optional output filter (``output_lowpass_hz``; None: no filter)."""
    return None if cutoff_hz is None else LowPass(float(data_info["fs"]), float(cutoff_hz))


class ConvGenerator(nn.Module):
    """``z [B, in_dim]`` (+ condition ``[B, cond_dim]``, concatenated) -> ``[B, C_out, length]``.

    linear -> ReLU -> ``[channels[0], length / 2^k]`` with ``k = len(channels) - 1`` -> k
    ``UpBlock`` s (channels[i-1] -> channels[i], length doubling) -> conv to ``out_channels``
    -> ``output`` activation -> optional fixed low-pass (``lowpass``). ``cond_norm``: every
    block's norm takes its gain and bias from the input ``[z, cond]`` (conditional
    normalisation), so the condition reaches every stage, not only the first layer. Block i costs
    ``L_in * c_{i-1} * 2 c_i * kernel`` multiply-adds per sample, so the first blocks dominate
    (bench/bench_train.py prints the FLOPs).
    """

    def __init__(
        self,
        in_dim: int,
        out_channels: int,
        length: int,
        channels: Sequence[int],
        kernel_size: int = 5,
        norm: str = "batch",
        residual: bool = False,
        output: str = "tanh",
        cond_dim: int = 0,
        lowpass: LowPass | None = None,
        cond_norm: bool = False,
    ) -> None:
        super().__init__()
        if len(channels) < 1:
            raise ValueError("generator channels must list at least one width")
        if cond_norm and norm == "none":
            raise ValueError(
                "g_cond_norm=true sets the gain and bias of the generator's norm layers: it "
                "needs g_norm=batch or g_norm=layer, got g_norm=none"
            )
        self.base_length = check_length(length, len(channels) - 1)
        self.c0 = channels[0]
        self.fc = nn.Linear(in_dim + cond_dim, channels[0] * self.base_length)
        style_dim = in_dim + cond_dim if cond_norm else 0
        self.blocks = nn.ModuleList(
            UpBlock(a, b, kernel_size, norm, residual, style_dim)
            for a, b in zip(channels[:-1], channels[1:], strict=True)
        )
        self.out = conv(channels[-1], out_channels, kernel_size)
        self.out_act = output_activation(output)
        self.lowpass = lowpass if lowpass is not None else nn.Identity()

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None:
            z = torch.cat([z, cond], dim=1)
        h = torch.relu(self.fc(z)).view(z.shape[0], self.c0, 1, self.base_length)
        h = h.contiguous(memory_format=torch.channels_last)
        for block in self.blocks:
            h = block(h, z)
        return from_2d(self.lowpass(self.out_act(self.out(h))))


def minibatch_std(x: torch.Tensor, group: int) -> torch.Tensor:
    """Append one channel to ``x [B, C, 1, n]``: the standard deviation of the features over a
    group of ``group`` samples, averaged, the same value for every sample of the group
    (Karras et al. 2018). A critic that sees it can tell a batch of too-similar fakes from
    real beats. The group is the largest divisor of B up to ``group``."""
    b = x.shape[0]
    g = max(d for d in range(1, min(group, b) + 1) if b % d == 0)
    grouped = x.float().reshape(g, b // g, *x.shape[1:])
    # The variance written out: aten::var over the outer dim of this layout took 13 ms.
    var = (grouped - grouped.mean(0)).square().mean(0)
    stat = var.add(1e-8).sqrt().mean((1, 2, 3))  # [B / g]
    stat = stat.repeat(g).to(x.dtype)[:, None, None, None].expand(-1, 1, *x.shape[2:])
    return torch.cat([x, stat.contiguous(memory_format=torch.channels_last)], dim=1)


class ConvTrunk(nn.Module):
    """``[B, in_channels, length]`` -> ``[B, out_dim]``: stride-2 conv blocks (conv -> norm ->
    LeakyReLU 0.2), flatten, linear. Any length works (each block maps L to ceil(L / 2)).
    ``minibatch_std > 1`` adds the :func:`minibatch_std` channel before the linear layer; it
    couples the samples of a batch, so it is for critics, not for encoders."""

    def __init__(
        self,
        in_channels: int,
        length: int,
        channels: Sequence[int],
        out_dim: int,
        kernel_size: int = 5,
        norm: str = "layer",
        spectral_norm: bool = False,
        minibatch_std: int = 0,
    ) -> None:
        super().__init__()
        self.group = minibatch_std
        sn = _spectral_norm if spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        width, n = in_channels, length
        for c in channels:
            layers += [
                sn(conv(width, c, kernel_size, stride=2)),
                norm_layer(norm, c),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width, n = c, (n + 1) // 2
        self.convs = nn.Sequential(*layers)
        self.fc = sn(nn.Linear((width + (self.group > 1)) * n, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(to_2d(x))
        if self.group > 1:
            h = minibatch_std(h, self.group)
        return self.fc(h.flatten(1))


class ConvCritic(nn.Module):
    """Wasserstein critic ``x [B, C, L]`` (+ labels / subjects ``[B]``) -> scores ``[B]``.

    ``phi = LeakyReLU(trunk(x))`` (``[B, feat_dim]``), score ``= linear(phi)`` plus, with
    ``conditioning="projection"``, ``<embed(y), phi>`` (Miyato & Koyama 2018); with
    ``"concat"`` the condition embeddings enter instead as extra constant input channels.
    No batch norm (it would couple the samples of the per-sample gradient penalty).

    ``aux_classes > 0`` adds a class head on ``phi`` (AC-GAN, Odena et al. 2017):
    ``classify(phi)`` gives ``[B, aux_classes]`` logits. Only with projection conditioning,
    where ``phi`` does not see the label (with ``concat`` the head could read it off the input).

    ``with_rr``: the critic also takes each beat's RR features ``rr [B, 3]`` (model units,
    ``components.rhythm``): an MLP encodes them and one linear layer mixes that code with the
    beat's, ``phi = LeakyReLU(fuse([LeakyReLU(trunk(x)), mlp(rr)]))``, so the score can depend
    on how the shape and the rhythm go together, not only on each alone.

    ``minibatch_std``: group size of the trunk's minibatch standard-deviation channel (0 =
    off). Real and generated beats go through the critic in separate calls, so each group
    holds one kind only.
    """

    def __init__(
        self,
        in_channels: int,
        length: int,
        channels: Sequence[int],
        feat_dim: int,
        kernel_size: int,
        norm: str,
        spectral_norm: bool,
        conditioning: str,
        use_class: bool,
        use_subject: bool,
        num_classes: int,
        num_subjects: int,
        embed_dim: int,
        aux_classes: int = 0,
        with_rr: bool = False,
        minibatch_std: int = 0,
    ) -> None:
        super().__init__()
        if norm == "batch":
            raise ValueError(
                "critic norm='batch' is not allowed in WGAN-GP (the gradient "
                "penalty is per sample); use 'layer' or 'none'"
            )
        if conditioning not in ("projection", "concat"):
            raise ValueError(
                f"critic_conditioning={conditioning!r} is not one of ('projection', 'concat')"
            )
        self.concat = None
        self.projection = None
        if conditioning == "concat":
            self.concat = ConditionEmbedding(
                use_class, use_subject, num_classes, num_subjects, embed_dim
            )
            in_channels += self.concat.out_dim
        else:
            self.projection = Projection(
                use_class, use_subject, num_classes, num_subjects, feat_dim
            )
        self.trunk = ConvTrunk(
            in_channels, length, channels, feat_dim, kernel_size, norm, spectral_norm, minibatch_std
        )
        self.act = nn.LeakyReLU(0.2)
        self.head = nn.Linear(feat_dim, 1)
        if spectral_norm:
            self.head = _spectral_norm(self.head)
        if aux_classes and conditioning != "projection":
            raise ValueError(
                "a class head on the critic needs critic_conditioning='projection' "
                f"(got {conditioning!r}: the label would be part of its input)"
            )
        self.classify = nn.Linear(feat_dim, aux_classes) if aux_classes else None
        self.rr_net = self.fuse = None
        if with_rr:
            sn = _spectral_norm if spectral_norm else (lambda m: m)
            self.rr_net = nn.Sequential(
                sn(nn.Linear(RR_FEATURES, RR_HIDDEN)),
                nn.LeakyReLU(0.2),
                sn(nn.Linear(RR_HIDDEN, RR_HIDDEN)),
                nn.LeakyReLU(0.2),
            )
            self.fuse = sn(nn.Linear(feat_dim + RR_HIDDEN, feat_dim))

    def features(
        self,
        x: torch.Tensor,
        labels: torch.Tensor | None = None,
        subjects: torch.Tensor | None = None,
        rr: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``phi [B, feat_dim]``, shared by the score and the class head."""
        if self.concat is not None:
            e = self.concat(labels, subjects)
            if e is not None:
                x = torch.cat([x, e[:, :, None].to(x.dtype).expand(-1, -1, x.shape[-1])], dim=1)
        phi = self.act(self.trunk(x))
        if self.rr_net is None:
            return phi
        if rr is None:
            raise ValueError("this critic scores each beat with its RR, but rr=None was passed")
        return self.act(self.fuse(torch.cat([phi, self.rr_net(rr.to(phi.dtype))], dim=1)))

    def score(
        self,
        phi: torch.Tensor,
        labels: torch.Tensor | None = None,
        subjects: torch.Tensor | None = None,
    ) -> torch.Tensor:
        out = self.head(phi).squeeze(1)
        if self.projection is not None:
            out = out + self.projection(phi, labels, subjects)
        return out

    def forward(
        self,
        x: torch.Tensor,
        labels: torch.Tensor | None = None,
        subjects: torch.Tensor | None = None,
        rr: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.score(self.features(x, labels, subjects, rr), labels, subjects)
