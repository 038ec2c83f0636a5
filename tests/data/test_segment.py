"""AAMI labels, beat and rhythm segmentation, RR and statistical features, filters."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from ecg_synth.data.aami import WINDOW_PRIORITY, symbols_to_labels
from ecg_synth.data.filters import bandpass, notch, preprocess_record, resample, smooth
from ecg_synth.data.segment import segment_beats, segment_record, segment_rhythm, segment_stats
from ecg_synth.data.types import AAMI_CLASSES
from ecg_synth.data.wfdb_io import read_record

AAMI = {"N": "NLRej", "S": "AaJS", "V": "VE", "F": "F", "Q": "/fQ"}


def test_aami_mapping_and_non_beats():
    for cls, symbols in AAMI.items():
        assert (symbols_to_labels(list(symbols)) == AAMI_CLASSES.index(cls)).all()
    non_beats = ["+", "~", "|", '"', "x", "[", "]", "!", "(", ")", "p", "t", "u", "^", "="]
    assert (symbols_to_labels(non_beats) == -1).all()


def test_beats_positions_labels_and_edges(make_record):
    rec = make_record("100")
    record = read_record(rec.root, "100", ["MLII", "V1"])
    seg, counts = segment_beats(record, pre_s=0.25, post_s=0.45)
    pre, length = 90, 90 + 162
    beats = rec.beat_samples
    inside = (beats - pre >= 0) & (beats - pre + length <= rec.n_samples)
    assert counts == {
        "beats": len(beats),
        "kept": int(inside.sum()),
        "dropped_edge": int((~inside).sum()),
        "dropped_class": 0,
    }
    assert not inside[0] and not inside[-1]  # first at sample 40, last 20 before the end
    assert seg.signals.shape == (inside.sum(), 2, length) and seg.signals.dtype == np.float32
    assert seg.r_index == pre
    np.testing.assert_array_equal(seg.centers, beats[inside])
    for i, r in enumerate(beats[inside]):  # each window is the record's own samples
        np.testing.assert_array_equal(
            seg.signals[i], record.signal[:, r - pre : r - pre + length].astype(np.float32)
        )
    assert (seg.signals[:, 0].argmax(axis=1) == pre).all()  # the QRS peak sits at r_index
    kept_symbols = np.array(rec.beat_symbols)[inside]
    assert list(seg.symbols) == list(kept_symbols)
    expected = [
        AAMI_CLASSES.index(next(c for c, s in AAMI.items() if x in s)) for x in kept_symbols
    ]
    assert seg.labels.tolist() == expected
    assert set(seg.symbols) & {"+", "~", "|", '"'} == set()
    assert (seg.records == "100").all()


def test_fixed_length_takes_real_signal_never_padding(make_record):
    rec = make_record("100")
    record = read_record(rec.root, "100")
    for length in (300, 128):
        seg, _ = segment_beats(record, 0.25, 0.45, length=length)
        assert seg.signals.shape[-1] == length and seg.r_index == 90
        r = seg.centers[0]
        np.testing.assert_array_equal(
            seg.signals[0, 0], record.signal[0, r - 90 : r - 90 + length].astype(np.float32)
        )
    with pytest.raises(ValueError, match="R peak"):
        segment_beats(record, 0.25, 0.45, length=90)


def test_rr_ignores_non_beats(make_record):
    rec = make_record("100")
    seg, _ = segment_beats(read_record(rec.root, "100"), 0.25, 0.45)
    beats = rec.beat_samples
    rr = np.diff(beats) / 360.0
    for row, r in zip(seg.rr, seg.centers, strict=True):
        j = int(np.flatnonzero(beats == r)[0])  # a kept beat is never the first or last
        local = rr[max(j - 5, 0) : min(j + 5, len(beats) - 1)].mean()
        np.testing.assert_allclose(row, [rr[j - 1], rr[j], local], rtol=1e-6)
    # The '~' after beat 3 sits between beats 3 and 4: their RR is still one interval.
    k = int(np.flatnonzero(seg.centers == beats[4])[0])
    assert seg.rr[k, 0] == pytest.approx((beats[4] - beats[3]) / 360.0)


def test_classes_filter(make_record):
    rec = make_record("100")
    record = read_record(rec.root, "100")
    seg, counts = segment_beats(record, 0.25, 0.45, classes=["V", "F"])
    assert set(seg.labels.tolist()) == {2, 3}
    assert counts["dropped_class"] == int(
        np.isin(symbols_to_labels(rec.beat_symbols), [0, 1, 4]).sum()
    )
    full, _ = segment_beats(record, 0.25, 0.45)
    np.testing.assert_array_equal(seg.rr, full.rr[np.isin(full.labels, [2, 3])])
    with pytest.raises(ValueError, match="unknown"):
        segment_beats(record, 0.25, 0.45, classes=["X"])


def test_rhythm_windows_carry_their_beats(make_record):
    rec = make_record("100")
    record = read_record(rec.root, "100")
    seg, info = segment_rhythm(record, window_s=4.0, stride_s=2.0)
    width = 1440
    starts = np.arange(0, rec.n_samples - width + 1, 720)
    assert info["windows"] == len(starts) and seg.signals.shape[1:] == (1, width)
    beats, labels = rec.beat_samples, symbols_to_labels(rec.beat_symbols)
    rank = {c: i for i, c in enumerate(WINDOW_PRIORITY)}
    for i, start in enumerate(seg.centers):
        inside = (beats >= start) & (beats < start + width)
        lo, hi = seg.beat_offsets[i], seg.beat_offsets[i + 1]
        np.testing.assert_array_equal(seg.beat_positions[lo:hi], beats[inside] - start)
        np.testing.assert_array_equal(seg.beat_labels[lo:hi], labels[inside])
        want = min(labels[inside], key=lambda lab: rank[AAMI_CLASSES[lab]])
        assert seg.labels[i] == want
        np.testing.assert_array_equal(
            seg.signals[i, 0], record.signal[0, start : start + width].astype(np.float32)
        )
    sub = seg.subset(np.array([1, 3]))  # the shared SegmentSet keeps beats with windows
    np.testing.assert_array_equal(
        sub.beat_positions,
        np.concatenate(
            [seg.beat_positions[seg.beat_offsets[j] : seg.beat_offsets[j + 1]] for j in (1, 3)]
        ),
    )


def test_rhythm_classes_filter_and_dispatch(make_record):
    rec = make_record("100")
    record = read_record(rec.root, "100")
    seg, info = segment_record(
        record, {"kind": "rhythm", "window_s": 2.0, "stride_s": 1.0, "classes": ["V", "Q"]}
    )
    assert len(seg) > 0 and set(seg.labels.tolist()) <= {2, 4}
    assert info["dropped_class"] > 0
    with pytest.raises(ValueError, match="segment.kind"):
        segment_record(record, {"kind": "heartbeat"})
    with pytest.raises(ValueError, match="unknown keys"):
        segment_record(record, {"kind": "beat", "pre": 0.2})


def test_segment_stats_match_scipy():
    x = np.random.default_rng(0).standard_normal((50, 2, 64)).astype(np.float32) ** 3
    got = segment_stats(x)
    ref = np.stack(
        [
            x[:, 0].mean(-1),
            x[:, 0].var(-1),
            sps.skew(x[:, 0], axis=-1),
            sps.kurtosis(x[:, 0], axis=-1),
        ],
        axis=1,
    )
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    assert (segment_stats(np.ones((3, 1, 10)))[:, 2:] == 0).all()  # flat: no NaN


def test_resampling_rescales_annotations(make_record):
    rec = make_record("100")
    record = read_record(rec.root, "100")
    for target in (180.0, 250.0):
        out = preprocess_record(record, {"target_fs": target})
        ratio = target / 360.0
        assert out.fs == target and out.signal.shape[1] == round(rec.n_samples * ratio)
        np.testing.assert_array_equal(out.ann_samples, np.rint(rec.ann_samples * ratio))
        beats = out.ann_samples[rec.beat_mask][1:-1]
        peaks = [out.signal[0, b - 5 : b + 6].argmax() - 5 for b in beats]
        assert np.abs(peaks).max() <= 1  # the QRS peak is still at the rescaled index
        seg, _ = segment_beats(out, 0.25, 0.45)
        assert seg.fs == target and seg.r_index == round(0.25 * target)


def test_filters_zero_phase_and_band():
    fs, t = 360.0, np.arange(3600) / 360.0
    tone = np.sin(2 * np.pi * 10 * t)
    wander = 2.0 + np.sin(2 * np.pi * 0.05 * t)
    out = bandpass(tone + wander, fs, 0.5, 40.0, 2)
    mid = slice(720, -720)  # away from the ends' transients
    np.testing.assert_allclose(out[mid], tone[mid], atol=0.05)  # no delay, wander gone
    assert np.abs(bandpass(np.sin(2 * np.pi * 100 * t), fs, 0.5, 40.0, 4)[mid]).std() < 0.02
    hum = np.sin(2 * np.pi * 60 * t)
    assert np.abs(notch(tone + hum, fs, 60.0, 30.0)[mid] - tone[mid]).max() < 0.05
    impulse = np.zeros(11)
    impulse[5] = 5.0
    np.testing.assert_allclose(smooth(impulse, 5), [0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0])
    with pytest.raises(ValueError, match="high_hz"):
        bandpass(tone, fs, 0.5, 200.0)
    x, s, f = resample(tone, np.array([0, 10]), fs, fs)
    assert f == fs and x is tone


def test_preprocess_switches(make_record):
    rec = make_record("100")
    record = read_record(rec.root, "100")
    off = preprocess_record(record, {"bandpass": {"enabled": False, "low_hz": 0.5}})
    np.testing.assert_array_equal(off.signal, record.signal)
    on = preprocess_record(
        record, {"bandpass": {"enabled": True, "low_hz": 0.5, "high_hz": 40.0, "order": 2}}
    )
    assert abs(on.signal.mean()) < abs(record.signal.mean()) / 5  # baseline removed
    with pytest.raises(ValueError, match="unknown keys"):
        preprocess_record(record, {"bandpas": {}})
