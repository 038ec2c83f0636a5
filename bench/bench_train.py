"""Training and generation speed of the ecg_synth models on CPU.

    python bench/bench_train.py [--threads 2] [--batches 40] [--repeats 3] [--models ...]

For each model (the defaults of conf/model/*.yaml, segments of 256 samples, 1 lead, batch 128):
training batches per second through the Lightning module (Trainer, manual optimization,
logging, guards) against a plain PyTorch loop running the same networks, losses and
optimizers on the same in-memory batches, and their ratio; beside them the plain step run by
the Trainer (``PlainInTrainer``), whose ratio is the floor set by Lightning's own loop. Then,
for the generators,
FLOPs per generated segment and ``sample()`` throughput at ``batch_size=4096`` (plus one raw
4096-row forward pass, without sample()'s cache-sized chunking, for comparison).

``--clock cpu`` times with the process's CPU time instead of the wall clock: on a shared,
busy machine that is the steadier measure of the work done (use it with ``--threads 1``;
with more threads it counts OpenMP spin-waiting too).

A "batch" is one ``training_step``: D then G for the GANs, one critic step (and a generator
step after every n_critic-th) for WGAN-GP, one step for the autoencoder. Each figure is the
best of ``--repeats`` runs after a warm-up, since other processes on a shared machine only
ever slow a run down. The load average is printed: on a busy 2-core machine every figure is
low, and multi-threaded runs suffer most (OpenMP threads wait for descheduled siblings).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

import hydra
import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch.utils.flop_counter import FlopCounterMode

from ecg_synth.cli import compose_config
from ecg_synth.models.losses import gan_d_loss, gan_g_loss, wgan_d_loss, wgan_g_loss

CLOCK = time.perf_counter  # or time.process_time (--clock cpu)
LENGTH, BATCH = 256, 128
INFO = {
    "fs": 360.0,
    "length": LENGTH,
    "leads": ["MLII"],
    "r_index": 90,
    "classes": ["N", "S", "V", "F", "Q"],
    "subjects": [str(100 + i) for i in range(20)],
    "normalizer": {"mode": "global", "offset": [0.0], "scale": [1.5], "clip": True},
    "class_counts": [9000, 300, 700, 80, 10],
    "rr_scaler": {"log_mean": [-0.22, -0.22, -0.22], "log_std": [0.2, 0.2, 0.2]},  # ~0.8 s
}


def build(name: str, **overrides) -> pl.LightningModule:
    cfg = OmegaConf.merge(compose_config("train", [f"model={name}"]).model, overrides)
    torch.manual_seed(0)
    return hydra.utils.instantiate(cfg, data_info=INFO, _convert_="all")


def make_batches(n: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """Beat-like segments in the batch contract: a Gaussian QRS at sample 90 on a sine."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(LENGTH).float()
    out = []
    for _ in range(n):
        amp = 0.5 + torch.rand(BATCH, 1, generator=g)
        x = amp * torch.exp(-0.5 * ((t - 90) / 4) ** 2) + 0.1 * torch.sin(t / 20 + amp)
        out.append(
            {
                "signal": x.clamp(-1, 1)[:, None, :],
                "label": torch.randint(5, (BATCH,), generator=g),
                "subject": torch.randint(20, (BATCH,), generator=g),
                "rr": torch.rand(BATCH, 3, generator=g),
            }
        )
    return out


