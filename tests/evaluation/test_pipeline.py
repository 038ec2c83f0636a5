"""``evaluate.py`` end to end: the real Hydra config, a tiny simulated database, generated
folders written in the documented contract, a real checkpoint, and every bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import hydra
import numpy as np
import pytest
from omegaconf import OmegaConf

from ecg_synth import tasks
from ecg_synth.data.types import AAMI_CLASSES
from ecg_synth.evaluation import _common
from ecg_synth.evaluation._common import fit_network, predict_logits, torch_session
from ecg_synth.evaluation.baselines import baseline_sets
from ecg_synth.evaluation.classifier import BeatCNN, ClassifierConfig
from ecg_synth.evaluation.detectors import DetectorConfig
from ecg_synth.evaluation.inputs import (
    EvaluationError,
    WindowSpec,
    conform_window,
    generate_from_checkpoint,
    load_generated,
)
from ecg_synth.evaluation.pipeline import _dataclass, _plain, run
from ecg_synth.evaluation.scoring import (
    beat_data,
    class_counts,
    classifier_beats,
    classifier_supply,
)
from ecg_synth.evaluation.subject_id import SubjectIdConfig
from ecg_synth.generation import load_generator
from ecg_synth.metrics.controls import add_noise
from ecg_synth.run_info import REPO_ROOT
from tests.helpers import compose_train

# A 4-subject, 120 s simulated database: train sim02+sim04 (N, S, V, F), test sim01 (N, S, V).
DATA = [
    "dataset.source.simulator.n_subjects=4",
    "dataset.source.simulator.duration_s=120",
    "dataset.split.train=[sim02,sim04]",
    "dataset.split.val=[sim03]",
    "dataset.split.test=[sim01]",
]
QUICK = ["quick=true", "num_threads=1"]
SPEC = WindowSpec(360.0, 256, 90, ("MLII",))


def compose_eval(run_dir: Path, overrides: list[str], data_root: Path):
    """``conf/evaluate.yaml`` composed as ``python evaluate.py`` would (see compose_train)."""
    return compose_train(run_dir, [*DATA, *overrides], data_root, config_name="evaluate")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("eval_data")


def built_segments(run_dir: Path, overrides: list[str], data_root: Path) -> dict:
    """The dataset of ``conf/evaluate.yaml`` with ``overrides``, built: split -> segments."""
    cfg = compose_train(run_dir, overrides, data_root, config_name="evaluate")
    dm = hydra.utils.instantiate(cfg.dataset, _convert_="all")
    dm.prepare_data()
    dm.setup()
    return dm.segments


@pytest.fixture(scope="module")
def splits(data_root, tmp_path_factory):
    return built_segments(tmp_path_factory.mktemp("dm"), DATA, data_root)


def write_folder(folder: Path, signals, labels, subjects=None, **meta) -> Path:
    """A generated folder in the contract of ecg_synth/generation/writers.py."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "signals.npy", np.asarray(signals, dtype=np.float32))
    np.save(folder / "labels.npy", np.asarray(labels))
    info = {"fs": 360.0, "length": 256, "r_index": 90, "leads": ["MLII"], "units": "mV"}
    if subjects is not None:
        names, idx = np.unique(subjects, return_inverse=True)
        np.save(folder / "subjects.npy", idx.astype(np.int64))
        info["subjects"] = names.tolist()
    (folder / "meta.json").write_text(json.dumps(info | meta))
    return folder


def class_means(train, labels) -> np.ndarray:
    """Every segment = the training mean of its class: a collapsed generator."""
    means = {c: train.signals[train.labels == c].mean(0) for c in np.unique(labels)}
    return np.stack([means[c] for c in labels])


