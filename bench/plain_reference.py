"""The quality issue's plain reference, scored by this project's evaluation (issue: quality).

The issue sets the product's WGAN-GP against "a plain ~90-line class-conditional 1-D conv
WGAN-GP with a projection critic, trained 25 minutes on the same CPU", with numbers from
another evaluator. This is that model, written plainly (`PlainGenerator`, `PlainCritic`,
`train`: no EMA, output filter, RR, class or record balance, augmentation), trained on the
same training beats (`experiment=wgan_gp_mitdb dataset=mitdb_shared`: same records, band-pass,
window and normaliser) and scored by `evaluate.py`'s pipeline with the checkpoint protocol
(`pipeline.run(cfg, generator=...)`), so each number stands beside the product's.

    python bench/plain_reference.py --seed 0 --minutes 25 --out outputs/bench/plain_s0
    python bench/plain_reference.py --seed 1 --steps <G steps of the first run> --out ...
    python bench/plain_reference.py --load outputs/bench/plain_s0 --split val   # score again
    python bench/plain_reference.py --load outputs/bench/plain_s0 --no-eval --compare <run>

A wall-clock budget depends on the machine's load; `--steps` fixes the work instead. Writes
`<out>/plain.safetensors`, `<out>/train.json` (steps, minutes, losses) and
`<out>/evaluation/` (evaluate.py's metrics.json, report.md, figures), and prints the sampling
speed (segments per second, batches of 20,000).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from safetensors.torch import load_file, save_file
from torch import nn

from ecg_synth.cli import compose_config
from ecg_synth.data.normalize import Normalizer
from ecg_synth.evaluation.pipeline import run
from ecg_synth.generation import load_generator
from ecg_synth.generation.core import GeneratorHandle

Z_DIM, N_CRITIC, GP_WEIGHT, BATCH, LR = 100, 5, 10.0, 64, 1e-4


# ---------------------------------------------------------------- the plain model (~60 lines)
class PlainGenerator(nn.Module):
    """z + class embedding -> linear -> [256, L/16] -> 4 x (upsample, conv, BN, LReLU) -> tanh."""

    def __init__(self, n_classes: int, length: int, channels=(256, 128, 64, 32, 16)) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_classes, 32)
        self.start = length // 16
        self.fc = nn.Linear(Z_DIM + 32, channels[0] * self.start)
        blocks = []
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            blocks += [nn.Upsample(scale_factor=2), nn.Conv1d(c_in, c_out, 5, padding=2)]
            blocks += [nn.BatchNorm1d(c_out), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*blocks, nn.Conv1d(channels[-1], 1, 5, padding=2), nn.Tanh())

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([z, self.embed(y)], 1)).view(len(z), -1, self.start)
        return self.net(h)


class PlainCritic(nn.Module):
    """4 x (stride-2 conv, LReLU) -> flatten -> linear, plus the projection <embed(y), h>."""

    def __init__(self, n_classes: int, length: int, channels=(1, 32, 64, 128, 256)) -> None:
        super().__init__()
        layers = []
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers += [nn.Conv1d(c_in, c_out, 5, stride=2, padding=2), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers, nn.Flatten())
        width = channels[-1] * (length // 16)
        self.out = nn.Linear(width, 1)
        self.embed = nn.Embedding(n_classes, width)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        return self.out(h).squeeze(1) + (self.embed(y) * h).sum(1)


def gradient_penalty(critic, real, fake, y) -> torch.Tensor:
    eps = torch.rand(len(real), 1, 1)
    mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mix, y).sum(), mix, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def train(x: torch.Tensor, y: torch.Tensor, n_classes: int, seed: int, minutes, steps) -> dict:
    """WGAN-GP (Gulrajani et al. 2017): Adam(1e-4, betas 0/0.9), 5 critic steps per G step,
    uniformly shuffled batches of 64, until ``steps`` generator steps or ``minutes``."""
    torch.manual_seed(seed)
    g, d = PlainGenerator(n_classes, x.shape[-1]), PlainCritic(n_classes, x.shape[-1])
    opt_g = torch.optim.Adam(g.parameters(), LR, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), LR, betas=(0.0, 0.9))
    batches = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), BATCH, shuffle=True, drop_last=True
    )
    start, step, log = time.perf_counter(), 0, []
    while True:
        for i, (real, label) in enumerate(batches):
            fake = g(torch.randn(len(real), Z_DIM), label).detach()
            wdist = d(real, label).mean() - d(fake, label).mean()
            loss_d = -wdist + GP_WEIGHT * gradient_penalty(d, real, fake, label)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            if i % N_CRITIC:
                continue
            loss_g = -d(g(torch.randn(len(real), Z_DIM), label), label).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            step += 1
            elapsed = (time.perf_counter() - start) / 60
            if step % 500 == 0:
                log.append({"step": step, "minutes": elapsed, "wdist": wdist.item()})
                print(f"step {step}  {elapsed:.1f} min  W distance {wdist.item():.3f}", flush=True)
            if (steps and step >= steps) or (not steps and elapsed >= minutes):
                return {"generator": g, "steps": step, "minutes": elapsed, "log": log}


# ---------------------------------------------------------------- scored as a product model
class PlainSampler:
    """The ``Sampler`` protocol of ``ecg_synth.generation.core`` over ``PlainGenerator``:
    seeded, in millivolts. Labels of classes it never saw would be refused by the evaluation."""

    makes_rr = False

    def __init__(self, g: PlainGenerator, normalizer: Normalizer, n_classes: int) -> None:
        self.g, self.normalizer, self.n_classes = g.eval(), normalizer, n_classes

    @torch.no_grad()
    def sample(self, n, labels=None, subjects=None, seed=None, batch_size=4096, with_rr=False):
        gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
        y = torch.as_tensor(labels, dtype=torch.long) if labels is not None else None
        out = []
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            z = torch.randn(size, Z_DIM, generator=gen)
            yy = y[start : start + size] if y is not None else torch.zeros(size, dtype=torch.long)
            out.append(self.normalizer.inverse(self.g(z, yy)))
        return torch.cat(out)


def _timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def training_data(seed: int):
    overrides = ["experiment=wgan_gp_mitdb", "dataset=mitdb_shared", f"seed={seed}"]
    cfg = compose_config("train", overrides)
    dm = instantiate(cfg.dataset, _convert_="all")
    dm.prepare_data()
    dm.setup()
    ds = dm.datasets["train"].tensors
    return ds["signal"], ds["label"], dm.data_info()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0, help="training and evaluation seed")
    p.add_argument("--minutes", type=float, default=25.0, help="training budget (wall clock)")
    p.add_argument("--steps", type=int, default=None, help="generator steps instead of minutes")
    p.add_argument("--split", default="test", choices=["test", "val"])
    p.add_argument("--quick", action="store_true", help="evaluate.py quick=true")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--load", type=Path, default=None, help="score a saved run again")
    p.add_argument("--no-eval", action="store_true", help="time the sampling only")
    p.add_argument("--compare", default=None, help="also time this model (run, checkpoint)")
    a = p.parse_args()
    torch.set_num_threads(2)
    x, y, info = training_data(a.seed)
    n_classes = len(info["classes"])
    out = a.load or a.out or Path(f"outputs/bench/plain_s{a.seed}")
    out.mkdir(parents=True, exist_ok=True)
    g = PlainGenerator(n_classes, x.shape[-1])
    if a.load:
        g.load_state_dict(load_file(str(out / "plain.safetensors")))
    else:
        result = train(x, y, n_classes, a.seed, a.minutes, a.steps)
        g = result.pop("generator")
        save_file(g.state_dict(), str(out / "plain.safetensors"))
        (out / "train.json").write_text(json.dumps({"seed": a.seed, **result}, indent=1))
        print(f"trained {result['steps']} generator steps in {result['minutes']:.1f} min")
    sampler = PlainSampler(g, Normalizer.from_dict(info["normalizer"]), n_classes)
    labels = np.arange(20_000) % n_classes
    seconds = min(_timed(sampler.sample, len(labels), labels, seed=i) for i in range(5))
    print(f"sampling: {len(labels) / seconds:,.0f} segments/s (20,000 per call, best of 5)")
    if a.compare:  # a product model in the same run, for the ratio
        model = load_generator(a.compare).model
        y = torch.as_tensor(labels)
        other = min(_timed(model.sample, len(y), labels=y, seed=i, with_rr=True) for i in range(5))
        print(f"{a.compare}: {len(y) / other:,.0f} segments/s, {seconds / other:.1f}x")
    if a.no_eval:
        return
    handle = GeneratorHandle(sampler, info, "plain-wgan_gp", "plain_wgan_gp", "1", str(out))
    cfg = compose_config(
        "evaluate",
        ["dataset=mitdb_shared", f"split={a.split}", f"seed={a.seed}"]
        + [f"quick={str(a.quick).lower()}", f"paths.output_dir={out / 'evaluation'}"],
    )
    doc = run(cfg, generator=handle)
    gen, floor = doc["generated"], doc["floor"]
    for key in ("fd", "nn_ratio", "copy_share", "plausible_gen", "svm_shape_auc"):
        print(f"{key:16s} {np.round(gen.get(key), 4)}  (floor {np.round(floor.get(key), 4)})")


if __name__ == "__main__":
    main()
