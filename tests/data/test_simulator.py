"""The offline simulated database: WFDB output, determinism, caching, physiology of the beats."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecg_synth.data.simulator import SimParams, ensure_database, simulate_subject

FS = 360.0


def _read(root: Path, name: str):
    rec = wfdb.rdrecord(str(root / name))
    ann = wfdb.rdann(str(root / name), "atr")
    symbols = np.asarray(ann.symbol)
    beat = symbols != "+"
    return rec, ann.sample[beat], symbols[beat]


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


@pytest.fixture(scope="module")
def default_db(tmp_path_factory) -> tuple[Path, list[str], float]:
    """The default database (8 subjects x 180 s at 360 Hz), with its build time."""
    root = tmp_path_factory.mktemp("sim") / "db"
    t0 = time.perf_counter()
    names = ensure_database(root)
    return root, names, time.perf_counter() - t0


@pytest.fixture(scope="module")
def subjects(default_db):
    root, names, _ = default_db
    return {n: _read(root, n) for n in names}


def test_default_build_is_fast_and_complete(default_db):
    root, names, seconds = default_db
    assert seconds < 5.0, f"default simulated database took {seconds:.1f} s"
    assert names == [f"sim{i:02d}" for i in range(1, 9)]
    assert (root / "RECORDS").read_text().split() == names
    cfg = json.loads((root / "simulator.json").read_text())
    assert cfg["version"] >= 1 and cfg["n_subjects"] == 8 and cfg["fs"] == FS
    assert cfg["params"]["hr_bpm"] == [55.0, 100.0]  # every SimParams field is recorded
    assert set(cfg["params"]) == set(SimParams.__dataclass_fields__)


def test_records_read_back_as_wfdb(subjects):
    for name, (rec, samples, symbols) in subjects.items():
        assert rec.record_name == name
        assert rec.sig_name == ["MLII"] and rec.units == ["mV"]
        assert rec.fs == FS and rec.sig_len == int(180 * FS) and rec.n_sig == 1
        assert rec.fmt == ["16"] and rec.adc_gain == [200.0]
        assert set(symbols) <= {"N", "A", "V", "F"}
        assert np.all(np.diff(samples) > 0) and samples[0] > 0 and samples[-1] < rec.sig_len
        assert np.isfinite(rec.p_signal).all()


def test_r_peaks_at_annotations(subjects):
    # F beats are left out: a fusion complex (narrow N spike on a wide V deflection) has two
    # near-equal extrema, so with noise its |max| may be either; the clean test covers them.
    offsets = []
    for rec, samples, symbols in subjects.values():
        x = rec.p_signal[:, 0]
        b = samples[(samples > 200) & (samples < len(x) - 200) & (symbols != "F")]
        base = np.median(x[b[:, None] + np.arange(-180, 181)], axis=1)  # local isoelectric level
        win = b[:, None] + np.arange(-10, 11)  # +-28 ms
        offsets.append(np.abs(x[win] - base[:, None]).argmax(1) - 10)
    off = np.abs(np.concatenate(offsets))
    assert np.mean(off <= 2) > 0.99, np.bincount(off)
    assert off.max() <= 4, np.bincount(off)


def test_r_peaks_exact_on_noise_free_signal():
    sub = simulate_subject(3, int(60 * FS), FS, seed=0, p=SimParams())  # the PVC-rich profile
    z = np.abs(sub.clean)
    s = sub.samples[(sub.samples > 20) & (sub.samples < len(z) - 20)]
    assert {"N", "V"} <= set(sub.symbols)
    local = z[s[:, None] + np.arange(-7, 8)]  # +-20 ms
    assert np.all(local.argmax(1) == 7)
    assert np.all(z[s] > 0.5), "every annotated beat has a large deflection"


def test_amplitudes_plausible(subjects):
    for name, (rec, samples, symbols) in subjects.items():
        x = rec.p_signal[:, 0]
        r = np.median(x[samples[symbols == "N"]] - np.median(x))
        assert 0.5 < r < 2.0, f"{name}: median R amplitude {r:.2f} mV"
        assert np.abs(x).max() < 5.0, name


def test_classes_present_and_imbalanced(subjects):
    symbols = np.concatenate([s for _, _, s in subjects.values()])
    counts = {k: int((symbols == k).sum()) for k in "NAVF"}
    assert counts["A"] > 10 and counts["V"] > 10, counts
    assert counts["N"] / len(symbols) > 0.8, counts  # imbalanced like MIT-BIH
    per_subject_v = [int((s == "V").sum()) for _, _, s in subjects.values()]
    assert min(per_subject_v) == 0 and max(per_subject_v) > 10  # some subjects many V, some none


def test_heart_rates_and_hrv_differ_between_subjects(subjects):
    hr, sdnn = [], []
    for _, samples, symbols in subjects.values():
        nn = np.diff(samples)[(symbols[1:] == "N") & (symbols[:-1] == "N")] / FS
        hr.append(60 / nn.mean())
        sdnn.append(nn.std())
    assert max(hr) - min(hr) > 15, hr
    assert all(0.005 < s < 0.15 for s in sdnn), sdnn  # HRV present but physiological


def _template(x: np.ndarray, samples: np.ndarray, half: int) -> np.ndarray:
    s = samples[(samples > half) & (samples < len(x) - half)]
    t = x[s[:, None] + np.arange(-half, half + 1)].mean(0)
    return np.abs(t - np.median(t))


def _fwhm(t: np.ndarray) -> int:
    """Width in samples of the contiguous region around the centre above half its peak."""
    c = len(t) // 2
    above = t >= t[c] / 2
    left = c - np.argmin(above[c::-1]) if not above[: c + 1].all() else 0
    right = c + np.argmin(above[c:]) if not above[c:].all() else len(t)
    return int(right - left)


def test_v_beats_premature_compensated_and_wide(subjects):
    n_checked = 0
    for name, (rec, samples, symbols) in subjects.items():
        if (symbols == "V").sum() < 5:
            continue
        n_checked += 1
        x = rec.p_signal[:, 0]
        rr = np.diff(samples) / FS
        mean_rr = rr.mean()
        nn = np.median(rr[(symbols[1:] == "N") & (symbols[:-1] == "N")])
        v = np.flatnonzero(symbols == "V")
        v = v[(v > 0) & (v < len(symbols) - 1)]
        before, after = rr[v - 1], rr[v]
        assert np.all(before < mean_rr), f"{name}: a V beat is not premature"
        assert np.median(before) < 0.8 * nn, f"{name}: V coupling interval too long"
        # fully compensatory pause: the two RR around the V span about two sinus cycles
        assert np.allclose((before + after) / (2 * nn), 1.0, atol=0.15), name
        half = int(0.3 * FS)
        w_n = _fwhm(_template(x, samples[symbols == "N"], half))
        w_v = _fwhm(_template(x, samples[symbols == "V"], half))
        assert w_v > 1.8 * w_n, f"{name}: QRS FWHM V {w_v} vs N {w_n} samples"
    assert n_checked >= 2


def test_a_beats_premature_with_normal_qrs(subjects):
    rec, samples, symbols = subjects["sim02"]  # the frequent-APB profile
    x = rec.p_signal[:, 0]
    rr = np.diff(samples) / FS
    a = np.flatnonzero(symbols == "A")
    a = a[a > 0]
    assert len(a) >= 8
    nn = np.median(rr[(symbols[1:] == "N") & (symbols[:-1] == "N")])
    assert np.median(rr[a - 1]) < 0.85 * nn and np.mean(rr[a - 1] < nn) > 0.9
    half = int(0.06 * FS)  # QRS only: the P wave differs on purpose
    w_n = _fwhm(_template(x, samples[symbols == "N"], half))
    w_a = _fwhm(_template(x, samples[symbols == "A"], half))
    assert abs(w_a - w_n) <= 2


@pytest.mark.parametrize("fs", [250.0, 500.0])
def test_other_sampling_rates(tmp_path, fs):
    (name,) = ensure_database(tmp_path / "db", n_subjects=1, duration_s=20.0, fs=fs)
    rec, samples, _ = _read(tmp_path / "db", name)
    assert rec.fs == fs and rec.sig_len == int(20 * fs)
    x = rec.p_signal[:, 0]
    s = samples[(samples > fs) & (samples < len(x) - fs)]
    w = int(0.03 * fs)
    off = np.abs(x[s[:, None] + np.arange(-w, w + 1)] - np.median(x)).argmax(1) - w
    assert len(s) > 10 and np.abs(off).max() <= 2
    rr = np.diff(samples) / fs
    assert 55 <= 60 / np.median(rr) <= 100  # beat timing does not depend on fs


def test_deterministic_and_seed_dependent(tmp_path):
    kw = {"n_subjects": 2, "duration_s": 20.0}
    a = ensure_database(tmp_path / "a", seed=5, **kw)
    b = ensure_database(tmp_path / "b", seed=5, **kw)
    assert a == b
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    ensure_database(tmp_path / "c", seed=6, **kw)
    x5 = wfdb.rdrecord(str(tmp_path / "a" / "sim01")).p_signal
    x6 = wfdb.rdrecord(str(tmp_path / "c" / "sim01")).p_signal
    assert x5.shape != x6.shape or not np.allclose(x5, x6)


def test_reuse_keeps_files_and_changed_params_rebuild(tmp_path):
    root = tmp_path / "db"
    names = ensure_database(root, n_subjects=3, duration_s=15.0)
    mtimes = {p.name: p.stat().st_mtime_ns for p in root.iterdir()}
    t0 = time.perf_counter()
    assert ensure_database(root, n_subjects=3, duration_s=15.0) == names
    assert time.perf_counter() - t0 < 0.5
    assert {p.name: p.stat().st_mtime_ns for p in root.iterdir()} == mtimes

    names2 = ensure_database(root, n_subjects=2, duration_s=15.0, white_mv=(0.0, 0.0))
    assert names2 == ["sim01", "sim02"]
    assert not (root / "sim03.dat").exists()  # rebuilt from scratch, nothing stale left
    cfg = json.loads((root / "simulator.json").read_text())
    assert cfg["n_subjects"] == 2 and cfg["params"]["white_mv"] == [0.0, 0.0]
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name] == []


def test_ectopic_scale_zero_gives_only_normal_beats(tmp_path):
    names = ensure_database(tmp_path / "db", n_subjects=4, duration_s=30.0, ectopic_scale=0.0)
    for n in names:
        _, _, symbols = _read(tmp_path / "db", n)
        assert set(symbols) == {"N"}


def test_refuses_to_replace_a_foreign_folder(tmp_path):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="simulator.json"):
        ensure_database(root, n_subjects=1, duration_s=10.0)
    assert (root / "notes.txt").read_text() == "keep me"


def _build(root: str) -> list[str]:
    return ensure_database(Path(root), n_subjects=2, duration_s=20.0, seed=1)


def test_concurrent_callers_build_once_and_agree(tmp_path):
    root = tmp_path / "db"
    with mp.get_context("fork").Pool(2) as pool:
        results = pool.map(_build, [str(root)] * 2)
    assert results[0] == results[1] == ["sim01", "sim02"]
    ref = tmp_path / "ref"
    _build(str(ref))
    assert _files(root) == _files(ref)
    leftovers = [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    assert leftovers == []


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_subjects": 0}, "n_subjects"),
        ({"n_subjects": 2.5}, "n_subjects"),
        ({"duration_s": 2.0}, "duration_s"),
        ({"fs": 0.0}, "fs"),
        ({"fs": -360.0}, "fs"),
        ({"seed": -1}, "seed"),
        ({"heart_rate": 70}, "heart_rate"),
        ({"hr_bpm": (100.0, 60.0)}, "hr_bpm"),
        ({"white_mv": (-1.0, 0.1)}, "white_mv"),
        ({"white_mv": 0.1}, "white_mv"),
        ({"morph_jitter": "big"}, "morph_jitter"),
    ],
)
def test_bad_parameters_raise_naming_them(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        ensure_database(tmp_path / "db", **kwargs)
    assert not (tmp_path / "db").exists()