def test_quick_run_scores_floor_controls_baselines_and_flags_collapse(tmp_path, data_root, splits):
    test = splits["test"]
    gen = write_folder(tmp_path / "gen", class_means(splits["train"], test.labels), test.labels)
    out = tmp_path / "run"
    doc = run(compose_eval(out, [*QUICK, f"generated={gen}"], data_root))

    saved = json.loads((out / "metrics.json").read_text())  # strict JSON: no NaN literals
    assert set(saved["controls"]) == {"heldout", "noise", "shift", "template", "template_noise"}
    assert set(saved["baselines"]) == {"real_train", "simulator", "noise", "class_mean_noise"}
    for key in ("fd", "mmd", "prd", "psd", "precision", "coverage", "svm_shape_auc"):
        assert isinstance(saved["generated"][key], float), key
        assert isinstance(saved["floor"][key], float), key
    assert saved["generated"]["dtw"] is None  # quick mode skips DTW
    # the FD's sampling noise: there, and below the FD itself even on these few test beats
    for name in ("generated", "floor"):
        assert 0 < saved[name]["fd_sd"] < saved[name]["fd"], name
    assert "cnn_auc" not in saved["generated"] and "tstr_macro_f1" not in saved["generated"]
    # The class-mean generator is collapsed; so is the class-mean baseline; the floor is not.
    assert saved["flags"]["generated"]["collapsed"] is True
    assert saved["baselines"]["class_mean_noise"]["collapsed"] is True
    assert saved["floor"]["collapsed"] is False
    # The ideal generator (real training beats) scores near the floor; noise does not.
    floor, ideal, noise = (
        saved["floor"],
        saved["baselines"]["real_train"],
        saved["baselines"]["noise"],
    )
    for key in ("fd", "mmd", "fd_wave", "rmse", "pairwise_ratio", "modes_ratio"):
        assert abs(ideal[key] - floor[key]) < 0.25 * abs(floor[key]) + 1e-3, key
    for key in ("fd_wave", "rmse", "prd", "psd"):  # (the tiny test encoder is too weak for fd)
        assert noise[key] > 1.5 * floor[key], key
    assert noise["svm_amplitude_auc"] > 0.95
    # Shifted beats keep the spectrum but lose their R peak position.
    assert saved["controls"]["shift"]["r_ok_gen"] < 0.2 < saved["controls"]["heldout"]["r_ok_gen"]
    assert set(saved["timings"]) >= {"data", "generated", "encoder", "metrics", "svm", "total"}
    assert doc["meta"]["n_scored"] == len(test)

    report = (out / "report.md").read_text()
    assert "| FD sampling sd (bootstrap) | noise |" in report
    figures = [
        line.split("](")[1].rstrip(")") for line in report.splitlines() if line.startswith("![")
    ]
    assert {
        "figures/overlays.png",
        "figures/class_bands.png",
        "figures/embedding_pca.png",
        "figures/histograms.png",
    } <= set(figures)
    assert all((out / f).stat().st_size > 5000 for f in figures)
    assert "generated set **collapsed**: **YES**" in report
    assert "| metric | read | generated | floor (real train) | held-out real |" in report
    assert "## Time per stage" in report


def test_detectors_split_the_floor_as_they_split_the_generated_beats(tmp_path, data_root):
    """The floor is the detector with real training beats in place of the generated ones, so
    they are split as the generated beats are: at random for a model without subjects (not
    by record, a harder task that lowered the floor), by subject for one with them."""
    two_heldout = [
        "dataset.source.simulator.n_subjects=5",
        "dataset.source.simulator.duration_s=120",
        "dataset.split.train=[sim02,sim04]",
        "dataset.split.val=[sim05]",
        "dataset.split.test=[sim01,sim03]",
    ]
    train = built_segments(tmp_path / "dm", two_heldout, data_root)["train"]
    x = class_means(train, train.labels)
    plain = write_folder(tmp_path / "plain", x, train.labels)
    by_subject = write_folder(tmp_path / "subj", x, train.labels, subjects=train.records)
    splits_seen = {}
    for name, folder in (("plain", plain), ("subject", by_subject)):
        overrides = [*two_heldout, *QUICK, f"generated={folder}", "baselines=[real_train]"]
        cfg = compose_train(tmp_path / name, overrides, data_root, config_name="evaluate")
        doc = run(cfg)
        splits_seen[name] = {
            k: s["svm"]["split"]
            for k, s in (
                ("generated", doc["generated"]),
                ("floor", doc["floor"]),
                ("real_train", doc["baselines"]["real_train"]),
                ("heldout control", doc["controls"]["heldout"]),
            )
        }
    # The held-out control shares the reference's records: one assignment splits both.
    assert splits_seen["plain"] == {
        "generated": "group/random",
        "floor": "group/random",
        "real_train": "group/random",
        "heldout control": "joint-group",
    }
    assert splits_seen["subject"] == {
        "generated": "group/group",
        "floor": "group/group",
        "real_train": "group/group",
        "heldout control": "joint-group",
    }


