"""generate.py: the output folder contract, reproducibility, conditioning and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecg_synth.generation import GenerationError, Request, generate_to_folder, plan, tasks
from ecg_synth.generation.loading import load_generator
from ecg_synth.run_info import REPO_ROOT
from tests.generation.trained import CLASS_COUNTS, LENGTH, R_INDEX, SUBJECTS
from tests.helpers import compose_train


def compose(out: Path, overrides: list[str]):
    return compose_train(
        out, [f"out_dir={out}", "progress=false", *overrides], config_name="generate"
    )


def test_output_folder_contract(tmp_path, runs):
    run = runs["wgan_gp-simulated"]
    cfg = compose(
        tmp_path / "out",
        [
            f"model_path={run}",
            "n=40",
            "seed=3",
            "wfdb=true",
            "csv=true",
            "rhythm.enabled=true",
            "rhythm.beats=8",
            "rhythm.n_strips=2",
        ],
    )
    result = tasks.generate(cfg)
    out = tmp_path / "out"

    signals = np.load(out / "signals.npy")
    labels = np.load(out / "labels.npy")
    assert signals.dtype == np.float32 and signals.shape == (40, 1, LENGTH)
    assert labels.dtype == np.int64 and set(labels) <= {0, 1, 2}  # F, Q: no training data
    assert not (out / "subjects.npy").exists()  # class-conditioned only
    meta = json.loads((out / "meta.json").read_text())
    for key in ("fs", "length", "r_index", "leads", "units", "seed", "config_hash"):
        assert key in meta, key
    assert (meta["fs"], meta["length"], meta["r_index"], meta["units"], meta["seed"]) == (
        360.0,
        LENGTH,
        R_INDEX,
        "mV",
        3,
    )
    assert meta["model"]["name"] == "wgan_gp-simulated" and meta["model"]["kind"] == "wgan_gp"
    assert meta["model"]["version"].startswith("best-")  # a run folder's best checkpoint
    assert sum(meta["class_counts_generated"].values()) == 40
    assert meta["rhythm"]["n_strips"] == 2
    assert set(result.files) >= {
        "meta.json",
        "signals.npy",
        "labels.npy",
        "signals.csv",
        "samples.png",
        "rhythm.png",
        "wfdb/segments_0000",
        "wfdb/rhythm_0000",
        "wfdb/rhythm_0001",
    }

    rec = wfdb.rdrecord(str(out / "wfdb" / "segments_0000"))
    np.testing.assert_allclose(rec.p_signal[:, 0], signals[:, 0].ravel(), atol=5e-4 + 1e-9)
    strip = wfdb.rdann(str(out / "wfdb" / "rhythm_0001"), "atr")
    assert strip.symbol == ["NSVFQ"[v] for v in labels[8:16]]


def test_same_seed_same_signals_and_chunks_bound_memory(tmp_path, wgan):
    a = generate_to_folder(
        wgan,
        tmp_path / "a",
        Request(n=50, seed=11, batch_size=16, figure=False, progress=False, rhythm={"beats": 10}),
    )
    assert "wfdb/rhythm_0000" in a.files  # rhythm strips are WFDB records even without wfdb
    b = generate_to_folder(
        wgan, tmp_path / "b", Request(n=50, seed=11, batch_size=16, figure=False, progress=False)
    )
    c = generate_to_folder(
        wgan, tmp_path / "c", Request(n=50, seed=12, batch_size=16, figure=False, progress=False)
    )
    sa, sb, sc = (np.load(r.out / "signals.npy") for r in (a, b, c))
    np.testing.assert_array_equal(sa, sb)
    assert a.meta["config_hash"] == b.meta["config_hash"] != c.meta["config_hash"]
    assert not np.allclose(sa, sc)
    # Chunks are independent draws: no two 16-segment chunks repeat each other.
    assert not np.allclose(sa[:16], sa[16:32])


def test_classes_follow_training_proportions_or_the_request(wgan):
    p = plan(wgan, 6400, seed=0)
    share = np.bincount(p.labels, minlength=5) / 6400
    expected = np.array([CLASS_COUNTS[c] for c in "NSVFQ"]) / sum(CLASS_COUNTS.values())
    np.testing.assert_allclose(share, expected, atol=0.02)
    p = plan(wgan, 9, classes=["S", "V"], seed=0)
    assert sorted(np.bincount(p.labels, minlength=5)[1:3]) == [4, 5]
    assert set(plan(wgan, 5, classes="V", seed=0).labels) == {2}


def test_subject_conditioned_model_writes_subjects(tmp_path, runs):
    handle = load_generator(runs["gan-subject"])
    r = generate_to_folder(
        handle,
        tmp_path,
        Request(n=8, classes=["N"], subjects=["101", "105"], seed=0, figure=False, progress=False),
    )
    subjects = np.load(tmp_path / "subjects.npy")
    assert sorted(set(np.asarray(SUBJECTS)[subjects])) == ["101", "105"]
    assert r.meta["subjects"] == SUBJECTS
    # An unconditional model labels its segments -1 ("not chosen").
    uncond = load_generator(runs["gan-uncond"])
    generate_to_folder(uncond, tmp_path / "u", Request(n=3, seed=0, figure=False, progress=False))
    np.testing.assert_array_equal(np.load(tmp_path / "u" / "labels.npy"), [-1, -1, -1])


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        (["n=0"], GenerationError, "n=0"),
        (["n=-5"], GenerationError, "n=-5"),
        (["classes=[X]"], GenerationError, "unknown class 'X'"),
        (["classes=[F]"], GenerationError, "class 'F' had no training segments"),
        (["classes=[]"], GenerationError, r"class=\[\] selects nothing"),
        (["classes={V: 10, N: 2}"], GenerationError, "give one name or a list of names"),
        (["subjects=[100]"], GenerationError, "not subject-conditioned"),
        (["expected_kind=gan"], GenerationError, "holds a 'wgan_gp' model, expected 'gan'"),
        (["seed=-1"], GenerationError, "seed=-1"),
    ],
)
def test_bad_requests_are_clear_errors(tmp_path, runs, overrides, error, match):
    cfg = compose(tmp_path, [f"model_path={runs['wgan_gp-simulated']}", *overrides])
    with pytest.raises(error, match=match):
        tasks.generate(cfg)
    assert not (tmp_path / "signals.npy").exists()


def test_bad_model_paths_are_clear_errors(tmp_path, runs):
    with pytest.raises(FileNotFoundError, match="/no/such/run"):
        tasks.generate(compose(tmp_path, ["model_path=/no/such/run"]))
    with pytest.raises(GenerationError, match="autoencoder.*does not generate"):
        tasks.generate(compose(tmp_path, [f"model_path={runs['autoencoder-simulated']}"]))
    (tmp_path / "empty_run" / "checkpoints").mkdir(parents=True)
    with pytest.raises(GenerationError, match="no checkpoints/best-"):
        tasks.generate(compose(tmp_path, [f"model_path={tmp_path / 'empty_run'}"]))
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(GenerationError, match="junk.ckpt"):
        tasks.generate(compose(tmp_path, [f"model_path={tmp_path / 'junk.ckpt'}"]))


def _generate_py(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ECG_SYNTH_ROOT": str(cwd), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "generate.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_generate_py_command_line(tmp_path, runs, monkeypatch, capsys):
    ckpt = runs["wgan_gp-simulated"] / "checkpoints" / "last.ckpt"
    proc = _generate_py(
        [f"model_path={ckpt}", "n=5", "classes=V", "seed=4", f"hydra.run.dir={tmp_path / 'out'}"],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Output folder" in proc.stdout
    assert np.load(tmp_path / "out" / "labels.npy").tolist() == [2] * 5
    # A bad request through the same entry point (in process): one line, exit status 1.
    from hydra.core.global_hydra import GlobalHydra

    from ecg_synth import cli

    GlobalHydra.instance().clear()
    monkeypatch.setattr(
        sys,
        "argv",
        ["generate.py", f"model_path={ckpt}", "n=0", f"hydra.run.dir={tmp_path / 'bad'}"],
    )
    with pytest.raises(SystemExit) as e:
        cli.generate()
    assert str(e.value.code).startswith("generate.py: error: n=0: the number of segments")


def test_rhythm_strips_take_prematurity_and_pauses_from_the_generated_rr(tmp_path, runs):
    rhythm = {
        "n_strips": 2,
        "beats": 10,
        "rr": {"mean_s": 0.8, "std_s": 0.0, "min_s": 0.1, "max_s": 3.0},
    }
    req = Request(n=20, seed=4, figure=False, progress=False, rhythm=rhythm)
    r = generate_to_folder(load_generator(runs["wgan_gp-rr"]), tmp_path, req)
    rr = np.load(tmp_path / "rr.npy").astype(np.float64)[10:]  # the second strip's beats
    peaks = wfdb.rdann(str(tmp_path / "wfdb" / "rhythm_0001"), "atr").sample
    # The sinus RR times the beat's own prematurity times the pause after the beat before.
    want = 0.8 * rr[1:, 0] / rr[1:, 2] * rr[:-1, 1] / rr[:-1, 2]
    np.testing.assert_allclose(np.diff(peaks) / 360.0, want, atol=1 / 360.0)
    assert "generated RR" in r.meta["rhythm"]["prematurity"]


@pytest.mark.parametrize(
    "rhythm, match",
    [
        ({"beats": 1}, r"rhythm.beats=1 must be an integer >= 2"),
        ({"beats": 50}, r"rhythm.beats=50 is more than the 20 generated segments"),
        ({"keep_s": 0.3}, r"rhythm.keep_s=0.3 must be two positive seconds"),
        ({"n_strips": 0}, r"rhythm.n_strips=0 must be an integer >= 1"),
        ({"beats": 2.5}, r"rhythm.beats=2.5 must be an integer >= 2"),
        ({"taper": 1.5}, r"rhythm.taper=1.5: the Tukey taper fraction lies in \[0, 1\]"),
        ({"rr": {"mean_s": 0.2, "min_s": 0.3}}, r"min_s <= mean_s <= max_s"),
    ],
)
def test_a_bad_rhythm_config_is_refused_before_anything_is_generated(tmp_path, wgan, rhythm, match):
    req = Request(n=20, figure=False, progress=False, rhythm=rhythm)
    with pytest.raises(GenerationError, match=match) as e:
        generate_to_folder(wgan, tmp_path / "out", req)
    assert e.value.field == "rhythm" and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "field, value",
    [("wfdb_per_record", 0), ("wfdb_per_record", -2), ("figure_panels", 0), ("batch_size", 2.5)],
)
def test_bad_output_settings_are_refused_before_anything_is_written(tmp_path, wgan, field, value):
    req = Request(n=5, wfdb=True, progress=False, **{field: value})
    with pytest.raises(GenerationError, match=f"{field}={value} must be an integer >= 1") as e:
        generate_to_folder(wgan, tmp_path / "out", req)
    assert e.value.field == field and not (tmp_path / "out").exists()


def test_fewer_strips_than_asked_are_written_with_a_warning(tmp_path, wgan, caplog):
    req = Request(n=20, figure=False, progress=False, rhythm={"n_strips": 3, "beats": 8})
    with caplog.at_level("WARNING", logger="ecg_synth.generation.output"):
        r = generate_to_folder(wgan, tmp_path, req)
    assert r.meta["rhythm"]["n_strips"] == 2
    assert sorted(p.name for p in (tmp_path / "wfdb").glob("rhythm_*.hea")) == [
        "rhythm_0000.hea",
        "rhythm_0001.hea",
    ]
    assert "rhythm.n_strips=3 strips of 8 beats need 24 segments; 20 generated make 2" in (
        caplog.text
    )


def test_a_model_that_generates_rr_writes_it_and_evaluation_reads_it(tmp_path, runs):
    from ecg_synth.evaluation.inputs import EvaluationError, WindowSpec, load_generated

    req = Request(n=40, seed=2, figure=False, progress=False)
    r = generate_to_folder(load_generator(runs["wgan_gp-rr"]), tmp_path / "a", req)
    rr = np.load(tmp_path / "a" / "rr.npy")
    assert rr.dtype == np.float32 and rr.shape == (40, 3) and (rr > 0).all()
    assert "rr.npy" in r.files and "seconds" in r.meta["rr"]
    generate_to_folder(load_generator(runs["wgan_gp-rr"]), tmp_path / "b", req)
    np.testing.assert_array_equal(np.load(tmp_path / "b" / "rr.npy"), rr)  # seeded like signals
    plain = generate_to_folder(load_generator(runs["wgan_gp-simulated"]), tmp_path / "c", req)
    assert not (tmp_path / "c" / "rr.npy").exists() and plain.meta["rr"] is None

    spec = WindowSpec(360.0, LENGTH, R_INDEX, ("MLII",))
    got = load_generated(tmp_path / "a", spec, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(got.rr, rr)  # scored with its own RR, not borrowed RR
    assert load_generated(tmp_path / "c", spec, [0, 1, 2, 3, 4]).rr is None
    for bad, match in [(rr[:, :2], r"expected \(40, 3\)"), (-rr, "not a positive number")]:
        np.save(tmp_path / "a" / "rr.npy", bad)
        with pytest.raises(EvaluationError, match=match) as e:
            load_generated(tmp_path / "a", spec, [0, 1, 2, 3, 4])
        assert "rr.npy" in str(e.value)
