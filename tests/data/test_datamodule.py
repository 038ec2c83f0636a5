"""ECGDataModule: batch contract, train-only normalisation, samplers, configs, Lightning."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ecg_synth.data.datamodule import ECGDataModule, draw_weights
from ecg_synth.data.normalize import Normalizer, RRScaler
from ecg_synth.data.wfdb_io import DataError
from tests.helpers import quiet_trainer

CONF = Path(__file__).resolve().parents[2] / "conf" / "dataset"
PRE = {"bandpass": {"enabled": True, "low_hz": 0.5, "high_hz": 40.0, "order": 2}}
BEATS = {"kind": "beat", "pre_s": 0.25, "post_s": 0.45, "length": 256}


def make_dm(root, cache, **kw) -> ECGDataModule:
    args = dict(
        source={"kind": "wfdb", "root": str(root), "leads": ["MLII"]},
        preprocess=PRE,
        segment=BEATS,
        normalize={"mode": "global", "quantile": 0.001},
        split={"mode": "random_records", "fractions": [0.5, 0.25, 0.25]},
        batch_size=16,
        val_batch_size=64,
        cache_dir=str(cache),
        seed=7,
    )
    args.update(kw)
    dm = ECGDataModule(**args)
    dm.prepare_data()
    dm.setup("fit")
    return dm


@pytest.fixture(scope="module")
def dm(tiny_db, tmp_path_factory):
    return make_dm(tiny_db, tmp_path_factory.mktemp("cache"))


def test_batch_contract(dm):
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"signal", "label", "subject", "rr"}
    assert batch["signal"].shape == (16, 1, 256) and batch["signal"].dtype == torch.float32
    assert batch["label"].shape == (16,) and batch["label"].dtype == torch.int64
    assert batch["subject"].dtype == torch.int64 and batch["rr"].shape == (16, 3)
    assert batch["rr"].dtype == torch.float32 and (batch["rr"] > 0.5).all()
    assert (batch["subject"] >= 0).all() and (batch["subject"] < len(dm.subjects)).all()
    val = next(iter(dm.val_dataloader()))
    assert (val["subject"] == -1).all()  # val records are other patients
    assert dm.train_dataloader().drop_last and not dm.val_dataloader().drop_last
    n_val = sum(len(b["label"]) for b in dm.val_dataloader())
    assert n_val == len(dm.segments["val"])


def test_metadata(dm, tiny_db):
    assert (dm.fs, dm.length, dm.leads, dm.r_index) == (360.0, 256, ["MLII"], 90)
    assert dm.classes == ("N", "S", "V", "F", "Q")
    assert dm.subjects == sorted(set(dm.segments["train"].records.tolist()))
    assert len(dm.subjects) == 4
    assert dm.fingerprint["skipped"] == {"900": "missing lead"}
    info = json.loads(json.dumps(dm.data_info()))  # JSON-able
    assert info["normalizer"] == dm.normalizer.to_dict() and info["r_index"] == 90
    assert sum(info["class_counts"].values()) == len(dm.segments["train"])
    table = dm.summary()
    assert "train" in table and "test" in table and dm.subjects[0] in table


def test_normaliser_fitted_on_train_and_round_trips(dm):
    train = dm.segments["train"].signals
    ref = Normalizer.fit(train, "global", 0.001)
    np.testing.assert_allclose(dm.normalizer.offset, ref.offset)
    np.testing.assert_allclose(dm.normalizer.scale, ref.scale)
    for split in ("train", "test"):
        x = dm.datasets[split].tensors["signal"]
        mv = dm.segments[split].signals
        back = dm.normalizer.inverse(x).numpy()
        inside = x.abs().numpy() < 1 - 1e-6  # global mode clips beyond the train quantiles
        assert inside.mean() > 0.95
        np.testing.assert_allclose(back[inside], mv[inside], atol=1e-5)


def test_rr_scaler_fitted_on_train_rr_and_round_trips(dm):
    """data_info carries the training RR statistics a generator of RR maps its output with:
    standardised log seconds, so train RR has mean 0 and sd 1 in model units."""
    train_rr = dm.datasets["train"].tensors["rr"]
    scaler = RRScaler.from_dict(json.loads(json.dumps(dm.data_info()["rr_scaler"])))
    u = scaler.transform(train_rr.double())
    np.testing.assert_allclose(u.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(u.std(0, unbiased=False), 1, atol=1e-6)
    rr = dm.datasets["test"].tensors["rr"].double()
    np.testing.assert_allclose(scaler.inverse(scaler.transform(rr)), rr, rtol=1e-9)
    assert (scaler.inverse(torch.tensor([[-50.0, 0.0, 50.0]])) > 0).all()  # always an interval
    for bad in ({"log_mean": [0.0] * 3}, {"log_mean": [0.0] * 3, "log_std": [1.0, 0.0, 1.0]}):
        with pytest.raises(ValueError, match="RR scaler description"):
            RRScaler.from_dict(bad)
    with pytest.raises(ValueError, match=r"rr \[N, 3\]"):
        RRScaler.fit(np.zeros((4, 2)))


def test_zscore_round_trip_exact(tiny_db, tmp_path):
    dm = make_dm(tiny_db, tmp_path, normalize={"mode": "zscore"})
    back = dm.normalizer.inverse(dm.datasets["val"].tensors["signal"]).numpy()
    np.testing.assert_allclose(back, dm.segments["val"].signals, atol=1e-5)


def test_setup_is_idempotent_and_seeded(dm, tiny_db, tmp_path):
    datasets = dict(dm.datasets)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.datasets == datasets  # same objects: nothing rebuilt
    first, again = (
        next(iter(make_dm(tiny_db, tmp_path).train_dataloader()))["label"] for _ in range(2)
    )
    assert torch.equal(first, again)
    loader = make_dm(tiny_db, tmp_path).train_dataloader()

    def epoch(k: int) -> torch.Tensor:
        loader.sampler.set_epoch(k)  # what Lightning's fit loop calls every epoch
        return torch.cat([b["label"] for b in loader])

    assert not torch.equal(epoch(0), epoch(1))  # each epoch reshuffles
    # The order depends on the epoch alone, so a run resumed at epoch 1 sees epoch 1's order.
    assert torch.equal(epoch(1), epoch(1))


def test_balanced_sampler_balances_classes(tiny_db, tmp_path):
    plain = make_dm(tiny_db, tmp_path, batch_size=8)
    balanced = make_dm(tiny_db, tmp_path, batch_size=8, balanced_sampler=True)
    present = np.flatnonzero(np.bincount(balanced.segments["train"].labels, minlength=5))

    def drawn(dm):
        loader = dm.train_dataloader()
        labels = []
        for k in range(20):  # 20 epochs
            loader.sampler.set_epoch(k)
            labels += [b["label"] for b in loader]
        labels = torch.cat(labels)
        return np.bincount(labels.numpy(), minlength=5)[present] / len(labels)

    base, even = drawn(plain), drawn(balanced)
    assert base.max() > 2.5 * base.min()  # N dominates the natural distribution
    np.testing.assert_allclose(even, 1 / len(present), atol=0.04)
    # balance_power=0.5 draws each class by the square root of its count.
    sqrt = make_dm(tiny_db, tmp_path, batch_size=8, balanced_sampler=True, balance_power=0.5)
    counts = np.sqrt(np.bincount(sqrt.segments["train"].labels, minlength=5)[present])
    np.testing.assert_allclose(drawn(sqrt), counts / counts.sum(), atol=0.04)
    with pytest.raises(DataError, match="balance_power must lie in"):
        make_dm(tiny_db, tmp_path, balanced_sampler=True, balance_power=2.0)


def test_draw_weights_balance_records_within_each_class():
    # Record "a" holds most N beats, record "b" most S beats (as MIT-BIH's few patients
    # with many beats of a rare class do).
    labels = np.array([0] * 90 + [0] * 10 + [1] * 1 + [1] * 9)
    records = np.array(["a"] * 90 + ["b"] * 10 + ["a"] * 1 + ["b"] * 9)

    def shares(power, by_record):
        w = draw_weights(labels, records, power, by_record)
        w = w / w.sum()
        return [w[(labels == c) & (records == r)].sum() for c in (0, 1) for r in "ab"]

    np.testing.assert_allclose(shares(1.0, False), [0.45, 0.05, 0.05, 0.45])  # classes only
    np.testing.assert_allclose(shares(1.0, True), [0.25] * 4)  # and records within a class
    # balance_power 0: the classes keep their counts (100 N, 10 S beats)
    np.testing.assert_allclose(shares(0.0, True), np.array([50, 50, 5, 5]) / 110)
    np.testing.assert_allclose(shares(0.0, False), np.array([90, 10, 1, 9]) / 110)


def test_balance_records_reaches_the_training_sampler(tiny_db, tmp_path):
    dm = make_dm(tiny_db, tmp_path, batch_size=8, balanced_sampler=True, balance_records=True)
    seg, weights = dm.segments["train"], dm.train_dataloader().sampler.weights.numpy()
    for c in np.unique(seg.labels):
        per_record = [weights[(seg.labels == c) & (seg.records == r)].sum()
                      for r in np.unique(seg.records[seg.labels == c])]  # fmt: skip
        np.testing.assert_allclose(per_record, per_record[0])
    # Class totals stay balanced: each class drawn equally often.
    totals = [weights[seg.labels == c].sum() for c in np.unique(seg.labels)]
    np.testing.assert_allclose(totals, totals[0])
    with pytest.raises(DataError, match="balance_records must be true or false, got 'yes'"):
        make_dm(tiny_db, tmp_path, balance_records="yes")


def test_bad_modes_fail_at_construction(tiny_db, tmp_path):
    with pytest.raises(DataError, match="split.mode='by_beat'"):
        ECGDataModule(source={"root": str(tiny_db)}, split={"mode": "by_beat"})
    with pytest.raises(DataError, match="normalize.mode='minmax'"):
        ECGDataModule(source={"root": str(tiny_db)}, normalize={"mode": "minmax"})


def test_train_smaller_than_batch_is_an_error(tiny_db, tmp_path):
    dm = make_dm(tiny_db, tmp_path, batch_size=10_000)
    with pytest.raises(DataError, match="batch_size=10000"):
        dm.train_dataloader()


class _Tiny(L.LightningModule):
    def __init__(self, length: int) -> None:
        super().__init__()
        self.net = torch.nn.Linear(length, 5)

    def training_step(self, batch, _):
        return torch.nn.functional.cross_entropy(self.net(batch["signal"][:, 0]), batch["label"])

    def validation_step(self, batch, _):
        self.log(
            "val/loss",
            torch.nn.functional.cross_entropy(self.net(batch["signal"][:, 0]), batch["label"]),
        )

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_fit_after_manual_setup(tiny_db, tmp_path):
    dm = make_dm(tiny_db, tmp_path, num_workers=1)  # the training task sets up first
    trainer = quiet_trainer(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        num_sanity_val_steps=2,
        default_root_dir=tmp_path,
    )
    trainer.fit(_Tiny(dm.length), datamodule=dm)
    assert trainer.global_step == 2
    assert dm._built is None  # fit's prepare_data() did not rebuild/reload the segments


@pytest.mark.parametrize("name", ["mitdb", "mitdb_shared", "simulated"])
def test_dataset_configs_instantiate(name, tmp_path):
    cfg = OmegaConf.create(
        {
            "paths": {"data_dir": str(tmp_path / "data"), "cache_dir": str(tmp_path / "cache")},
            "seed": 5,
            "dataset": OmegaConf.load(CONF / f"{name}.yaml"),
        }
    )
    keys = set(cfg.dataset) - {"_target_"}
    assert keys == set(inspect.signature(ECGDataModule).parameters)
    dm = instantiate(cfg.dataset)
    assert isinstance(dm, ECGDataModule) and dm.seed == 5 and dm.split_cfg["seed"] == 5