def test_quick_run_is_deterministic_given_seed(tmp_path, data_root, splits):
    test = splits["test"]
    x = add_noise(test.signals, 15.0, np.random.default_rng(1))
    gen = write_folder(tmp_path / "gen", x, test.labels)

    def scores(name: str, seed: int) -> dict:
        doc = run(
            compose_eval(
                tmp_path / name,
                [*QUICK, f"generated={gen}", f"seed={seed}", "baselines=[noise,class_mean_noise]"],
                data_root,
            )
        )
        sets = {"generated": doc["generated"], "floor": doc["floor"], **doc["baselines"]}
        return {k: {m: v for m, v in s.items() if m != "seconds"} for k, s in sets.items()}

    a, b = scores("a", 3), scores("b", 3)
    assert a == b
    assert scores("c", 4)["noise"] != a["noise"]


def test_full_run_on_tiny_data_runs_every_model(tmp_path, data_root, splits):
    """Non-quick path: DTW, CNN detector, TSTR/TRTS/augmentation, subject identification.
    Generated = training beats + noise, conditioned on their subjects: a memorising set."""
    train = splits["train"]
    x = add_noise(train.signals, 20.0, np.random.default_rng(0))
    gen = write_folder(tmp_path / "gen", x, train.labels, subjects=train.records)
    np.save(gen / "rr.npy", train.rr)  # the set brings its own RR (rr.npy)
    out = tmp_path / "run"
    fast = [
        "num_threads=1",
        "baselines=[real_train,class_mean_noise]",
        "limits.dtw_max=40",
        "classifier.epochs=1",
        "classifier.n_boot=30",
        "classifier.max_train=200",
        "detectors.cnn.epochs=1",
        "detectors.cnn.n_repeats=2",
        "subject_id.epochs=1",
        "subject_id.max_per_subject=60",
    ]
    doc = run(compose_eval(out, [*fast, f"generated={gen}"], data_root))

    g = doc["generated"]
    assert g["dtw"] > 0 and 0 <= g["cnn_auc"] <= 1
    assert g["cnn_auc"] == pytest.approx(np.mean(g["cnn"]["aucs"])) and len(g["cnn"]["aucs"]) == 2
    assert doc["flags"]["generated"]["memorizing"] is True
    assert g["subject_id"]["n_subjects"] == 2 and g["subject_acc_generated"] is not None
    assert doc["classifier"]["scored_classes"] == ["N", "S", "V"]
    assert doc["floor"]["tstr_macro_f1"] == doc["classifier"]["TRTR"]["macro_f1"]
    for s in (g, doc["baselines"]["real_train"], doc["baselines"]["class_mean_noise"]):
        assert {"tstr_macro_f1", "trts_macro_f1", "aug_gain_macro_f1"} <= set(s), s.get("errors")
        aug = s["classifier"]["augmentation"]
        assert aug["gain"]["macro_f1"]["ci_low"] <= aug["gain"]["macro_f1"]["ci_high"]
        cm = np.asarray(s["classifier"]["TSTR"]["confusion_matrix"])
        assert cm.shape == (5, 5) and cm.sum() == len(splits["test"])
    assert not any(s.get("errors") for s in (g, doc["floor"], *doc["baselines"].values()))
    # A folder is all there is; a baseline draws its classifier beats anew, in the real
    # classifier's training counts (here capped at max_train=200, evaluation seed 0), of the
    # scored classes only: the training split's F beats (none in test) train no classifier.
    real_counts = class_counts(beat_data(train, train, 200, 0, ["N", "S", "V"]).y)
    assert "F" in class_counts(train.labels) and "F" not in real_counts
    assert g["classifier"]["supply"] == "the set as given"
    # Its classifiers used its own RR; the baselines without RR borrowed it (of any class).
    assert g["classifier"]["rr"] == "its own"
    assert doc["baselines"]["class_mean_noise"]["classifier"]["rr"] == (
        "borrowed from real beats (any_class)"
    )
    assert "generated beats carry their own RR" in (out / "report.md").read_text()
    assert "CNN detector AUCs are the mean of 2 fits" in (out / "report.md").read_text()
    for s in doc["baselines"].values():
        assert s["classifier"]["supply"] == "drawn anew"
        assert s["classifier"]["tstr_counts"] == real_counts
        assert s["classifier"]["augmentation"]["ratio_used"] == 1.0
    # Augmentation is judged against real-only training with and without class weights,
    # on macro-F1 and on the S class's F1.
    assert "TRTR_unweighted" in doc["floor"]["classifier"]
    gains = g["classifier"]["augmentation"]["gain"]
    assert {"macro_f1", "f1_S", "macro_f1_vs_unweighted", "f1_S_vs_unweighted"} <= set(gains)
    assert g["aug_gain_f1_s"] == gains["f1_S"]["gain"]
    assert g["aug_gain_macro_f1_unweighted"] == gains["macro_f1_vs_unweighted"]["gain"]
    assert {"cnn", "classifier", "subject_id"} <= set(doc["timings"])
    report = (out / "report.md").read_text()
    assert "![confusion](figures/confusion.png)" in report and "## Subject identification" in report
    assert (out / "figures" / "confusion.png").is_file()


