"""``metrics.json`` of a run (RunMetrics): written during the fit, final at its end, carried
through a resume, and marked failed when the fit raises."""

from __future__ import annotations

import json

import hydra
import lightning.pytorch as pl
import pytest

from ecg_synth.callbacks import RunMetrics
from tests.helpers import best_and_last_checkpoint, quiet_trainer


def _trainer(root, max_epochs: int) -> pl.Trainer:
    checkpoint = best_and_last_checkpoint(root)
    return quiet_trainer(
        max_epochs=max_epochs,
        limit_train_batches=2,
        limit_val_batches=1,
        enable_checkpointing=True,
        default_root_dir=root,
        callbacks=[checkpoint, RunMetrics()],
    )


def _model(tiny):
    cfg, dm = tiny
    return hydra.utils.instantiate(cfg.model, data_info=dm.data_info(), _convert_="all"), dm


def test_metrics_file_records_best_checkpoint_and_continues_across_resume(tiny, tmp_path):
    model, dm = _model(tiny)
    _trainer(tmp_path / "first", 1).fit(model, datamodule=dm)
    first = json.loads((tmp_path / "first" / "metrics.json").read_text())
    assert first["status"] == "finished" and first["epochs"] == 1
    assert first["best"]["checkpoint"].startswith("checkpoints/best-epoch000")
    assert first["last_checkpoint"] == "checkpoints/last.ckpt"
    assert first["best"]["value"] == pytest.approx(first["history"][0]["val/fd"])
    assert first["final"]["best/val/fd"] == pytest.approx(first["best"]["value"])

    model, dm = _model(tiny)
    trainer = _trainer(tmp_path / "resumed", 2)
    trainer.fit(model, datamodule=dm, ckpt_path=tmp_path / "first/checkpoints/last.ckpt")
    resumed = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert [row["epoch"] for row in resumed["history"]] == [0, 1]
    assert resumed["history"][0] == first["history"][0]
    values = [row["val/fd"] for row in resumed["history"]]
    assert resumed["best"]["value"] == pytest.approx(min(values))
    assert resumed["epochs"] == 2


def test_a_fit_that_raises_is_recorded_as_failed(tiny, tmp_path):
    class Exploding(pl.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            raise FloatingPointError("train/loss_d is nan")

    model, dm = _model(tiny)
    trainer = _trainer(tmp_path, 2)
    trainer.callbacks.append(Exploding())
    with pytest.raises(FloatingPointError):
        trainer.fit(model, datamodule=dm)
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["status"] == "failed" and doc["error"] == "FloatingPointError: train/loss_d is nan"


def test_early_stopping_is_recorded_and_said(tiny, tmp_path, caplog):
    from lightning.pytorch.callbacks import EarlyStopping

    model, dm = _model(tiny)
    trainer = _trainer(tmp_path, 6)
    # val/fd must fall by 1e6 to count: the run stops after patience=1 epoch without that
    trainer.callbacks.append(EarlyStopping("val/fd", min_delta=1e6, patience=1))
    with caplog.at_level("INFO", logger="ecg_synth.callbacks.run_metrics"):
        trainer.fit(model, datamodule=dm)
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["status"] == "stopped" and doc["epochs"] < 6
    assert doc["stop_reason"].startswith("early stopping on val/fd at epoch")
    assert f"Training stopped at epoch {trainer.current_epoch}: early stopping on val/fd" in (
        caplog.text
    )
