"""``ModelCheckpoint`` whose ``last.ckpt`` always holds the newest state.

Why: since Lightning 2.2, ``save_last=True`` writes ``last.ckpt`` only in a step where a top-k
checkpoint was written too. Once the monitored metric stops improving (``val/fd`` of a GAN
plateaus early), ``last.ckpt`` froze there: a 5-minute run that trained 21 epochs left a
``last.ckpt`` of epoch 7, so ``resume=true`` would have thrown 14 epochs away and "last"
meant "best". A run stopped by ``max_time`` or ``max_steps`` between validations lost its
final steps the same way.
"""

from __future__ import annotations

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint as _LightningModelCheckpoint


class ModelCheckpoint(_LightningModelCheckpoint):
    """Lightning's ``ModelCheckpoint``, plus: with ``save_last``, ``last.ckpt`` is rewritten at
    every validation end and at the end of training unless that step was saved already."""

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