def test_evaluates_a_real_checkpoint(tmp_path, data_root):
    """train.py's run folder (a real WGAN-GP fitted 2 steps) -> sampled -> scored."""
    train_run = tmp_path / "train"
    tasks.train(
        compose_train(
            train_run,
            [
                *DATA,
                "debug=tiny",
                *[
                    "dataset.source.simulator.duration_s=120",
                    "trainer.max_epochs=1",
                    "trainer.limit_train_batches=2",
                    "callbacks.sample_figures=null",
                ],
            ],
            data_root,
        )
    )
    out = tmp_path / "eval"
    doc = run(
        compose_eval(
            out, [*QUICK, f"checkpoint={train_run}", "n=60", "baselines=[noise]"], data_root
        )
    )
    assert doc["meta"]["n_generated"] == 60
    assert doc["meta"]["input"] == {"checkpoint": str(train_run)}
    assert "wgan_gp" in doc["meta"]["description"]
    # The held-out split's class mix (N, S, V), among the classes the model trained on.
    assert set(doc["meta"]["class_counts"]["generated"]) <= {"N", "S", "V"}
    assert sum(doc["meta"]["class_counts"]["generated"].values()) == 60
    assert isinstance(doc["generated"]["fd"], float)
    assert (out / "report.md").is_file()
    assert not any("model's window" in n or "never saw" in n for n in doc["notes"])

    # The same model loaded in Python and given as run(cfg, generator=...) (how a model that
    # is not this project's is scored, bench/plain_reference.py): the same protocol, numbers.
    handle = load_generator(train_run)
    in_memory = run(
        compose_eval(tmp_path / "eval_handle", [*QUICK, "n=60", "baselines=[noise]"], data_root),
        generator=handle,
    )
    assert in_memory["meta"]["input"] == {"generator": doc["meta"]["description"]}
    for key in ("fd", "mmd", "nn_ratio", "plausible_gen", "svm_shape_auc"):
        assert in_memory["generated"][key] == doc["generated"][key], key
    assert in_memory["meta"]["class_counts"] == doc["meta"]["class_counts"]
    with pytest.raises(EvaluationError, match=r"exactly one of .*generator='train'"):
        run(compose_eval(tmp_path / "both", [f"checkpoint={train_run}"], data_root), handle)

    # A dataset config cutting other windows (180 Hz) is set to the model's (360 Hz), as the
    # model can only be scored on its own windows; the report says so, with the overrides.
    other_dir = tmp_path / "eval_other_window"
    moved = run(
        compose_eval(
            other_dir,
            [*QUICK, f"checkpoint={train_run}", "n=60", "baselines=[]"]
            + ["dataset.preprocess.target_fs=180", "dataset.segment.length=128"],
            data_root,
        )
    )
    assert (moved["meta"]["fs"], moved["meta"]["length"], moved["meta"]["r_index"]) == (
        360.0,
        256,
        90,
    )
    (note,) = [n for n in moved["notes"] if "model's window" in n]
    assert "instead of the dataset config's (fs=180 Hz, length=128" in note
    assert note.endswith(
        "dataset.preprocess.target_fs=360 dataset.segment.length=256 "
        "dataset.segment.pre_s=0.25 dataset.source.leads=[MLII]"
    )
    assert "model's window" in (other_dir / "report.md").read_text()

    # Other training records than the model's (another dataset or split lists): scored, with
    # a note that the floor and the memorisation test are of data the model never saw.
    other_records = run(
        compose_eval(
            tmp_path / "eval_other_records",
            [*QUICK, f"checkpoint={train_run}", "n=60", "baselines=[]"]
            + ["dataset.split.train=[sim02,sim03]", "dataset.split.val=[sim04]"],
            data_root,
        )
    )
    (note,) = [n for n in other_records["notes"] if "never saw" in n]
    assert "trained on records ['sim02', 'sim04'], but" in note
    assert "training split (simulated source " in note and "holds ['sim02', 'sim03']" in note
    assert "never saw" in (tmp_path / "eval_other_records" / "report.md").read_text()

    # The classifier protocols' own supply: the model sampled again with any labels,
    # seeded, and never with a class it did not train on (Q here).
    held = np.array([0] * 50 + [1] * 10)
    gen = generate_from_checkpoint(train_run, SPEC, held, 60, seed=0)
    wanted = np.array([0, 2, 2, 1, 3, 0])
    again = gen.draw(wanted, 5)
    np.testing.assert_array_equal(again.labels, wanted)
    np.testing.assert_array_equal(again.signals, gen.draw(wanted, 5).signals)
    assert not np.array_equal(again.signals, gen.draw(wanted, 6).signals)
    with pytest.raises(EvaluationError, match=r"checkpoint=.*a class the model never saw"):
        gen.draw(np.array([0, 4]), 5)

    # Several runs evaluated as one model (ecg_synth.generation.ensemble), named as given.
    pair = f"[{train_run},{train_run}]"
    overrides = [*QUICK, f"checkpoint={pair}", "n=60", "baselines=[]"]
    both = run(compose_eval(tmp_path / "eval_ensemble", overrides, data_root))
    assert both["meta"]["input"] == {"checkpoint": [str(train_run)] * 2}
    assert both["meta"]["n_generated"] == 60
    assert f"`checkpoint={pair}`" in (tmp_path / "eval_ensemble" / "report.md").read_text()
    # Real data cut in another window: refused, with the overrides that give the model's.
    other = dataclasses.replace(SPEC, fs=128.0)
    with pytest.raises(EvaluationError) as e:
        generate_from_checkpoint(train_run, other, held, 60, seed=0)
    assert "trained on fs=360.0 but the real data has fs=128.0" in str(e.value)
    assert str(e.value).endswith(
        "dataset.preprocess.target_fs=360 dataset.segment.length=256 "
        "dataset.segment.pre_s=0.25 dataset.source.leads=[MLII]"
    )