class Batches:
    """The same in-memory batches for both loops (a plain list would read as many loaders)."""

    def __init__(self, batches: list) -> None:
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class _Timer(pl.Callback):
    """Wall time from the start of batch ``warmup`` to the end of training."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end = warmup, 0.0, 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.warmup:
            self.start = CLOCK()

    def on_train_end(self, trainer, pl_module) -> None:
        self.end = CLOCK()


def lightning_rate(model: pl.LightningModule, batches: list, warmup: int) -> float:
    timer = _Timer(warmup)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        log_every_n_steps=10,
        callbacks=[timer],
    )
    trainer.fit(model, train_dataloaders=Batches(batches))
    return (len(batches) - warmup) / (timer.end - timer.start)


# ---- the plain PyTorch loops: same networks, losses, optimizers; no Lightning -------------
def _step(opt, loss) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _set_grad(module: torch.nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def plain_bce_gan(m, opt_g, opt_d, batch, i) -> None:
    real = m._real(batch)
    y, s = m._conditions(batch["label"], batch["subject"])
    z = torch.randn(real.shape[0], m.latent_dim)
    with torch.no_grad():
        fake = m.generator(z, y, s)
    _step(opt_d, gan_d_loss(m.discriminator(real, y, s), m.discriminator(fake, y, s)))
    _set_grad(m.discriminator, False)  # the usual "freeze D for the G step"
    _step(opt_g, gan_g_loss(m.discriminator(m.generator(torch.randn_like(z), y, s), y, s)))
    _set_grad(m.discriminator, True)
    if m.ema is not None:
        m.ema.update_parameters(m.generator)


def plain_wgan_gp(m, opt_g, opt_d, batch, i) -> None:
    real = batch["signal"]
    y, s = m._conditions(batch["label"], batch["subject"])
    with torch.no_grad():
        fake = m.generator(torch.randn(real.shape[0], m.latent_dim), y, s)
    loss = wgan_d_loss(m.critic(real, y, s), m.critic(fake, y, s)) + m.gp_weight * m.penalty(
        real, fake, y, s
    )
    _step(opt_d, loss)
    if (i + 1) % m.n_critic == 0:
        _set_grad(m.critic, False)
        z = torch.randn(real.shape[0], m.latent_dim)
        _step(opt_g, wgan_g_loss(m.critic(m.generator(z, y, s), y, s)))
        _set_grad(m.critic, True)
        if m.ema is not None:
            m.ema.update_parameters(m.generator)


def plain_autoencoder(m, opt, _, batch, i) -> None:
    x = batch["signal"]
    _step(opt, F.mse_loss(m.net(x), x))


class PlainInTrainer(pl.LightningModule):
    """The plain step run by the Trainer: what Lightning's own loop costs, without the
    module's guards, logging and Lightning's optimizer/backward wrappers."""

    def __init__(self, model: pl.LightningModule, step) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.model, self.step = model, step

    def configure_optimizers(self):
        return self.model.configure_optimizers()

    def training_step(self, batch: dict, batch_idx: int) -> None:
        opts = self.optimizers()
        opts = opts if isinstance(opts, list) else [opts, None]
        raw = [o.optimizer if o is not None else None for o in opts]
        self.step(self.model, *raw, batch, batch_idx)


def plain_rate(model, step, batches: list, warmup: int) -> float:
    opts = model.configure_optimizers()
    opts = opts if isinstance(opts, list) else [opts, None]
    model.train()
    for i, b in enumerate(batches[:warmup]):
        step(model, *opts, b, i)
    start = CLOCK()
    for i, b in enumerate(batches[warmup:], start=warmup):
        step(model, *opts, b, i)
    return (len(batches) - warmup) / (CLOCK() - start)


# ---- generation -------------------------------------------------------------------------------
def generator_mflops(model) -> float:
    model.eval()
    y = torch.zeros(1, dtype=torch.long) if model.use_class else None
    s = torch.zeros(1, dtype=torch.long) if model.use_subject else None
    with FlopCounterMode(display=False) as counter:
        model._generate(torch.randn(1, model.latent_dim), y, s, model.ema is not None)
    return counter.get_total_flops() / 1e6


def best_rate(fn, n: int, repeats: int) -> float:
    fn()
    best = 0.0
    for _ in range(repeats):
        start = CLOCK()
        fn()
        best = max(best, n / (CLOCK() - start))
    return best


def raw_forward_rate(model, n: int, repeats: int) -> float:
    model.eval()
    z = torch.randn(n, model.latent_dim)
    y = torch.zeros(n, dtype=torch.long) if model.use_class else None
    s = torch.zeros(n, dtype=torch.long) if model.use_subject else None
    with torch.no_grad():
        return best_rate(lambda: model._generate(z, y, s, model.ema is not None), n, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, default=40, help="timed training batches")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument(
        "--models",
        nargs="+",
        default=["gan", "wgan_gp", "autoencoder", "latent_cgan"],
        help="training comparisons to run",
    )
    parser.add_argument("--no-generation", action="store_true", help="skip the generation part")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    warnings.filterwarnings("ignore")
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)

    print(
        f"torch {torch.__version__}, lightning {pl.__version__}, threads {args.threads}, "
        f"{args.clock} clock, load average {os.getloadavg()[0]:.2f}, batch {BATCH}, "
        f"length {LENGTH}"
    )
    batches = make_batches(args.warmup + args.batches)
    tmp = Path(tempfile.mkdtemp())
    ae = build("autoencoder")
    t = pl.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    t.fit(ae, train_dataloaders=Batches(batches[:1]))
    t.save_checkpoint(tmp / "ae.ckpt")
    overrides = {"latent_cgan": {"autoencoder_ckpt": str(tmp / "ae.ckpt")}}
    plain = {
        "gan": plain_bce_gan,
        "wgan_gp": plain_wgan_gp,
        "autoencoder": plain_autoencoder,
        "latent_cgan": plain_bce_gan,
    }

    print(
        f"\n{'training (batches/s)':<22}{'Lightning':>10}{'plain':>10}{'ratio':>8}"
        f"{'plain in Trainer':>18}{'ratio':>8}"
    )
    for name in args.models:
        step = plain[name]
        kw, light, ref, floor = overrides.get(name, {}), 0.0, 0.0, 0.0
        for _ in range(args.repeats):  # alternate, so changes of load hit all alike
            light = max(light, lightning_rate(build(name, **kw), batches, args.warmup))
            ref = max(ref, plain_rate(build(name, **kw), step, batches, args.warmup))
            inside = PlainInTrainer(build(name, **kw), step)
            floor = max(floor, lightning_rate(inside, batches, args.warmup))
        print(
            f"{name:<22}{light:>10.1f}{ref:>10.1f}{light / ref:>8.2f}"
            f"{floor:>18.1f}{floor / ref:>8.2f}",
            flush=True,
        )

    if args.no_generation:
        return
    n = 4096
    print(f"\n{'generation':<22}{'MFLOP/seg':>10}{'sample() seg/s':>16}{'raw 4096 fwd':>14}")
    # +rr: beats and their RR; +lp30: the 30 Hz output filter; +noise: the measurement noise;
    # +cn: conditional norms in the generator (g_cond_norm)
    lp30 = {"generate_rr": True, "output_lowpass_hz": 30.0}
    rows = {
        "gan": ("gan", {}),
        "wgan_gp": ("wgan_gp", {}),
        "wgan_gp+rr": ("wgan_gp", {"generate_rr": True}),
        "wgan_gp+rr+lp30": ("wgan_gp", lp30),
        "wgan_gp+rr+lp30+noise": ("wgan_gp", {**lp30, "measurement_noise": True}),
        "wgan_gp+rr+lp30+cn": ("wgan_gp", {**lp30, "g_cond_norm": True}),
        "latent_cgan": ("latent_cgan", overrides["latent_cgan"]),
    }
    for row, (name, kw) in rows.items():
        model = build(name, **kw)
        if kw.get("measurement_noise"):  # fitted as training would (same cost either way)
            model.fit_measurement_noise(torch.cat([b["signal"] for b in batches]))
        with_rr = bool(kw.get("generate_rr"))
        rate = best_rate(
            lambda m=model, r=with_rr: m.sample(4 * n, seed=0, batch_size=n, with_rr=r),
            4 * n,
            args.repeats,
        )
        raw = raw_forward_rate(model, n, args.repeats)
        print(f"{row:<22}{generator_mflops(model):>10.2f}{rate:>16,.0f}{raw:>14,.0f}", flush=True)


if __name__ == "__main__":
    main()
