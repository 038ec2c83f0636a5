"""``source.kind: simulated`` goes through the simulator and the same WFDB pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_synth.data.build import build_segments
from ecg_synth.data.wfdb_io import DataError

BEATS = {"kind": "beat", "pre_s": 0.25, "post_s": 0.45, "length": 256}


def test_simulated_source_builds_beats(tmp_path):
    pytest.importorskip("ecg_synth.data.simulator")
    source = {
        "kind": "simulated",
        "root": str(tmp_path / "sim"),
        "simulator": {"n_subjects": 2, "duration_s": 30, "fs": 360, "seed": 0},
    }
    seg, fp = build_segments(source, {}, BEATS, tmp_path / "cache")
    assert fp["records"] == ["sim01", "sim02"] and set(np.unique(seg.records)) == {"sim01", "sim02"}
    assert seg.signals.shape[1:] == (1, 256) and seg.fs == 360.0 and seg.leads == ["MLII"]
    assert set(seg.labels.tolist()) <= {0, 1, 2, 3} and (seg.labels == 0).any()
    _, again = build_segments(source, {}, BEATS, tmp_path / "cache")
    assert again["cache_hit"]


def test_simulated_source_needs_simulator_settings(tmp_path):
    with pytest.raises(DataError, match="source.simulator lacks"):
        build_segments({"kind": "simulated", "root": str(tmp_path)}, {}, BEATS, None)
