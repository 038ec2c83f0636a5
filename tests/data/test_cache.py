"""The segment cache: hit without reading WFDB, rebuilt on any change, safe under races."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
import wfdb

from ecg_synth.data.build import build_segments

PRE = {"bandpass": {"enabled": True, "low_hz": 0.5, "high_hz": 40.0, "order": 2}}
BEATS = {"kind": "beat", "pre_s": 0.25, "post_s": 0.45, "length": 256}


@pytest.fixture
def db(make_record):
    for i, name in enumerate(("100", "101", "103")):
        rec = make_record(name, shift=i)
    return rec.root


@pytest.fixture
def reads(monkeypatch):
    """Counts real ``wfdb.rdrecord`` calls (the function still runs)."""
    calls = []
    real = wfdb.rdrecord

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(wfdb, "rdrecord", counting)
    return calls


def build(db, cache, preprocess=PRE, segment=BEATS):
    return build_segments({"kind": "wfdb", "root": str(db)}, preprocess, segment, cache)


def test_second_build_is_a_cache_hit(db, tmp_path, reads):
    cache = tmp_path / "cache"
    cold, fp1 = build(db, cache)
    assert len(reads) == 3 and not fp1["cache_hit"]
    warm, fp2 = build(db, cache)
    assert len(reads) == 3 and fp2["cache_hit"]  # nothing re-read
    for name, value in cold.to_arrays().items():
        np.testing.assert_array_equal(warm.to_arrays()[name], value)
    assert fp1["cache_key"] == fp2["cache_key"] and fp2["records"] == ["100", "101", "103"]
    assert set(fp2["files"]["100"]) == {".hea", ".dat", ".atr", "sha256"}
    assert fp2["counts"]["100"]["kept"] > 0
    assert [p.name for p in cache.iterdir() if p.suffix == ".tmp"] == []


@pytest.mark.parametrize("change", ["setting", "segment", "touch", "annotation"])
def test_any_change_rebuilds(db, tmp_path, reads, change):
    cache = tmp_path / "cache"
    _, fp1 = build(db, cache)
    preprocess, segment = PRE, BEATS
    if change == "setting":
        preprocess = {"bandpass": {**PRE["bandpass"], "high_hz": 30.0}}
    elif change == "segment":
        segment = {**BEATS, "length": 200}
    elif change == "touch":
        st = os.stat(db / "101.dat")
        os.utime(db / "101.dat", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    else:  # same size, different label
        ann = wfdb.rdann(str(db / "101"), "atr")
        symbols = ["V" if s == "N" else s for s in ann.symbol]
        wfdb.wrann("101", "atr", sample=ann.sample, symbol=symbols, write_dir=str(db))
    seg, fp2 = build(db, cache, preprocess, segment)
    assert not fp2["cache_hit"] and fp2["cache_key"] != fp1["cache_key"]
    assert len(reads) == 6
    if change == "annotation":
        assert "N" not in set(seg.symbols[seg.records == "101"].tolist())


def test_no_cache_dir_always_builds(db, reads):
    build(db, None)
    _, fp = build(db, None)
    assert len(reads) == 6 and fp["cache_file"] is None


def _build_in_process(args):
    db, cache = args
    return build(db, cache)[1]["cache_hit"]


def test_concurrent_builders_build_once(db, tmp_path):
    cache = tmp_path / "cache"
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(3, mp_context=ctx) as pool:
        hits = list(pool.map(_build_in_process, [(db, cache)] * 3))
    assert sorted(hits) == [False, True, True]  # one built, the others waited and loaded
    assert len(list(cache.glob("*.npz"))) == 1
