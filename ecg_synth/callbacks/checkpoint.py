"""``ModelCheckpoint`` whose ``last.ckpt`` always holds the newest state, and whose best files
are named after the metric that chose them.

Why: since Lightning 2.2, ``save_last=True`` writes ``last.ckpt`` only in a step where a top-k
checkpoint was written too. Once the monitored metric stops improving (``val/fd`` of a GAN
plateaus early), ``last.ckpt`` froze there: a 5-minute run that trained 21 epochs left a
``last.ckpt`` of epoch 7, so ``resume=true`` would have thrown 14 epochs away and "last"
meant "best". A run stopped by ``max_time`` or ``max_steps`` between validations lost its
final steps the same way.
"""

from __future__ import annotations

import re

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint as _LightningModelCheckpoint


class ModelCheckpoint(_LightningModelCheckpoint):
    """Lightning's ``ModelCheckpoint``, plus: with ``save_last``, ``last.ckpt`` is rewritten at
    every validation end and at the end of training unless that step was saved already; without
    a ``filename``, best files are ``best-epoch012-<metric>0.1234.ckpt`` after ``monitor``
    (``val/mmd`` -> ``mmd``), the names ``ecg_synth.registry`` reads when metrics.json is missing.
    """

    def __init__(self, *args, filename: str | None = None, **kwargs) -> None:
        monitor = kwargs.get("monitor")
        if filename is None and monitor:
            name = re.sub(r"[^a-z_]", "_", monitor.rsplit("/", 1)[-1].lower())
            filename = f"best-epoch{{epoch:03d}}-{name}{{{monitor}:.4f}}"
            kwargs.setdefault("auto_insert_metric_name", False)
        super().__init__(*args, filename=filename, **kwargs)

    def _save_last_if_stale(self, trainer: pl.Trainer) -> None:
        # the skip check also covers "this global step is saved already"
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_stale(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_stale(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self._save_last_if_stale(trainer)
