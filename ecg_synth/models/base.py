"""Shared LightningModule machinery of every ecg_synth model (manual optimization).

``ECGModule``: data description, mV conversion, optimizers from plain dicts, the guarded
optimizer step (forward -> backward -> gradient norm -> non-finite check -> clip -> step),
step counters saved in the checkpoint, the capped real-data feed of the validation metric,
logging helpers.

``GenerativeModule`` adds what every generator shares: class / subject conditioning, the
training class distribution, EMA of the generator, fixed noise as buffers, ``sample`` and
``generate_fixed``, and the ``val/fd`` / ``val/mmd`` computation at validation epoch end.

Hyperparameters are plain values only (numbers, strings, lists, dicts), so a checkpoint
loads with ``torch.load(path, weights_only=True)`` and rebuilds its model alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn

from ecg_synth.data.normalize import Normalizer, RRScaler
from ecg_synth.metrics.training import RRWasserstein, SegmentFrechetDistance, SegmentMMD
from ecg_synth.models.components.conditioning import parse_condition
from ecg_synth.models.components.rhythm import RR_FEATURES, beats_and_rr
from ecg_synth.models.ema import make_ema

log = logging.getLogger(__name__)

DATA_INFO_KEYS = ("length", "leads", "classes", "subjects", "normalizer", "class_counts")
OPTIMIZER_KEYS = {"lr", "betas", "weight_decay"}
Index = int | Sequence[int] | torch.Tensor  # class / subject indices for sample()
CPU_CHUNK = 512  # rows per generator forward pass when sampling on CPU (cache-sized)
SCHEDULERS = {
    "cosine": "CosineAnnealingLR",
    "step": "StepLR",
    "exponential": "ExponentialLR",
    "linear": "LinearLR",
}


def adam(params: Iterable[nn.Parameter], cfg: dict, field: str) -> torch.optim.Adam:
    """``torch.optim.Adam`` from a plain dict ``{lr, betas, weight_decay}`` (config ``field``)."""
    unknown = set(cfg) - OPTIMIZER_KEYS
    if unknown or "lr" not in cfg:
        raise ValueError(f"{field}={cfg!r}: needs 'lr' and only keys {sorted(OPTIMIZER_KEYS)}")
    return torch.optim.Adam(
        params,
        lr=float(cfg["lr"]),
        betas=tuple(float(b) for b in cfg.get("betas", (0.9, 0.999))),
        weight_decay=float(cfg.get("weight_decay", 0.0)),
    )


def make_scheduler(opt: torch.optim.Optimizer, cfg: dict | None):
    """``{name: cosine|step|exponential|linear, interval: epoch|step, **kwargs}`` -> scheduler
    (kwargs go to the torch class: ``T_max``/``eta_min``, ``step_size``/``gamma``, ...)."""
    if not cfg:
        return None
    kw = {k: v for k, v in cfg.items() if k not in ("name", "interval")}
    name = cfg.get("name")
    if name not in SCHEDULERS:
        raise ValueError(f"scheduler.name={name!r} is not one of {sorted(SCHEDULERS)}")
    if cfg.get("interval", "epoch") not in ("epoch", "step"):
        raise ValueError(f"scheduler.interval={cfg.get('interval')!r} is not 'epoch' or 'step'")
    return getattr(torch.optim.lr_scheduler, SCHEDULERS[name])(opt, **kw)


def _as_tuple(value: Any) -> Any:
    """Lists as tuples (a checkpoint may give Adam's betas back as either)."""
    return tuple(value) if isinstance(value, list) else value


def _plain(value: Any) -> Any:
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


class ECGModule(pl.LightningModule):
    """Base of every model. Subclasses call ``super().__init__(...)`` then
    ``self.save_hyperparameters()`` and ``self._finish_hparams()``."""

    model_kind: ClassVar[str] = ""
    #: the metric a ModelCheckpoint should monitor (mode "min") for this model
    monitor: ClassVar[str] = "val/fd"

    def __init__(
        self, data_info: dict, scheduler: dict | None, grad_clip: float | None, val_samples: int
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        data_info = _plain(data_info)
        missing = [k for k in DATA_INFO_KEYS if k not in data_info]
        if missing:
            raise ValueError(
                f"data_info lacks {missing}; build models with data_info=datamodule.data_info()"
            )
        if grad_clip is not None and grad_clip <= 0:
            raise ValueError(f"grad_clip={grad_clip} must be > 0 or null (no clipping)")
        if val_samples < 2:
            raise ValueError(f"val_samples={val_samples} must be >= 2")
        self.data_info = data_info
        self.normalizer = Normalizer.from_dict(data_info["normalizer"])
        self.channels = len(data_info["leads"])
        self.length = int(data_info["length"])
        self.scheduler_cfg = _plain(scheduler)
        self.grad_clip = grad_clip
        self.val_samples = int(val_samples)
        self.g_steps = 0  # generator (or autoencoder) optimizer steps; saved in checkpoints
        self.d_steps = 0  # discriminator / critic steps
        self.val_fd = SegmentFrechetDistance()
        self.val_mmd = SegmentMMD()
        self._val_real_seen = 0

    def _finish_hparams(self) -> None:
        """Plain containers only (weights_only-safe) and the ``model_kind`` that
        ``ecg_synth.models.load_model`` dispatches on."""
        for key, value in list(self.hparams.items()):
            self.hparams[key] = _plain(value)
        self.hparams["model_kind"] = self.model_kind

    # ---- units ---------------------------------------------------------------------------
    def to_mv(self, x: torch.Tensor) -> torch.Tensor:
        """Model units ``[N, C, L]`` -> millivolts (the training normaliser's inverse)."""
        return self.normalizer.inverse(x)

    # ---- optimisation ----------------------------------------------------------------------
    def on_train_start(self) -> None:
        """On resume Lightning restores each optimizer's state, its hyperparameters included, so
        a learning rate given on the command line would be silently dropped while the run
        folder records it. The config's values (the optimizer's constructor ``defaults``) win,
        with a warning. With a scheduler the restored schedule sets the rate and is kept."""
        if self.scheduler_cfg:
            return
        opts = self.optimizers()
        for opt in opts if isinstance(opts, list) else [opts]:
            for group in opt.param_groups:
                for key in sorted(OPTIMIZER_KEYS):
                    wanted = opt.optimizer.defaults[key]
                    if key in group and _as_tuple(group[key]) != _as_tuple(wanted):
                        log.warning(
                            "resumed %s optimizer: %s=%s from the checkpoint replaced by %s from "
                            "the config",
                            self._owner(group["params"][0]),
                            key,
                            group[key],
                            wanted,
                        )
                        group[key] = wanted

    def _owner(self, param: nn.Parameter) -> str:
        """The name of the network that holds ``param`` (for messages)."""
        for name, module in self.named_children():
            if any(p is param for p in module.parameters()):
                return name
        return "a"

    def _check_finite(self, name: str, value: torch.Tensor) -> None:
        if not torch.isfinite(value).all():
            raise FloatingPointError(
                f"{name} is {value.detach().float().cpu().tolist()} at epoch {self.current_epoch}, "
                f"global step {self.global_step} (generator step {self.g_steps}); stopped before "
                "the optimizer step, so the weights are unchanged and the last checkpoint was "
                "left intact. Lower the learning rate, set grad_clip, or train in 32-true "
                "precision."
            )

    @contextmanager
    def _frozen(self, network: nn.Module) -> Iterator[None]:
        """``network``'s parameters don't require gradients inside (their flags are restored
        after). Enter it *before* the forward pass whose loss steps the *other* network (the
        generator's loss runs through the discriminator): a graph built while the frozen
        network's weights required gradients would compute theirs too, in vain.

        Why not Lightning's ``toggle_optimizer``: it walks every optimizer's parameters twice
        per step, which costs more than the small latent GAN's optimizer step itself; each
        model here knows the one network to freeze."""
        params = list(network.parameters())
        flags = [p.requires_grad for p in params]
        for p in params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p, flag in zip(params, flags, strict=True):
                p.requires_grad_(flag)

    def _step(self, opt, loss: torch.Tensor, name: str) -> torch.Tensor:
        """One guarded step of ``opt`` on ``loss``; returns the norm of the gradients of
        ``opt``'s parameters (before clipping).

        zero_grad -> backward -> finite check of the loss and the gradient norm -> clip
        (``grad_clip``, by norm) -> step. A failed check raises before
        ``opt.step()``, so weights and optimizer state never see a NaN step. Under fp16 AMP
        with a GradScaler the norm is of scaled gradients; bf16 and fp32 need no scaler.
        """
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        # One fused (foreach) norm over all gradients: cheaper than a norm per tensor.
        grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads)
        # One host sync for both checks; the message then names the culprit.
        if not torch.isfinite(loss.detach() + norm):
            self._check_finite(f"train/{name}", loss)
            self._check_finite(f"gradient norm of train/{name}", norm)
        if self.grad_clip is not None:
            self.clip_gradients(
                opt, gradient_clip_val=self.grad_clip, gradient_clip_algorithm="norm"
            )
        opt.step()
        return norm

    def _schedulers(self) -> list:
        sch = self.lr_schedulers()
        return [] if sch is None else list(sch) if isinstance(sch, list) else [sch]

    def _step_schedulers(self, interval: str) -> None:
        if self.scheduler_cfg and self.scheduler_cfg.get("interval", "epoch") == interval:
            for sch in self._schedulers():
                sch.step()

    def on_train_epoch_end(self) -> None:
        self._step_schedulers("epoch")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["ecg_synth_counters"] = {"g_steps": self.g_steps, "d_steps": self.d_steps}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        counters = checkpoint.get("ecg_synth_counters", {})
        self.g_steps = int(counters.get("g_steps", 0))
        self.d_steps = int(counters.get("d_steps", 0))

    # ---- logging ---------------------------------------------------------------------------
    def _should_log(self) -> bool:
        """Whether Lightning writes this batch's step values to the loggers (every
        ``log_every_n_steps`` batches; always under fast_dev_run).

        Why ask: in Lightning 2.x every ``self.log`` call costs ~0.5 ms (its result collection
        walks the stored metric again on each call), over half the step time of the small
        latent GAN for eight values, while values logged on other steps are dropped anyway.
        Reads the logger connector's ``should_update_logs``; if a future Lightning moves it,
        every step logs (correct, only slower).
        """
        trainer = self.trainer
        if trainer.fast_dev_run:
            return True
        return bool(
            getattr(getattr(trainer, "_logger_connector", None), "should_update_logs", True)
        )

    def _log_train(self, metrics: dict[str, Any]) -> None:
        """Per-step training scalars under ``train/``. Call it only when ``_should_log()``:
        values logged on other steps never reach a logger, so don't compute them.

        The losses go through ``self.log`` (progress bar and ``callback_metrics``); the rest
        are handed to Lightning's logger connector in one call, which writes them to every
        logger at the same step ``self.log`` uses. Why: each ``self.log`` call walks its
        stored result's metadata (~0.1-0.5 ms in Lightning 2.6), more than a whole optimizer
        step of the small latent GAN for eight values. Without that connector (a future
        Lightning), everything goes through ``self.log``: correct, only slower.
        """
        connector = getattr(self.trainer, "_logger_connector", None)
        direct = callable(getattr(connector, "log_metrics", None))
        rest = {}
        for key, value in metrics.items():
            if key.startswith("loss") or not direct:
                # batch_size only weights epoch averages, which step values don't have;
                # giving it spares Lightning a walk over the batch to infer it.
                self.log(
                    f"train/{key}",
                    value,
                    on_step=True,
                    on_epoch=False,
                    prog_bar=key.startswith("loss"),
                    batch_size=1,
                )
            else:
                rest[f"train/{key}"] = value
        if rest:
            connector.log_metrics(rest)

    # ---- validation metric -------------------------------------------------------------------
    def _val_cap(self) -> int:
        """Rows of real (and fake) data per process, so the whole job uses ~val_samples."""
        return math.ceil(self.val_samples / max(1, self.trainer.world_size))

    def _val_take(self, batch_size: int, dataloader_idx: int = 0) -> slice | None:
        """Rows of this validation batch to feed: every k-th row, with k spreading the
        ``val_samples`` budget over the whole validation set (so all its subjects count), until
        the budget is used; None when it is."""
        cap = self._val_cap()
        left = cap - self._val_real_seen
        if left <= 0:
            return None
        trainer = self.trainer
        counts = (
            trainer.num_sanity_val_batches if trainer.sanity_checking else trainer.num_val_batches
        )
        n_batches = counts[dataloader_idx] if isinstance(counts, list) else counts
        total = n_batches * batch_size if math.isfinite(n_batches) else cap
        stride = max(1, math.ceil(total / cap))
        take = slice(0, min(batch_size, left * stride), stride)
        self._val_real_seen += len(range(batch_size)[take])
        return take

    def _val_log(self, prefix: str = "val") -> None:
        """Log ``val/fd`` (and its sampling noise ``val/fd_sd``) and ``val/mmd`` from what was
        fed, then reset."""
        if self.val_fd.real and self.val_fd.fake:
            value, sd = self.val_fd.compute_with_sd()
            self.log(f"{prefix}/fd", value.float(), sync_dist=True, prog_bar=True)
            self.log(f"{prefix}/fd_sd", sd.float(), sync_dist=True)
            self.log(f"{prefix}/mmd", self.val_mmd.compute().float(), sync_dist=True)
        self.val_fd.reset()
        self.val_mmd.reset()
        self._val_real_seen = 0

    def _val_update(self, x: torch.Tensor, real: bool) -> None:
        self.val_fd.update(x, real=real)
        self.val_mmd.update(x, real=real)

    def on_validation_epoch_start(self) -> None:
        self._val_real_seen = 0


class GenerativeModule(ECGModule):
    """Base of the generators. Subclasses build ``self.generator`` (called as
    ``generator(z, labels, subjects)``), then call ``self._setup_generative(self.generator)``."""

    def __init__(
        self,
        data_info: dict,
        condition: str,
        z_dim: int,
        ema: dict | None,
        scheduler: dict | None,
        grad_clip: float | None,
        val_samples: int,
        fixed_samples: int,
        seed: int,
    ) -> None:
        super().__init__(data_info, scheduler, grad_clip, val_samples)
        self.use_class, self.use_subject = parse_condition(condition)
        if z_dim < 1:
            raise ValueError(f"z_dim={z_dim} must be >= 1")
        if fixed_samples < 1:
            raise ValueError(f"fixed_samples={fixed_samples} must be >= 1")
        ema = _plain(ema) or {}
        unknown = set(ema) - {"enabled", "decay"}
        if unknown:
            raise ValueError(f"ema has unknown keys {sorted(unknown)}; expected enabled, decay")
        self.ema_enabled = bool(ema.get("enabled", False))
        self.ema_decay = float(ema.get("decay", 0.999))
        self.z_dim = int(z_dim)
        self.seed = int(seed)
        self.fixed_samples = int(fixed_samples)
        self.num_classes = len(data_info["classes"])
        self.num_subjects = len(data_info["subjects"])
        if self.use_subject and self.num_subjects == 0:
            raise ValueError("condition includes 'subject' but data_info['subjects'] is empty")
        counts = data_info["class_counts"]
        if isinstance(counts, dict):  # {class name: count} -> list in class order
            counts = [counts.get(c, 0) for c in data_info["classes"]]
        counts = torch.as_tensor(counts, dtype=torch.float64)
        if counts.shape != (self.num_classes,) or (counts < 0).any():
            raise ValueError(
                f"data_info['class_counts']={data_info['class_counts']} needs one "
                f"count >= 0 per class of {data_info['classes']}"
            )
        probs = counts / counts.sum() if counts.sum() > 0 else torch.full_like(counts, 1.0)
        self.register_buffer("class_probs", (probs / probs.sum()).float())
        self.ema: nn.Module | None = None
        # Set by a model whose generator also gives each beat's RR (components.rhythm): the
        # generator then returns (beats, rr) and rr_scaler maps rr back to seconds.
        self.rr_scaler: RRScaler | None = None
        self.val_rr = RRWasserstein()  # val/rr_w1, fed only when the model makes RR

    @property
    def makes_rr(self) -> bool:
        return self.rr_scaler is not None

    @property
    def latent_dim(self) -> int:
        """Standard normal draws per sample: ``z``, then the measurement noise's when the
        generator adds it (``components.noise.WithNoise``)."""
        return self.z_dim + getattr(self.generator, "noise_dim", 0)

    def _rr_scaler_from_info(self) -> RRScaler:
        """The training RR statistics a generator of RR needs (``data_info["rr_scaler"]``)."""
        if "rr_scaler" not in self.data_info:
            raise ValueError(
                f"generate_rr needs data_info['rr_scaler'] (the training split's RR "
                f"statistics); this data_info has only {sorted(self.data_info)}"
            )
        return RRScaler.from_dict(self.data_info["rr_scaler"])

    def _setup_generative(self, generator: nn.Module) -> None:
        """EMA copy of ``generator`` (if enabled) and the fixed noise / conditions buffers:
        every class with training data in turn, subjects in turn."""
        if self.ema_enabled:
            self.ema = make_ema(generator, self.ema_decay)
        g = torch.Generator().manual_seed(self.seed)
        n = self.fixed_samples
        self.register_buffer("fixed_z", torch.randn(n, self.latent_dim, generator=g))
        present = torch.nonzero(self.class_probs > 0).flatten()
        labels = present[torch.arange(n) % len(present)] if self.use_class else torch.full((n,), -1)
        subjects = torch.arange(n) % max(1, self.num_subjects) if self.use_subject else None
        self.register_buffer("fixed_labels", labels.long())
        self.register_buffer(
            "fixed_subjects", torch.full((n,), -1) if subjects is None else subjects.long()
        )

    def _generate(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None,
        subjects: torch.Tensor | None,
        use_ema: bool,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``z [B, latent_dim]`` (+ conditions) -> ``[B, C, L]`` model units (with ``makes_rr``:
        and the RR ``[B, 3]``): the generator, or its EMA copy. (The latent GAN decodes its
        generator's output.)"""
        return (self.ema.module if use_ema else self.generator)(z, labels, subjects)

    def _gan_optimizers(self, discriminator: nn.Module):
        """Adam for ``self.generator`` (``self.optimizer_g``) and ``discriminator``
        (``self.optimizer_d``), plus one scheduler each when configured."""
        opts = [
            adam(self.generator.parameters(), self.optimizer_g, "optimizer_g"),
            adam(discriminator.parameters(), self.optimizer_d, "optimizer_d"),
        ]
        if not self.scheduler_cfg:
            return opts
        return opts, [make_scheduler(opt, self.scheduler_cfg) for opt in opts]

    def _update_ema(self, generator: nn.Module) -> None:
        if self.ema is not None:
            self.ema.update_parameters(generator)

    def _conditions(
        self, labels: torch.Tensor | None, subjects: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Drop what the model is not conditioned on (networks get None for it)."""
        return (labels if self.use_class else None), (subjects if self.use_subject else None)

    # ---- sampling ----------------------------------------------------------------------------
    def _as_index(self, values: Index, n: int, name: str, high: int) -> torch.Tensor:
        t = torch.as_tensor(values, dtype=torch.long).flatten()
        if t.numel() == 1 and n != 1:
            t = t.expand(n)
        if t.numel() != n:
            raise ValueError(f"{name} has {t.numel()} entries for n={n} samples")
        if n and (t.min() < 0 or t.max() >= high):
            raise ValueError(
                f"{name} must lie in [0, {high}), got values in [{int(t.min())}, {int(t.max())}]"
            )
        return t

    def _draw_conditions(
        self, n: int, labels: Index | None, subjects: Index | None, g: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Labels / subjects ``[n]`` on CPU: as given, else drawn (classes from the training
        class distribution, subjects uniformly); -1 where the model is not conditioned."""
        if labels is not None and not self.use_class:
            raise ValueError(
                f"this {self.model_kind} model is not class-conditional "
                "(condition has no 'class'); pass labels=None"
            )
        if subjects is not None and not self.use_subject:
            raise ValueError(
                f"this {self.model_kind} model is not subject-conditional "
                "(condition has no 'subject'); pass subjects=None"
            )
        if not self.use_class:
            lab = torch.full((n,), -1, dtype=torch.long)
        elif labels is None:
            lab = (
                torch.multinomial(self.class_probs.cpu(), n, replacement=True, generator=g)
                if n
                else torch.empty(0, dtype=torch.long)
            )
        else:
            lab = self._as_index(labels, n, "labels", self.num_classes)
        if not self.use_subject:
            sub = torch.full((n,), -1, dtype=torch.long)
        elif subjects is None:
            sub = torch.randint(self.num_subjects, (n,), generator=g)
        else:
            sub = self._as_index(subjects, n, "subjects", self.num_subjects)
        return lab, sub

    @torch.no_grad()
    def _sample_model_units(
        self,
        n: int,
        labels: Index | None,
        subjects: Index | None,
        seed: int | None,
        batch_size: int,
        use_ema: bool | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``[n, C, L]`` model units on the module's device, the labels ``[n]`` and, with
        ``makes_rr``, the RR ``[n, 3]`` (model units; else None)."""
        if n < 0 or batch_size < 1:
            raise ValueError(f"sample needs n >= 0 and batch_size >= 1, got {n}, {batch_size}")
        use_ema = self.ema is not None if use_ema is None else use_ema
        if use_ema and self.ema is None:
            raise ValueError("use_ema=True but this model was trained without ema.enabled")
        g = None if seed is None else torch.Generator().manual_seed(int(seed))
        lab, sub = self._draw_conditions(n, labels, subjects, g)
        # On CPU the forward pass streams through the generator in chunks of CPU_CHUNK rows:
        # their activations stay in cache, which measured ~2.4x faster than 4096-row passes
        # (bench/bench_train.py). Results do not depend on it (eval mode is per sample).
        chunk = min(batch_size, CPU_CHUNK) if self.device.type == "cpu" else batch_size
        was_training = self.training
        self.eval()
        try:
            out = torch.empty(n, self.channels, self.length, device=self.device)
            rr = torch.empty(n, RR_FEATURES, device=self.device) if self.makes_rr else None
            for start in range(0, n, batch_size):
                b = min(batch_size, n - start)
                z = torch.randn(b, self.latent_dim, generator=g).to(self.device)
                y, s = self._conditions(
                    lab[start : start + b].to(self.device), sub[start : start + b].to(self.device)
                )
                for i in range(0, b, chunk):
                    part, rows = slice(i, i + chunk), slice(start + i, start + i + chunk)
                    x, x_rr = beats_and_rr(
                        self._generate(
                            z[part],
                            None if y is None else y[part],
                            None if s is None else s[part],
                            use_ema,
                        )
                    )
                    out[rows] = x
                    if rr is not None:
                        rr[rows] = x_rr
        finally:
            self.train(was_training)
        return out, lab, rr

    def sample(
        self,
        n: int,
        labels: Index | None = None,
        subjects: Index | None = None,
        seed: int | None = None,
        batch_size: int = 4096,
        use_ema: bool | None = None,
        with_rr: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``n`` synthetic segments ``[n, C, L]`` float32 in mV, on CPU; with ``with_rr`` (a
        model that ``makes_rr``) also each beat's RR ``[n, 3]`` seconds (previous, next,
        local mean), generated with it.

        labels: None (drawn from the training class distribution; the model must be
        class-conditional to honour labels), an int, or ``n`` ints in ``[0, n_classes)``.
        subjects: likewise for subject-conditional models (indices into data_info["subjects"];
        None draws them uniformly). seed: the same seed gives the same segments. Works in
        batches of ``batch_size``; eval mode inside, the previous mode restored. Uses the EMA
        generator when the model has one (``use_ema=False`` for the raw weights).
        """
        if with_rr and not self.makes_rr:
            raise ValueError(
                f"this {self.model_kind} model does not generate RR (train it with "
                "model.generate_rr=true); call sample without with_rr"
            )
        x, _, rr = self._sample_model_units(n, labels, subjects, seed, batch_size, use_ema)
        x = self.to_mv(x.cpu())
        return (x, self.rr_scaler.inverse(rr.float()).cpu()) if with_rr else x

    @torch.no_grad()
    def generate_fixed(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Segments from the checkpointed fixed noise: ``(signals [n, C, L] mV on CPU,
        labels [n])``; labels are -1 when the model is not class-conditional."""
        was_training = self.training
        self.eval()
        try:
            y, s = self._conditions(self.fixed_labels, self.fixed_subjects)
            x, _ = beats_and_rr(self._generate(self.fixed_z, y, s, self.ema is not None))
            x = x.float()
        finally:
            self.train(was_training)
        return self.to_mv(x.cpu()), self.fixed_labels.cpu()

    # ---- validation ----------------------------------------------------------------------------
    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        take = self._val_take(len(batch["signal"]), dataloader_idx)
        if take is not None:
            self._val_update(batch["signal"][take], real=True)
            if self.makes_rr:
                self.val_rr.update(self.rr_scaler.transform(batch["rr"][take]), real=True)

    def on_validation_epoch_end(self) -> None:
        """Generate the fixed budget with a fixed seed (per process) and log val/fd, val/mmd
        (and val/rr_w1 for a model that makes RR)."""
        if self.val_fd.real:
            fake, _, fake_rr = self._sample_model_units(
                self._val_cap(),
                None,
                None,
                seed=self.seed + 1 + self.global_rank,
                batch_size=4096,
                use_ema=None,
            )
            self._val_update(fake, real=False)
            if fake_rr is not None and self.val_rr.real:
                self.val_rr.update(fake_rr, real=False)
                self.log("val/rr_w1", self.val_rr.compute().float(), sync_dist=True)
        self.val_rr.reset()
        self._val_log()
