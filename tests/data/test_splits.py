"""Every split mode keeps patients (records) apart; within_record keeps time apart."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ecg_synth.data.splits import split_indices
from ecg_synth.data.types import SegmentSet
from ecg_synth.data.wfdb_io import DataError

DS1 = (
    "101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220 223 230"
).split()
DS2 = (
    "100 103 105 111 113 117 121 123 200 202 210 212 213 214 219 221 222 228 231 232 233 234"
).split()


def fake_segments(records: list[str], per_record: int = 30, length: int = 64) -> SegmentSet:
    """Beat segments every 100 samples in each record (content irrelevant to splitting)."""
    n = len(records) * per_record
    return SegmentSet(
        signals=np.zeros((n, 1, length), np.float32),
        labels=np.zeros(n, np.int64),
        symbols=np.full(n, "N"),
        records=np.repeat(records, per_record),
        centers=np.tile(np.arange(per_record) * 100 + 50, len(records)).astype(np.int64),
        rr=np.zeros((n, 3), np.float32),
        stats=np.zeros((n, 4), np.float32),
        fs=360.0,
        leads=["MLII"],
        r_index=20,
    )


def records_of(seg: SegmentSet, index: dict[str, np.ndarray]) -> dict[str, set[str]]:
    return {s: set(seg.records[i].tolist()) for s, i in index.items()}


def assert_no_leak(seg, index):
    recs = records_of(seg, index)
    assert not recs["train"] & recs["val"] and not recs["train"] & recs["test"]
    assert not recs["val"] & recs["test"]
    return recs


def test_inter_patient(caplog):
    seg = fake_segments(["101", "106", "108", "109", "100", "103", "999"])
    cfg = {"mode": "inter_patient", "ds1": DS1, "ds2": DS2, "val_records": 1, "seed": 3}
    with caplog.at_level(logging.INFO):
        index = split_indices(seg, cfg)
    recs = assert_no_leak(seg, index)
    assert recs["test"] == {"100", "103"} and len(recs["val"]) == 1
    assert recs["train"] | recs["val"] == {"101", "106", "108", "109"}
    assert "999" in caplog.text and "112" in caplog.text  # ignored / absent are logged
    assert sum(len(i) for i in index.values()) == len(seg) - 30  # 999 in no split
    again = split_indices(seg, cfg)
    assert all((again[s] == index[s]).all() for s in index)  # seeded
    frac = records_of(seg, split_indices(seg, {**cfg, "val_records": 0.5}))
    assert len(frac["val"]) == 2


def test_random_records():
    names = [str(n) for n in range(100, 108)]
    seg = fake_segments(names)
    cfg = {"mode": "random_records", "fractions": [0.5, 0.25, 0.25], "seed": 0}
    recs = assert_no_leak(seg, split_indices(seg, cfg))
    assert [len(recs[s]) for s in ("train", "val", "test")] == [4, 2, 2]
    other = records_of(seg, split_indices(seg, {**cfg, "seed": 1}))
    same = records_of(seg, split_indices(seg, cfg))
    assert same == recs and other != recs  # 420 ways to pick val+test: seeds differ here


def test_explicit_and_its_errors(caplog):
    seg = fake_segments(["101", "106", "108", "109"])
    cfg = {"mode": "explicit", "train": [101, 106], "val": ["108"], "test": ["109"]}
    recs = assert_no_leak(seg, split_indices(seg, cfg))  # YAML ints are record names too
    assert recs == {"train": {"101", "106"}, "val": {"108"}, "test": {"109"}}
    with pytest.raises(DataError, match="108.*listed twice"):
        split_indices(seg, {**cfg, "test": ["108"]})
    with pytest.raises(DataError, match="101.*listed twice"):
        split_indices(seg, {**cfg, "train": ["101", "101"]})
    with pytest.raises(DataError, match=r"train split is empty .*split.train lists \[.555.\]"):
        split_indices(seg, {**cfg, "train": ["555"]})  # names what was listed
    # A listed record that is missing (a typo, most likely) is a warning, not a quiet INFO.
    with caplog.at_level(logging.INFO, logger="ecg_synth.data.splits"):
        recs = records_of(seg, split_indices(seg, {**cfg, "train": ["101", "1066"]}))
    assert recs["train"] == {"101"}
    (warned,) = [r for r in caplog.records if "1066" in r.getMessage()]
    assert warned.levelno == logging.WARNING and "split.train not present" in warned.getMessage()


def test_within_record_has_no_time_overlap():
    seg = fake_segments(["101", "106", "108"])
    index = split_indices(seg, {"mode": "within_record", "fractions": [0.6, 0.2, 0.2]})
    start = seg.centers - seg.r_index
    end = start + seg.signals.shape[-1]
    for rec in ("101", "106", "108"):
        spans = {
            s: (start[i][seg.records[i] == rec], end[i][seg.records[i] == rec])
            for s, i in index.items()
        }
        assert all(len(a) for a, _ in spans.values())  # every subject in every split
        assert spans["train"][1].max() <= spans["val"][0].min()
        assert spans["val"][1].max() <= spans["test"][0].min()
    kept = np.concatenate(list(index.values()))
    assert len(np.unique(kept)) == len(kept)


def test_unknown_mode_and_bad_fractions():
    seg = fake_segments(["101", "106"])
    with pytest.raises(DataError, match="split.mode='by_beat'"):
        split_indices(seg, {"mode": "by_beat"})
    with pytest.raises(DataError, match="fractions"):
        split_indices(seg, {"mode": "random_records", "fractions": [0.5, 0.5, 0.5]})
