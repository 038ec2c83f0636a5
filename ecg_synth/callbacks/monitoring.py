"""Throughput, epoch time and memory, logged to every logger under ``perf/``."""

from __future__ import annotations

import resource
import sys
import time

import lightning.pytorch as pl
import torch


class Throughput(pl.Callback):
    """Logs ``perf/samples_per_sec`` (real segments per second of training step, all
    processes), ``perf/epoch_samples_per_sec`` (the same over the whole epoch, data loading
    and logging included), ``perf/epoch_time_s``, ``perf/max_rss_mb`` and, on CUDA,
    ``perf/gpu_max_mem_mb``."""

    def __init__(self) -> None:
        self._epoch_start = 0.0
        self._step_start = 0.0
        self._epoch_samples = 0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_start = time.perf_counter()
        self._epoch_samples = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._step_start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        elapsed = time.perf_counter() - self._step_start
        n = len(batch["signal"]) * trainer.world_size
        self._epoch_samples += n
        if elapsed > 0:
            pl_module.log(
                "perf/samples_per_sec",
                n / elapsed,
                on_step=True,
                on_epoch=False,
                rank_zero_only=True,
                batch_size=n,  # given, so Lightning does not walk the batch to infer it
            )

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        elapsed = time.perf_counter() - self._epoch_start
        metrics = {
            "perf/epoch_time_s": elapsed,
            "perf/epoch_samples_per_sec": self._epoch_samples / max(elapsed, 1e-9),
            "perf/max_rss_mb": _max_rss_mb(),
        }
        if torch.cuda.is_available() and pl_module.device.type == "cuda":
            metrics["perf/gpu_max_mem_mb"] = (
                torch.cuda.max_memory_allocated(pl_module.device) / 2**20
            )
        pl_module.log_dict(metrics, rank_zero_only=True)


def _max_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in kilobytes on Linux and bytes on macOS.
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10