def test_classifier_supply_follows_the_real_training_counts_not_the_scored_mix(splits):
    """TSTR draws each class as often as the real classifier's training set has it, the
    augmentation pool ``ratio`` times that for the rare classes, whatever mix the scored set
    has; a set that cannot draw (a folder) gives nothing to draw."""
    train = splits["train"]
    real = beat_data(train, train, 300, 0)
    need = np.bincount(real.y, minlength=len(AAMI_CLASSES))
    skewed = np.array([0] * 95 + [1] * 3 + [2] * 2)  # N, S, V like a held-out mix; no F
    (scored,) = baseline_sets(["real_train"], skewed, train, 0, 10.0)
    tstr, pool = classifier_supply(scored, real, train, ["S", "V", "F"], 2.0, 0)
    assert class_counts(tstr.y) == {c: int(need[i]) for i, c in enumerate("NSV")}
    assert class_counts(pool.y) == {"N": int(need[0]), "S": 2 * int(need[1]), "V": 2 * int(need[2])}
    assert len(tstr.rr) == len(tstr.y)
    scored.draw = None
    assert classifier_supply(scored, real, train, ["S"], 2.0, 0) == (None, None)


def test_classifier_beats_leave_unscored_classes_out(splits):
    """Q (reported, not scored) is left out of the classifiers' training and test beats
    unless keep_unscored; the cap applies to the beats kept, and the test beats are all."""
    train, test = (
        dataclasses.replace(s, labels=np.where(np.arange(len(s)) % 7 == 0, 4, s.labels))
        for s in (splits["train"], splits["test"])
    )
    scored = ["N", "S", "V"]
    real, held = classifier_beats(train, test, scored, 150, False, 0)
    assert set(real.y) == {0, 1, 2} and set(held.y) <= {0, 1, 2}
    assert len(real) == min(150, int((train.labels < 3).sum()))
    assert len(held) == int((test.labels < 3).sum())
    np.testing.assert_array_equal(held.groups, test.records[test.labels < 3])
    real_all, held_all = classifier_beats(train, test, scored, 150, True, 0)
    assert 4 in set(real_all.y) and len(held_all) == len(test)


