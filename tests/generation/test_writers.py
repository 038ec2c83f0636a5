"""Writers, ECG-paper figures and rhythm strips on known signals (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb
from PIL import Image

from ecg_synth.generation.plotting import MM_PER_INCH, plot_segment_grid, plot_strip
from ecg_synth.generation.rhythm import RRModel, join_beats, make_strip
from ecg_synth.generation.writers import WFDB_ADC_GAIN, write_csv, write_wfdb_segments
from tests.generation.trained import FS, LENGTH, R_INDEX, beats


def test_wfdb_round_trip_keeps_samples_and_annotations(tmp_path):
    x, y, _ = beats(20)
    x = np.concatenate([x, -0.5 * x], axis=1)  # two leads
    y = np.array([0, 1, 2, 3, 4] * 4)
    names = write_wfdb_segments(tmp_path, x, y, FS, ["MLII", "V1"], R_INDEX, per_record=8)
    assert names == ["segments_0000", "segments_0001", "segments_0002"]  # 8 + 8 + 4

    got, starts = [], [0, 8, 16]
    for name, start in zip(names, starts, strict=True):
        rec = wfdb.rdrecord(str(tmp_path / name))
        ann = wfdb.rdann(str(tmp_path / name), "atr")
        b = rec.p_signal.shape[0] // LENGTH
        assert rec.fs == FS and rec.sig_name == ["MLII", "V1"] and rec.units == ["mV", "mV"]
        np.testing.assert_array_equal(ann.sample, np.arange(b) * LENGTH + R_INDEX)
        assert ann.symbol == [("N", "S", "V", "F", "Q")[v] for v in y[start : start + b]]
        got.append(rec.p_signal.T.reshape(2, b, LENGTH).transpose(1, 0, 2))
    # Format 16 at 1000 adu/mV: within half a quantisation step (0.5 uV).
    np.testing.assert_allclose(np.concatenate(got), x, rtol=0, atol=0.5 / WFDB_ADC_GAIN + 1e-9)


def test_wfdb_refuses_signals_beyond_its_range(tmp_path):
    x = np.full((1, 1, LENGTH), 40.0, np.float32)  # 40 mV: not an ECG, and past +-32.7 mV
    with pytest.raises(ValueError, match="40.0 mV"):
        write_wfdb_segments(tmp_path, x, np.zeros(1, int), FS, ["MLII"], R_INDEX)


def test_csv_has_one_row_per_segment_and_lead(tmp_path):
    import pandas as pd

    x, _, _ = beats(5)
    x = np.concatenate([x, 2 * x], axis=1)
    write_csv(
        tmp_path / "s.csv",
        x,
        np.array([0, 2, 2, 1, -1]),
        np.array([1, 0, 0, 1, 1]),
        ["100", "101"],
        ["MLII", "V1"],
        chunk=2,
    )
    df = pd.read_csv(tmp_path / "s.csv", dtype={"subject": str})
    assert len(df) == 10 and list(df.columns[:5]) == [
        "segment",
        "label",
        "class",
        "subject",
        "lead",
    ]
    assert df["class"].tolist()[::2] == ["N", "V", "V", "S", "?"]
    assert df["subject"].tolist()[::2] == ["101", "100", "100", "101", "101"]
    values = df[[f"s{i}" for i in range(LENGTH)]].to_numpy().reshape(5, 2, LENGTH)
    np.testing.assert_allclose(values, x, atol=5e-6)


def _red_fraction(png) -> float:
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    red = (rgb[..., 0] > 200) & (rgb[..., 1] < 200) & (rgb[..., 2] < 200)
    return float(red.mean())


def test_segment_grid_is_drawn_to_ecg_paper_scale(tmp_path):
    x, y, _ = beats(12)
    fig = plot_segment_grid(x, y, FS, ncols=6)
    width_mm = fig.get_figwidth() * MM_PER_INCH
    ax = fig.axes[0]
    # Data units are millimetres and the axes fill the figure: mm on paper == mm of data.
    assert ax.get_xlim()[1] == pytest.approx(width_mm)
    assert ax.get_ylim()[1] == pytest.approx(fig.get_figheight() * MM_PER_INCH)
    trace = ax.collections[-1].get_segments()[0]
    # 256 samples at 360 Hz span 0.711 s = 17.78 mm at 25 mm/s ...
    assert trace[-1, 0] - trace[0, 0] == pytest.approx((LENGTH - 1) / FS * 25)
    # ... and a 1.2 mV QRS stands ~12 mm above the baseline at 10 mm/mV.
    seg = x[0, 0]
    assert np.ptp(trace[:, 1]) == pytest.approx(np.ptp(seg) * 10, rel=1e-6)
    fig.savefig(tmp_path / "grid.png", dpi=100)
    assert _red_fraction(tmp_path / "grid.png") > 0.05  # the red grid is there


def test_rhythm_strip_places_r_peaks_at_rr_and_keeps_beats(tmp_path):
    x, y, _ = beats(64)
    pick = np.r_[0:4, 56, 4:8]  # N N N N V N N N N
    seg, lab = x[pick], y[pick]
    rr = RRModel(std_s=0.0)
    sig, peaks, labels = make_strip(seg, lab, FS, R_INDEX, rr, np.random.default_rng(0))
    steps = np.diff(peaks) / FS
    np.testing.assert_allclose(
        steps, [0.8, 0.8, 0.8, 0.8 * 0.65, 0.8 * 1.35, 0.8, 0.8, 0.8], atol=1 / FS
    )
    assert sig.shape == (1, peaks[-1] + LENGTH - R_INDEX)
    # Each R peak is the beat's own R peak; a window's untapered middle is the beat itself.
    np.testing.assert_allclose(sig[0, peaks], seg[:, 0, R_INDEX], atol=1e-6)
    flat = slice(int(0.1 * LENGTH) + 1, int(0.9 * LENGTH) - 1)
    np.testing.assert_allclose(sig[0, flat], seg[0, 0, flat], atol=1e-6)
    plot_strip(sig, FS, peaks, labels, ["MLII"], path=tmp_path / "strip.png")
    assert _red_fraction(tmp_path / "strip.png") > 0.05


def test_rhythm_strip_takes_the_beats_own_rr_when_generated():
    x, y, _ = beats(64)
    pick = np.r_[0:2, 56, 2]  # N N V N
    # Previous, next, local mean RR (s): the V beat 0.6 x its local RR, then a 1.25 x pause;
    # the beats were made at different heart rates, and only the ratios carry over.
    beat_rr = np.array([[1.0, 1.0, 1.0], [0.7, 0.7, 0.7], [0.48, 1.0, 0.8], [0.9, 0.9, 0.9]])
    rr = RRModel(std_s=0.0)
    _, peaks, _ = make_strip(
        x[pick], y[pick], FS, R_INDEX, rr, np.random.default_rng(0), beat_rr=beat_rr
    )
    np.testing.assert_allclose(np.diff(peaks) / FS, [0.8, 0.8 * 0.6, 0.8 * 1.25], atol=1 / FS)
    with pytest.raises(ValueError, match="4 rows of 3 positive seconds"):
        rr.intervals(y[pick], np.random.default_rng(0), beat_rr[:, :2])
    with pytest.raises(ValueError, match="4 rows of 3 positive seconds"):
        rr.intervals(y[pick], np.random.default_rng(0), -beat_rr)


def test_rhythm_strip_keeps_each_window_to_its_own_beat():
    """Context windows (1.25 s before the R peak) hold the previous beat, at the RR the
    window was generated with. Joined whole, that beat is crossfaded in between the strip's
    own beats; cut to ``keep_s`` around the R peak, only the strip's beats remain."""
    fs, r_index, length = 128.0, 160, 256
    t = np.arange(length)
    window = np.exp(-0.5 * ((t - r_index) / 2.0) ** 2)
    window += np.exp(-0.5 * ((t - r_index + 70) / 2.0) ** 2)  # the previous beat, 0.55 s before
    window = window[None, None, :]
    seg = np.repeat(window, 5, axis=0).astype(np.float32)
    labels = np.zeros(5, np.int64)
    rr = RRModel(mean_s=1.0, std_s=0.0)  # the strip's beats 1 s apart, not 0.55 s

    def between(sig, peaks):  # the strip away from its own beats' QRS
        gaps = zip(peaks[:-1], peaks[1:], strict=True)
        return np.concatenate([sig[0, a + 20 : b - 20] for a, b in gaps])

    rng = np.random.default_rng(0)
    whole, peaks, _ = make_strip(seg, labels, fs, r_index, rr, rng)
    assert between(whole, peaks).max() > 0.3  # the ghost of the window's previous beat
    cut, peaks, _ = make_strip(seg, labels, fs, r_index, rr, rng, keep_s=(0.3, 0.5))
    assert between(cut, peaks).max() < 0.01
    np.testing.assert_allclose(cut[0, peaks], 1.0, atol=1e-6)  # the beats themselves stay
    for bad in ((0.0, 0.5), 0.3, ("a", 0.5)):
        with pytest.raises(ValueError, match="keep_s=.* must be two positive seconds"):
            make_strip(seg, labels, fs, r_index, rr, rng, keep_s=bad)


