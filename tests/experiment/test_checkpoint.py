"""``last.ckpt`` (ecg_synth.callbacks.ModelCheckpoint) holds the newest training state, also
after the monitored metric stopped improving and when a run stops between validations."""

from __future__ import annotations

import torch
from hydra.utils import instantiate
from lightning.pytorch.demos.boring_classes import BoringModel

from ecg_synth.registry import run_checkpoint
from tests.helpers import best_and_last_checkpoint, compose_train, quiet_trainer


class FlatMetric(BoringModel):
    """A model whose monitored metric never improves after the first validation."""

    def validation_step(self, batch, batch_idx):
        self.log("val/fd", 1.0 + self.current_epoch)
        return super().validation_step(batch, batch_idx)


def _fit(root, model=None, checkpoint=None, **trainer_kwargs):
    trainer = quiet_trainer(
        limit_train_batches=4,
        limit_val_batches=1,
        enable_checkpointing=True,
        default_root_dir=root,
        callbacks=[checkpoint or best_and_last_checkpoint(root)],
        **trainer_kwargs,
    )
    trainer.fit(model or FlatMetric())
    return trainer, root / "checkpoints"


def _saved(path):
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return ckpt["epoch"], ckpt["global_step"]


def test_last_checkpoint_follows_training_after_the_metric_stops_improving(tmp_path):
    trainer, ckpts = _fit(tmp_path, max_epochs=3, check_val_every_n_epoch=1)
    assert [p.name for p in ckpts.glob("best-*.ckpt")] == ["best-epoch000.ckpt"]
    # Lightning's own callback left last.ckpt at epoch 0, step 4 here
    assert trainer.global_step == 12
    assert _saved(ckpts / "last.ckpt") == (2, 12)


def test_last_checkpoint_holds_the_final_step_of_a_run_stopped_between_validations(tmp_path):
    trainer, ckpts = _fit(tmp_path, max_epochs=10, max_steps=10, check_val_every_n_epoch=2)
    assert trainer.global_step == 10
    assert _saved(ckpts / "last.ckpt")[1] == 10  # not step 8 of the last validation


class TwoMetrics(BoringModel):
    """val/fd gets worse every epoch while val/mmd gets better until epoch 2, then worse."""

    def validation_step(self, batch, batch_idx):
        self.log("val/fd", 1.0 + self.current_epoch)
        self.log("val/mmd", [0.9, 0.5, 0.1, 0.7][self.current_epoch])
        return super().validation_step(batch, batch_idx)


def test_best_checkpoints_are_named_after_the_monitored_metric(tmp_path):
    # The default config's file names said "fd" whatever the monitor; kept by val/mmd with
    # save_top_k=2, the registry's name rule (no metrics.json) then took the lower-fd file,
    # the worse of the two by the run's own metric.
    cfg = compose_train(
        tmp_path / "run",
        ["callbacks.model_checkpoint.monitor=val/mmd", "callbacks.model_checkpoint.save_top_k=2"],
    )
    checkpoint = instantiate(cfg.callbacks.model_checkpoint, dirpath=str(tmp_path / "checkpoints"))
    _, ckpts = _fit(tmp_path, TwoMetrics(), checkpoint, max_epochs=4)
    names = sorted(p.name for p in ckpts.glob("best-*.ckpt"))
    assert names == ["best-epoch001-mmd0.5000.ckpt", "best-epoch002-mmd0.1000.ckpt"]
    assert run_checkpoint(tmp_path).name == "best-epoch002-mmd0.1000.ckpt"
    # ...and the default monitor keeps the default names
    default = instantiate(compose_train(tmp_path / "run2").callbacks.model_checkpoint)
    assert default.filename == "best-epoch{epoch:03d}-fd{val/fd:.4f}"