@pytest.mark.parametrize(
    "section, config_cls",
    [
        ("classifier", ClassifierConfig),
        ("detectors.cnn", DetectorConfig),
        ("subject_id", SubjectIdConfig),
    ],
)
def test_evaluation_fits_do_not_depend_on_the_clock(
    tmp_path, data_root, make_set, monkeypatch, section, config_cls
):
    """evaluate.yaml's network fits give the same network on a slow or busy machine: no
    wall-clock cap cuts them short (one did: validation macro-F1 0.32 instead of 0.50)."""
    cfg = compose_eval(tmp_path, [], data_root)
    c = _dataclass(config_cls, _plain(OmegaConf.select(cfg, section)), num_threads=1)
    x, y, _, _ = make_set([60, 20, 20, 10, 0], seed=0)
    x_val, y_val, _, _ = make_set([30, 10, 10, 5, 0], seed=1)

    def fit(config) -> tuple[np.ndarray, int]:
        with torch_session(0, 1):
            net = BeatCNN(1, 0, len(AAMI_CLASSES), (8,))
            hist = fit_network(net, [x], y, [x_val], y_val, config)
            return predict_logits(net, [x_val]).numpy(), hist["epochs_run"]

    calm, calm_epochs = fit(c)
    clock = iter(range(0, 10**9, 1000))  # every reading 1000 s after the last
    monkeypatch.setattr(_common.time, "perf_counter", lambda: float(next(clock)))
    busy, busy_epochs = fit(c)
    assert calm_epochs == busy_epochs > 1
    np.testing.assert_array_equal(calm, busy)
    # A cap would have cut the slow run after its first epoch.
    assert fit(dataclasses.replace(c, max_seconds=60))[1] == 1


