"""The mode-collapse monitor in real Lightning training: it fires on a collapsed generator
(one template per class) and not on a healthy one (real validation beats replayed).

Both stand-ins replace the generator network of a real WGAN-GP built from the composed
configs, so sampling, conditioning, units and the training loop are the real ones."""

from __future__ import annotations

import dataclasses
import json
import warnings

import hydra
import numpy as np
import pytest
import torch
from torch import nn

from ecg_synth.callbacks import CollapseMonitor, ModeCollapseWarning, RunMetrics
from tests.helpers import compose_train, quiet_trainer


class ClassTemplates(nn.Module):
    """Collapsed: the training mean of the requested class, whatever the noise."""

    def __init__(self, templates: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("templates", templates)  # [n_classes, C, L] model units
        self.offset = nn.Parameter(torch.zeros(1))  # gives the generator step a gradient

    def forward(self, z, labels=None, subjects=None):
        labels = torch.zeros(len(z), dtype=torch.long) if labels is None else labels
        return self.templates[labels] + self.offset


class RealReplay(nn.Module):
    """Healthy stand-in: a real validation beat of the requested class, chosen by the noise."""

    def __init__(self, bank: torch.Tensor, bank_labels: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("bank", bank)  # [N, C, L] model units
        self.register_buffer("bank_labels", bank_labels)  # [N]
        self.offset = nn.Parameter(torch.zeros(1))

    def forward(self, z, labels=None, subjects=None):
        pick = (z[:, 0].abs() * 1e4).long()
        idx = pick % len(self.bank)
        if labels is not None:
            for c in labels.unique():
                pool = torch.nonzero(self.bank_labels == c).flatten()
                rows = labels == c
                if len(pool):
                    idx[rows] = pool[pick[rows] % len(pool)]
        return self.bank[idx] + 0 * self.offset


def _fit(tiny, generator_for, tmp_path, stop: bool, max_epochs: int = 3):
    cfg, dm = tiny
    model = hydra.utils.instantiate(cfg.model, data_info=dm.data_info(), _convert_="all")
    norm = dm.normalizer
    train, val = dm.segments["train"], dm.segments["val"]
    model.generator = generator_for(norm, train, val)
    monitor = CollapseMonitor(
        every_n_epochs=1, n_samples=256, threshold=0.5, stop=stop, warmup_epochs=0
    )
    trainer = quiet_trainer(
        max_epochs=max_epochs,
        limit_train_batches=2,
        limit_val_batches=1,
        default_root_dir=tmp_path,
        callbacks=[monitor, RunMetrics()],
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ModeCollapseWarning)
        trainer.fit(model, datamodule=dm)
    collapse_warnings = [w for w in caught if issubclass(w.category, ModeCollapseWarning)]
    return trainer, monitor, collapse_warnings, json.loads((tmp_path / "metrics.json").read_text())


def _templates(norm, train, val):
    x = norm.transform(train.signals)
    means = np.stack(
        [x[train.labels == c].mean(0) if (train.labels == c).any() else x.mean(0) for c in range(5)]
    )
    return ClassTemplates(torch.from_numpy(means).float())


def _replay(norm, train, val):
    # Unclipped model units, so the replayed beats come back in mV exactly as recorded.
    exact = dataclasses.replace(norm, clip=False)
    return RealReplay(
        torch.from_numpy(exact.transform(val.signals)).float(), torch.from_numpy(val.labels).long()
    )


def test_collapsed_generator_triggers_warning_and_stops_training(tiny, tmp_path):
    trainer, monitor, caught, doc = _fit(tiny, _templates, tmp_path, stop=True)
    assert monitor.last_ratio < 0.05  # one template per class: no within-class spread
    assert len(caught) == 1 and "possible mode collapse at epoch 0" in str(caught[0].message)
    assert trainer.current_epoch == 1  # stopped after the first of 3 epochs
    assert doc["status"] == "stopped" and doc["stop_reason"].startswith("collapse:")
    assert doc["history"][0]["monitor/diversity_ratio"] == pytest.approx(monitor.last_ratio)


def test_collapse_without_stop_only_warns(tiny, tmp_path):
    trainer, _, caught, doc = _fit(tiny, _templates, tmp_path, stop=False, max_epochs=2)
    assert len(caught) == 2 and trainer.current_epoch == 2
    assert doc["status"] == "finished"


def test_healthy_generator_passes_every_check(tiny, tmp_path):
    trainer, monitor, caught, doc = _fit(tiny, _replay, tmp_path, stop=True)
    assert caught == []
    assert trainer.current_epoch == 3 and doc["status"] == "finished"
    ratios = [row["monitor/diversity_ratio"] for row in doc["history"]]
    assert len(ratios) == 3 and all(0.85 < r < 1.15 for r in ratios), ratios


def test_monitor_rejects_bad_settings():
    with pytest.raises(ValueError, match="threshold"):
        CollapseMonitor(threshold=1.5)
    with pytest.raises(ValueError, match="n_samples"):
        CollapseMonitor(n_samples=1)


def test_monitoring_callbacks_option_adds_collapse_monitor_and_early_stopping(tmp_path):
    from lightning.pytorch.callbacks import EarlyStopping

    from ecg_synth.callbacks import ModelCheckpoint
    from ecg_synth.tasks import instantiate_group

    cfg = compose_train(tmp_path, ["callbacks=monitoring"])
    callbacks = instantiate_group(cfg.callbacks)
    kinds = {type(c) for c in callbacks}
    assert {CollapseMonitor, EarlyStopping, ModelCheckpoint, RunMetrics} <= kinds
    early = next(c for c in callbacks if isinstance(c, EarlyStopping))
    assert early.monitor == "val/fd" and early.mode == "min"
    # Early stopping follows the checkpoint metric (the autoencoder selects on val/rmse).
    cfg = compose_train(tmp_path, ["callbacks=monitoring", "experiment=autoencoder_sim"])
    assert cfg.callbacks.early_stopping.monitor == "val/rmse"
