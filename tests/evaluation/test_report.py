"""report.py and figures.py: the summary table, strict metrics.json, figures and the
markdown that links them, on small hand-made sets (no pipeline run)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecg_synth.data.types import SegmentSet
from ecg_synth.evaluation import figures as figs
from ecg_synth.evaluation import report
from ecg_synth.evaluation.inputs import EvalSet, WindowSpec
from ecg_synth.evaluation.scoring import Reference
from ecg_synth.metrics.embedding import EncoderConfig, embed, train_encoder

FS, LENGTH, R = 128.0, 96, 48  # the gaussian_beats of tests/evaluation/conftest.py


def test_table_puts_floor_and_baselines_beside_every_metric():
    cols = {
        "generated": {"fd": 12.345, "mmd": 0.01, "dtw": None, "collapsed": True},
        "floor (real train)": {"fd": 1.0, "mmd": -0.0002, "collapsed": False},
        "noise (baseline)": {"fd": 800.0, "collapsed": False},
    }
    lines = report.table(cols).splitlines()
    assert lines[0] == "| metric | read | generated | floor (real train) | noise (baseline) |"
    assert "| FD, learned embedding | lower | 12.3 | 1 | 800 |" in lines
    assert "| MMD², learned embedding | lower | 0.01 | -0.0002 | – |" in lines
    assert "| **collapsed** | flag | **YES** | no | no |" in lines
    assert not any("DTW" in line for line in lines)  # no set has a value: no row
    keys = [k for k, _, _ in report.ROWS]
    assert {"mmd", "dtw", "prd", "psd", "fd"} <= set(keys)


def test_metrics_json_is_strict():
    doc = {
        "a": np.float32(1.5),
        "b": float("nan"),
        "c": [np.int64(3), np.inf],
        "d": {"e": np.bool_(True), "f": np.arange(3)},
        "g": None,
    }
    out = report.jsonable(doc)
    assert out == {"a": 1.5, "b": None, "c": [3, None], "d": {"e": True, "f": [0, 1, 2]}, "g": None}
    json.dumps(out, allow_nan=False)


@pytest.fixture(scope="module")
def small(beats):
    """A reference, a training split, an encoder and a generated set of Gaussian beats."""
    rng = np.random.default_rng(0)
    y_tr, y_ref, y_gen = (rng.choice(3, n, p=[0.7, 0.15, 0.15]) for n in (300, 120, 150))
    x_tr, rr_tr = beats(y_tr, seed=1)
    x_ref, rr_ref = beats(y_ref, seed=2)
    x_gen, _ = beats(y_gen, seed=3, amp_scale=1.3)
    n = len(y_tr)
    train = SegmentSet(
        x_tr,
        y_tr,
        np.full(n, "N"),
        np.array([f"r{i % 3}" for i in range(n)]),
        np.arange(n),
        rr_tr,
        np.zeros((n, 4), np.float32),
        FS,
        ["MLII"],
        R,
    )
    enc = train_encoder(x_tr, y_tr, train.records, EncoderConfig(epochs=1, emb_dim=8, width=4))
    ref = EvalSet("reference", "reference", x_ref, y_ref, None, rr_ref)
    gen = EvalSet("generated", "generated", x_gen, y_gen)
    spec = WindowSpec(FS, LENGTH, R, ("MLII",))
    r = Reference(spec, ref, train, train, enc, embed(enc, x_ref), x_ref, embed(enc, x_tr), y_tr)
    return gen, r


def _doc(collapsed: bool) -> dict:
    cm = np.diag([50, 5, 5, 0, 0]).tolist()
    return {
        "meta": {
            "input": {"generated": "/x/gen"},
            "description": "folder /x/gen",
            "split": "test",
            "dataset": "data/simulated",
            "n_reference": 120,
            "n_heldout": 240,
            "n_train": 300,
            "fs": FS,
            "length": LENGTH,
            "r_index": R,
            "leads": ["MLII"],
            "n_generated": 150,
            "n_scored": 150,
            "seed": 0,
            "quick": False,
        },
        "flags": {
            "generated": {"collapsed": collapsed, "memorizing": False},
            "baseline/class_mean_noise": {"collapsed": True, "memorizing": False},
        },
        "generated": {
            "fd": 3.0,
            "collapsed": collapsed,
            "memorizing": False,
            "classifier": {
                "TSTR": {"confusion_matrix": cm, "macro_f1": 0.5},
                "TRTS": {"confusion_matrix": cm, "macro_f1": 0.6},
            },
        },
        "floor": {"fd": 1.0, "collapsed": False},
        "controls": {"heldout": {"fd": 0.1}, "shift": {"fd": 40.0}},
        "baselines": {"class_mean_noise": {"fd": 9.0, "collapsed": True}},
        "classifier": {
            "TRTR": {
                "confusion_matrix": cm,
                "macro_f1": 0.7,
                "macro_f1_ci": {"ci_low": 0.6, "ci_high": 0.8, "unit": "beat"},
                "per_class": {"N": {"sensitivity": 0.9, "ppv": 0.95}},
            },
            "scored_classes": ["N", "S", "V"],
        },
        "timings": {"data": 1.0, "metrics": 2.5, "total": 4.0},
        "notes": ["a note"],
    }


def test_figures_are_written_and_the_report_links_them(tmp_path, small):
    gen, r = small
    doc = _doc(collapsed=True)
    figures = figs.make_figures(tmp_path, doc, [gen], r, seed=0)
    assert set(figures) == {"overlays", "class_bands", "embedding_pca", "histograms", "confusion"}
    for rel in figures.values():
        png = (tmp_path / rel).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    metrics, md = report.write(tmp_path, doc, figures)
    text = md.read_text()
    for name, rel in figures.items():
        assert f"![{name}]({rel})" in text
    assert json.loads(metrics.read_text())["figures"] == figures


def test_markdown_shows_flags_classifier_and_stage_times(small):
    text = report.markdown(_doc(collapsed=True), {})
    assert "- generated set **collapsed**: **YES**" in text
    assert "baseline/class_mean_noise: collapsed" in text
    assert "| TRTR | real train | 0.7 | 0.6 – 0.8 |" in text
    assert "bootstrap by test beat" in text
    assert "| metrics | 2.5 |" in text and "| total | 4.0 |" in text
    assert "| FD, learned embedding | lower | 40 |" not in text  # shift is in the controls table
    assert "| FD, learned embedding | lower | 1 | 0.1 | 40 |" in text
    assert "- generated set **collapsed**: no" in report.markdown(_doc(collapsed=False), {})


def test_histograms_compare_intervals_and_rr_when_both_sets_have_it(tmp_path, small):
    gen, r = small
    shown = figs.fig_histograms(tmp_path / "h.png", r.ref, gen, r.spec)
    assert shown == ["qrs_ms", "pr_ms", "qt_ms", "r_amp_mv", "peak_to_peak_mv"]
    with_rr = EvalSet(
        "g", "generated", gen.signals, gen.labels, rr=np.resize(r.ref.rr, (len(gen), 3))
    )
    assert "rr_ms" in figs.fig_histograms(tmp_path / "h2.png", r.ref, with_rr, r.spec)