# ------------------------------------------------------------------------------ bad input
@pytest.fixture
def good(tmp_path, splits) -> Path:
    test = splits["test"]
    return write_folder(tmp_path / "good", test.signals, test.labels)


def _edit_meta(folder: Path, **change) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    meta |= change
    for k, v in change.items():
        if v is None:
            meta.pop(k)
    (folder / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda f: (f / "meta.json").unlink(), r"meta\.json: missing"),
        (lambda f: _edit_meta(f, fs=None), r"meta\.json: lacks field 'fs'"),
        (
            lambda f: _edit_meta(f, fs=250.0),
            r"fs=250 Hz but the real data has fs=360 Hz; pass "
            r"resample=true",
        ),
        (lambda f: _edit_meta(f, units="uV"), r"units='uV'"),
        (lambda f: _edit_meta(f, leads=["V1"]), r"leads=\['V1'\].*real data has leads=\['MLII'\]"),
        (
            lambda f: np.save(f / "labels.npy", np.load(f / "labels.npy")[:-3]),
            r"labels\.npy: shape \(\d+,\) does not match .*signals\.npy with N=\d+",
        ),
        (
            lambda f: np.save(
                f / "labels.npy",
                np.where(
                    np.arange(len(np.load(f / "labels.npy"))) == 4, 7, np.load(f / "labels.npy")
                ),
            ),
            r"labels\.npy: 1 label\(s\) outside the class set .* e\.g\. \[7\]",
        ),
        (
            lambda f: np.save(f / "signals.npy", _with_nan(np.load(f / "signals.npy"))),
            r"signals\.npy: 1 NaN/inf value\(s\) in 1 segment\(s\), first at index \[5, 0, 17\]",
        ),
        (
            lambda f: (
                np.save(f / "signals.npy", np.load(f / "signals.npy")[..., :200]),
                _edit_meta(f, length=200),
            ),
            r"length=200 samples \(0\.556 s\) but the real segments have length=256",
        ),
    ],
    ids=["no-meta", "no-fs", "fs", "units", "leads", "shape", "label", "nan", "window"],
)
def test_bad_folder_is_a_clear_error(good, damage, match):
    damage(good)
    with pytest.raises(EvaluationError, match=match) as err:
        load_generated(good, SPEC, allowed=[0, 1, 2, 3, 4])
    assert str(good) in str(err.value)  # the message names the file


