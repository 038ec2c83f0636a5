"""Between-patient augmentation of training beats (``dataset.augment``): what each draw does
to a beat, config errors, and that Lightning applies it to training batches only."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch

from ecg_synth.data.augment import BeatAugment
from ecg_synth.data.normalize import Normalizer
from ecg_synth.data.wfdb_io import DataError
from tests.data.test_datamodule import make_dm
from tests.helpers import quiet_trainer

L_, R = 256, 90
NORM = Normalizer("global", offset=np.array([0.2]), scale=np.array([2.0]))


def _beats(n: int, bump_at: int = R + 40) -> torch.Tensor:
    """``n`` beats in mV: an R spike at ``R`` and a smaller bump (a "T wave") at ``bump_at``."""
    t = torch.arange(L_, dtype=torch.float32)
    beat = 1.5 * torch.exp(-0.5 * ((t - R) / 3) ** 2) + 0.4 * torch.exp(
        -0.5 * ((t - bump_at) / 6) ** 2
    )
    return beat.expand(n, 1, L_).clone()


def _to_model(mv):
    return (mv - 0.2) / 2.0


def _to_mv(x):
    return x * 2.0 + 0.2


def _aug(**kw) -> BeatAugment:
    return BeatAugment.from_config(kw, NORM, R, L_)


def test_gain_scales_each_beat_by_one_lognormal_factor():
    torch.manual_seed(0)
    mv = _beats(4000)
    out = _to_mv(_aug(amplitude_sd=0.2)(_to_model(mv)))
    ratio = out[:, 0, R] / mv[:, 0, R]
    torch.testing.assert_close(out, mv * ratio.view(-1, 1, 1), atol=1e-5, rtol=1e-5)
    assert ratio.log().std().item() == pytest.approx(0.2, rel=0.05)
    assert abs(ratio.log().mean().item()) < 0.02


def test_baseline_adds_one_offset_per_beat():
    torch.manual_seed(0)
    mv = _beats(4000)
    shift = _to_mv(_aug(baseline_mv=0.05)(_to_model(mv))) - mv
    assert (shift.std(dim=-1) < 1e-5).all()  # constant along each beat
    assert shift[:, 0, 0].std().item() == pytest.approx(0.05, rel=0.05)


def test_time_stretch_keeps_the_r_peak_and_moves_later_waves_by_the_factor():
    torch.manual_seed(0)
    mv = _beats(2000)
    out = _to_mv(_aug(time_scale=0.1)(_to_model(mv)))
    peaks = out[:, 0, : R + 20].argmax(dim=1)
    assert (peaks == R).all()
    bump = out[:, 0, R + 20 :].argmax(dim=1) + R + 20  # 40 samples after R, times s
    offsets = (bump - R).float()
    assert offsets.min() >= 40 * 0.9 - 1 and offsets.max() <= 40 * 1.1 + 1
    assert offsets.std() > 1.5  # varies from beat to beat (uniform over +-4 samples: sd 2.3)


def test_all_zero_or_missing_config_means_no_augmentation_and_bad_keys_fail():
    assert BeatAugment.from_config({}, NORM, R, L_) is None
    assert BeatAugment.from_config({"amplitude_sd": 0.0, "time_scale": 0}, NORM, R, L_) is None
    with pytest.raises(DataError, match="unknown keys \\['gain'\\]"):
        BeatAugment.from_config({"gain": 0.1}, NORM, R, L_)
    with pytest.raises(DataError, match="amplitude_sd=-0.1"):
        _aug(amplitude_sd=-0.1)
    with pytest.raises(DataError, match="time_scale=0.6"):
        _aug(time_scale=0.6)


def test_clipping_normaliser_keeps_augmented_data_in_range():
    torch.manual_seed(0)
    clip = Normalizer("global", offset=np.array([0.0]), scale=np.array([1.0]), clip=True)
    x = BeatAugment.from_config({"amplitude_sd": 1.0}, clip, R, L_)(_beats(500) / 1.5)
    assert x.abs().max() <= 1.0 and x.abs().max() == 1.0


class _Recorder(L.LightningModule):
    """Keeps the signals of the batches Lightning hands to training and validation."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen: dict[str, list[torch.Tensor]] = {"train": [], "val": []}

    def training_step(self, batch, batch_idx):
        self.seen["train"].append(batch["signal"])
        return (self.w * batch["signal"].mean()).sum()

    def validation_step(self, batch, batch_idx):
        self.seen["val"].append(batch["signal"])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def _rows_in(rows: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Whether each row of ``rows`` equals some row of ``table``."""
    return (rows.flatten(1)[:, None] == table.flatten(1)[None]).all(dim=-1).any(dim=1)


def test_lightning_varies_training_batches_only(tiny_db, tmp_path):
    dm = make_dm(tiny_db, tmp_path, augment={"amplitude_sd": 0.1, "time_scale": 0.05})
    model = _Recorder()
    trainer = quiet_trainer(
        max_epochs=1, limit_train_batches=3, limit_val_batches=1, default_root_dir=tmp_path
    )
    trainer.fit(model, datamodule=dm)
    train_table, val_table = (
        dm.datasets["train"].tensors["signal"],
        dm.datasets["val"].tensors["signal"],
    )
    assert not _rows_in(torch.cat(model.seen["train"]), train_table).any()
    assert _rows_in(torch.cat(model.seen["val"]), val_table).all()
    with pytest.raises(DataError, match="augment: unknown keys"):
        make_dm(tiny_db, tmp_path / "b", augment={"stretch": 0.1})
