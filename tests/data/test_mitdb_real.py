"""Integration on the real MIT-BIH records in ../shared/data/mitdb (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ecg_synth.data.build import build_segments
from ecg_synth.data.types import AAMI_CLASSES

pytestmark = pytest.mark.mitdb

AAMI = {"N": "NLRej", "S": "AaJS", "V": "VE", "F": "F", "Q": "/fQ"}
CONF = Path(__file__).resolve().parents[2] / "conf" / "dataset"


def expected_counts(root: Path, name: str, pre: int, length: int) -> np.ndarray:
    """Class counts straight from the .atr symbols, minus beats too close to the edges."""
    ann = wfdb.rdann(str(root / name), "atr")
    n = wfdb.rdheader(str(root / name)).sig_len
    counts = np.zeros(len(AAMI_CLASSES), dtype=int)
    for sample, symbol in zip(ann.sample, ann.symbol, strict=True):
        cls = next((c for c, s in AAMI.items() if symbol in s), None)
        if cls and sample - pre >= 0 and sample - pre + length <= n:
            counts[AAMI_CLASSES.index(cls)] += 1
    return counts


def test_class_counts_match_annotations(shared_mitdb):
    names = ["114", "208", "209"]  # 114 has MLII as its second channel
    source = {"kind": "wfdb", "root": str(shared_mitdb), "records": names, "leads": ["MLII"]}
    seg, fp = build_segments(
        source,
        {"bandpass": {"enabled": True, "low_hz": 0.5, "high_hz": 40.0, "order": 2}},
        {"kind": "beat", "pre_s": 0.25, "post_s": 0.45, "length": 256},
        None,
    )
    for name in names:
        got = np.bincount(seg.labels[seg.records == name], minlength=len(AAMI_CLASSES))
        np.testing.assert_array_equal(got, expected_counts(shared_mitdb, name, 90, 256))
    assert fp["counts"]["208"]["kept"] == int((seg.records == "208").sum())
    # Annotations sit on the QRS (within a few samples of its largest deflection).
    peak = np.abs(seg.signals[:, 0, 60:121]).argmax(axis=1) + 60
    assert (np.abs(peak - 90) <= 5).mean() > 0.9


def test_shared_config_splits_hold_every_class(shared_mitdb, tmp_path, monkeypatch):
    monkeypatch.setenv("ECG_SYNTH_MITDB", str(shared_mitdb))
    cfg = OmegaConf.create(
        {
            "paths": {"data_dir": str(tmp_path), "cache_dir": str(tmp_path)},
            "seed": 0,
            "dataset": OmegaConf.load(CONF / "mitdb_shared.yaml"),
        }
    )
    dm = instantiate(cfg.dataset)
    dm.prepare_data()
    dm.setup("fit")
    for split in ("train", "val", "test"):
        counts = dm.class_counts(split)
        assert all(counts[c] > 0 for c in "NSVF"), (split, counts)
    assert dm.class_counts("test")["F"] > 300  # record 208
    records = {s: set(dm.segments[s].records.tolist()) for s in ("train", "val", "test")}
    assert len(records["train"]) == 12 and len(records["val"]) == 4 and len(records["test"]) == 6


def test_context_preset_windows_hold_the_previous_beat(shared_mitdb):
    """experiment=wgan_gp_mitdb_context: 128 Hz, R at sample 160, and the previous beat's QRS
    inside the window where the beat's own RR interval puts it (so prematurity is visible)."""
    from ecg_synth.cli import compose_config

    cfg = compose_config("train", ["experiment=wgan_gp_mitdb_context"])
    d = cfg.dataset
    source = {"kind": "wfdb", "root": str(shared_mitdb), "records": ["209"], "leads": ["MLII"]}
    seg, _ = build_segments(source, d.preprocess, d.segment, None)
    fs, r_index = 128, round(d.segment.pre_s * 128)
    assert r_index == 160 and seg.signals.shape[-1] == 256
    rows = np.arange(len(seg.signals))
    x = np.abs(seg.signals[:, 0] - np.median(seg.signals[:, 0], axis=1, keepdims=True))
    prev = r_index - np.round(seg.rr[:, 0] * fs).astype(int)  # previous R by the RR feature
    ok = prev >= 4
    near_prev = np.stack([x[rows[ok], prev[ok] + k] for k in range(-4, 5)]).max(0)
    # the previous QRS stands out of the window's baseline as the beat's own does
    assert np.median(near_prev / np.median(x[ok], axis=1)) > 4
    s_beats = seg.labels[ok] == AAMI_CLASSES.index("S")
    assert s_beats.sum() > 50  # record 209 has S beats: theirs are premature
    assert np.median(seg.rr[ok][s_beats, 0]) < 0.85 * np.median(seg.rr[ok][~s_beats, 0])