def _with_nan(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    x[5, 0, 17] = np.nan
    return x


def test_label_outside_a_restricted_class_set_and_unconditional_labels(good):
    with pytest.raises(EvaluationError, match=r"outside the class set \{0: 'N', 1: 'S'\}"):
        load_generated(good, SPEC, allowed=[0, 1])
    np.save(good / "labels.npy", np.full(len(np.load(good / "labels.npy")), -1))
    assert load_generated(good, SPEC, allowed=[0, 1, 2, 3, 4]).labels is None


def test_another_fs_is_resampled_only_when_asked(good, splits):
    x = splits["test"].signals
    half = x[..., ::2]  # 180 Hz, R at 45
    write_folder(good, half, splits["test"].labels, fs=180.0, length=128, r_index=45)
    with pytest.raises(EvaluationError, match=r"fs=180 Hz but the real data has fs=360 Hz"):
        load_generated(good, SPEC, [0, 1, 2, 3, 4])
    back = load_generated(good, SPEC, [0, 1, 2, 3, 4], resample=True).signals
    assert back.shape == x.shape
    # Band-limited beats survive 360 -> 180 -> 360 Hz within a few percent.
    err = np.sqrt(np.mean((back - x)[..., 10:-10] ** 2)) / x.std()
    assert err < 0.1
    with pytest.raises(EvaluationError, match=r"does not cover the real one"):
        conform_window(half[..., :100], 180.0, 45, SPEC, True, "short.npy")


def test_pipeline_refuses_bad_requests_before_building_data(tmp_path, good):
    empty = tmp_path / "empty_root"
    both = compose_eval(tmp_path / "r1", [f"generated={good}", f"checkpoint={good}"], empty)
    with pytest.raises(EvaluationError, match=r"exactly one of checkpoint=<model> or generated"):
        run(both)
    for bad, match in (
        ("split=train", r"split='train': expected 'test' or 'val'"),
        ("num_threads=0", r"num_threads=0 must be an integer >= 1, or null"),
        ("num_threads=1.5", r"num_threads=1.5 must be an integer >= 1, or null"),
        ("n=0", r"n=0: generate at least 8 segments"),
        ("n=2.5", r"n=2.5: generate at least 8 segments \(an integer\)"),
        ("baselines=[gan]", r"baselines: unknown \['gan'\]"),
        ("classifier.scored=[N,X]", r"classifier.scored: unknown classes \['X'\]"),
        ("classifier.aug_classes=[S,Y]", r"classifier.aug_classes: unknown classes \['Y'\]"),
        ("classifier.class_weight_power=2", r"classifier: class_weight_power must lie in \[0, 1\]"),
        ("classifier.keep_unscored=sometimes", r"classifier.keep_unscored must be true or false"),
        ("classifier.rr_expert=sometimes", r"classifier: rr_expert must be true or false"),
        ("classifier.borrowed_rr=nearby", r"classifier: borrowed_rr must be one of"),
        ("detectors.cnn.n_repeats=0", r"detectors.cnn: n_repeats must be an integer >= 1, got 0"),
        ("detectors.svm.n_repeats=2.5", r"detectors.svm: n_repeats must be an integer >= 1"),
    ):
        with pytest.raises(EvaluationError, match=match):
            run(compose_eval(tmp_path / "r0", [f"generated={good}", bad], empty))
    (good / "meta.json").unlink()
    with pytest.raises(EvaluationError, match=r"meta\.json: missing"):
        run(compose_eval(tmp_path / "r2", [f"generated={good}"], empty))
    assert not (empty / "data").exists()  # failed before simulating/building anything


def test_cli_prints_one_clear_line_for_bad_input(tmp_path):
    gen = tmp_path / "gen"
    gen.mkdir()
    env = {**os.environ, "ECG_SYNTH_ROOT": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "evaluate.py"), f"generated={gen}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    assert f"evaluate.py: error: {gen}/meta.json: missing" in proc.stderr
    # Hydra named the run folder outputs/evaluate/<dataset>/<time> (no model group needed).
    assert list((tmp_path / "outputs" / "evaluate" / "simulated").iterdir())


def test_a_two_lead_model_is_scored_without_the_one_lead_simulator(tmp_path, tiny_db):
    """The default baselines include the simulator, which draws MLII only: a model of
    [MLII, V1] is scored without it, with a note, instead of failing on the missing lead."""
    data = [
        "dataset=mitdb_shared",
        f"dataset.source.root={tiny_db}",
        "dataset.source.leads=[MLII,V1]",
        "dataset.source.exclude=[]",
        "dataset.split.train=[100,101,103,105]",
        "dataset.split.val=[106,108]",
        "dataset.split.test=[109,112]",
    ]
    run_dir = tmp_path / "train"
    tasks.train(
        compose_train(
            run_dir,
            [
                *data,
                "dataset.batch_size=16",
                "trainer.max_epochs=1",
                "+trainer.limit_train_batches=2",
            ]
            + ["model.val_samples=64", "callbacks.sample_figures=null"],
            tmp_path,
        )
    )
    out = tmp_path / "eval"
    doc = run(
        compose_train(out, [*data, *QUICK, f"checkpoint={run_dir}", "n=40"], tmp_path, "evaluate")
    )
    assert doc["meta"]["leads"] == ["MLII", "V1"]
    assert "baseline/simulator" not in doc and "simulator" not in doc["baselines"]
    (note,) = [n for n in doc["notes"] if "simulator baseline was left out" in n]
    assert "lead MLII only, and these segments also hold ['V1']" in note