def test_join_crossfades_overlaps_and_bridges_gaps_at_edge_levels():
    a = np.ones((1, 1, 10), np.float32)
    b = 3 * np.ones((1, 1, 10), np.float32)
    # Overlap of 4 samples: values between the two levels, monotone, no jump past them.
    out = join_beats(np.concatenate([a, b]), np.array([2, 8]), 2, 16, taper=0.8)[0]
    assert out[0] == pytest.approx(1) and out[-1] == pytest.approx(3)
    assert np.all(np.diff(out) >= -1e-6) and np.all((out[6:10] > 1) & (out[6:10] < 3))
    # Gap of 5 samples between windows: a straight line from 1 to 3.
    out = join_beats(np.concatenate([a, b]), np.array([2, 17]), 2, 25)[0]
    np.testing.assert_allclose(out[9:16], np.linspace(1, 3, 7), atol=1e-6)
    # A noisy last sample does not set the bridge: the edge level (median) does.
    a_noisy = a.copy()
    a_noisy[..., -1] = 5.0
    out = join_beats(np.concatenate([a_noisy, b]), np.array([2, 17]), 2, 25, edge=5)[0]
    np.testing.assert_allclose(out[10:16], np.linspace(1, 3, 7)[1:], atol=1e-6)


def test_rr_model_rejects_inconsistent_bounds():
    with pytest.raises(ValueError, match="min_s <= mean_s"):
        RRModel.from_config({"mean_s": 0.2, "min_s": 0.3})
    assert RRModel.from_config({}, {"rr_stats": {"mean_s": 0.9, "std_s": 0.1}}).mean_s == 0.9
