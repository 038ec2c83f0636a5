"""End-to-end training through the real Hydra configs, DataModule and Lightning Trainer."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ecg_synth import tasks
from tests.helpers import compose_train, run_train

TINY = ["debug=tiny", "trainer.enable_progress_bar=false"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """One simulated database and cache shared by the tests of this module."""
    return tmp_path_factory.mktemp("data_root")


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


def test_default_training_writes_run_folder_tensorboard_and_checkpoints(tmp_path, data_root):
    cfg = compose_train(tmp_path / "run", [*TINY, "tags=[smoke,tiny]"], data_root=data_root)
    metrics = tasks.train(cfg)
    run = tmp_path / "run"

    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert any(p.name.startswith("best-") for p in (run / "checkpoints").iterdir())
    assert torch.isfinite(torch.tensor(metrics["val/fd"]))
    assert 0 < metrics["val/fd_sd"] < metrics["val/fd"]  # its sampling noise, beside it
    info = json.loads((run / "run_info.json").read_text())
    assert info["code"]["commit"] and info["data"]  # code version and data fingerprint
    assert info["tags"] == ["smoke", "tiny"]
    assert (run / "figures" / "samples_latest.png").stat().st_size > 10_000

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0}).Reload()
    scalars = set(events.Tags()["scalars"])
    for name in (
        "train/loss_g",
        "train/loss_d",
        "train/wdist",
        "train/gp",
        "train/grad_norm_g",
        "train/grad_norm_d",
        "train/lr_g",
        "val/fd",
        "val/fd_sd",
        "perf/samples_per_sec",
    ):
        assert name in scalars, f"{name} missing from TensorBoard scalars {sorted(scalars)}"
    assert "samples/real_vs_generated" in events.Tags()["images"]


def test_interrupted_and_resumed_run_ends_with_same_weights(tmp_path, data_root):
    straight = compose_train(tmp_path / "straight", [*TINY, "trainer.max_epochs=2"], data_root)
    tasks.train(straight)

    first = compose_train(tmp_path / "first", [*TINY, "trainer.max_epochs=1"], data_root)
    tasks.train(first)
    resumed = compose_train(
        tmp_path / "resumed",
        [*TINY, "trainer.max_epochs=2", f"ckpt_path={tmp_path / 'first/checkpoints/last.ckpt'}"],
        data_root,
    )
    tasks.train(resumed)

    a = _weights(tmp_path / "straight/checkpoints/last.ckpt")
    b = _weights(tmp_path / "resumed/checkpoints/last.ckpt")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=f"weights differ at {key}")


def test_a_run_without_a_checkpoint_callback_says_so_and_hides_none(tmp_path, data_root, caplog):
    """callbacks=none: Lightning's own checkpoint used to land under the logger's folder,
    where no tool of the project looks."""
    cfg = compose_train(tmp_path / "run", [*TINY, "callbacks=none", "logger=csv"], data_root)
    with caplog.at_level("WARNING", logger="ecg_synth.tasks"):
        tasks.train(cfg)
    assert "callbacks has no model_checkpoint: this run keeps no checkpoint" in caplog.text
    assert not list((tmp_path / "run").rglob("*.ckpt"))


def test_resume_true_picks_newest_sibling_run(tmp_path, data_root):
    runs = tmp_path / "outputs"
    cfg = compose_train(runs / "2026-01-01_00-00-00", [*TINY, "trainer.max_epochs=1"], data_root)
    tasks.train(cfg)
    cfg = compose_train(
        runs / "2026-01-01_00-10-00", [*TINY, "trainer.max_epochs=1", "resume=true"], data_root
    )
    assert tasks.resolve_ckpt_path(cfg) == str(runs / "2026-01-01_00-00-00/checkpoints/last.ckpt")


def test_a_resumed_run_takes_the_learning_rates_given_now(tmp_path, data_root, caplog):
    """Lightning restores the optimizers' state, lr included: without the model's check the
    new rate was dropped while .hydra/config.yaml recorded it."""
    first = compose_train(tmp_path / "first", [*TINY, "trainer.max_epochs=1"], data_root)
    tasks.train(first)
    resumed = compose_train(
        tmp_path / "resumed",
        [*TINY, "trainer.max_epochs=2", f"ckpt_path={tmp_path}/first/checkpoints/last.ckpt"]
        + ["model.optimizer_g.lr=1e-5"],
        data_root,
    )
    with caplog.at_level("WARNING", logger="ecg_synth.models.base"):
        tasks.train(resumed)
    state = torch.load(
        tmp_path / "resumed/checkpoints/last.ckpt", map_location="cpu", weights_only=True
    )
    lr_g, lr_d = (s["param_groups"][0]["lr"] for s in state["optimizer_states"])
    assert lr_g == 1e-5 and lr_d == first.model.optimizer_d.lr
    assert "resumed generator optimizer: lr=0.0002 from the checkpoint replaced by 1e-05" in (
        caplog.text
    )
    assert "critic optimizer" not in caplog.text  # unchanged settings are not reported


def test_resuming_another_kind_or_other_data_is_refused_before_training(tmp_path, data_root):
    first = compose_train(tmp_path / "first", [*TINY, "trainer.max_epochs=1"], data_root)
    tasks.train(first)
    ckpt = tmp_path / "first/checkpoints/last.ckpt"
    cases = [
        (["model=gan"], r"last.ckpt holds a 'wgan_gp' model, expected 'gan'"),
        (  # other training records: another normaliser
            ["dataset.split.train=[sim02]", "dataset.split.test=[sim03,sim04]"],
            r"last.ckpt was trained on other data: normalizer \{.*\}, now \{",
        ),
        (["dataset.segment.length=128"], r"trained on other data: length 256, now 128"),
    ]
    for k, (overrides, match) in enumerate(cases):
        run = tmp_path / f"again_{k}"
        cfg = compose_train(run, [*TINY, f"ckpt_path={ckpt}", *overrides], data_root)
        with pytest.raises(ValueError, match=match):
            tasks.train(cfg)
        assert not (run / "checkpoints").exists()


def test_resume_true_in_a_sweep_refuses_the_other_jobs_checkpoints(tmp_path, data_root):
    """In a sweep, the newest sibling folder is another job, with other settings."""
    sweep = tmp_path / "multirun" / "2026-01-01_00-00-00"
    cfg = compose_train(sweep / "0-wgan_gp-simulated", [*TINY, "trainer.max_epochs=1"], data_root)
    tasks.train(cfg)
    cfg = compose_train(
        sweep / "1-wgan_gp-simulated", [*TINY, "resume=true", "hydra.mode=MULTIRUN"], data_root
    )
    with pytest.raises(ValueError, match="another job of the sweep.*run_dir=<its folder>"):
        tasks.train(cfg)
    assert not (sweep / "1-wgan_gp-simulated" / "checkpoints").exists()
    job = sweep / "0-wgan_gp-simulated"
    cfg = compose_train(
        sweep / "1-wgan_gp-simulated",
        [*TINY, "resume=true", f"run_dir={job}", "hydra.mode=MULTIRUN"],
        data_root,
    )
    assert tasks.resolve_ckpt_path(cfg) == str(job / "checkpoints/last.ckpt")


def test_resume_without_checkpoint_is_a_clear_error(tmp_path, data_root):
    cfg = compose_train(tmp_path / "a" / "run", [*TINY, "resume=true"], data_root)
    with pytest.raises(FileNotFoundError, match="no checkpoints/last.ckpt"):
        tasks.resolve_ckpt_path(cfg)
    cfg = compose_train(tmp_path / "b", [*TINY, "ckpt_path=/nonexistent/last.ckpt"], data_root)
    with pytest.raises(FileNotFoundError, match="/nonexistent/last.ckpt"):
        tasks.train(cfg)


def test_subject_conditioning_with_unseen_subjects_fails_before_training(tmp_path, data_root):
    cfg = compose_train(tmp_path / "run", [*TINY, "model.condition=subject"], data_root)
    with pytest.raises(ValueError, match="within_record"):
        tasks.train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_num_threads_sets_torch_threads_for_the_run_and_the_processes_it_starts(
    tmp_path, data_root, monkeypatch
):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # put back after the test, as is the count
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # so that 1 is the setting's doing on any machine
        cfg = compose_train(tmp_path / "run", [*TINY, "num_threads=1"], data_root=data_root)
        tasks.train(cfg)
        assert torch.get_num_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == "1"  # DDP's workers start with it
    finally:
        torch.set_num_threads(before)
    assert json.loads((tmp_path / "run" / "run_info.json").read_text())["torch_threads"] == 1


@pytest.mark.parametrize("value", ["0", "two", "1.5", "true"])
def test_bad_num_threads_is_refused_before_training(tmp_path, data_root, value):
    cfg = compose_train(tmp_path / "run", [*TINY, f"num_threads={value}"], data_root=data_root)
    with pytest.raises(ValueError, match=r"num_threads=.* must be an integer >= 1, or null"):
        tasks.train(cfg)
    assert not (tmp_path / "run" / "run_info.json").exists()


@pytest.mark.slow
def test_ddp_two_cpu_processes_gloo(tmp_path, monkeypatch):
    # Without num_threads or OMP_NUM_THREADS, Lightning gives each process cores / processes.
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    run = tmp_path / "ddp_run"
    # With generate_rr the RR branch trains under DDP too, and val/rr_w1 syncs across ranks;
    # with lecam_weight the ranks average their critic score anchors every step.
    run_train(
        [
            *TINY,
            "trainer=ddp_cpu",
            "trainer.limit_train_batches=null",
            "model.generate_rr=true",
            "model.lecam_weight=0.1",
            f"hydra.run.dir={run}",
        ],
        tmp_path,
    )
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert torch.isfinite(ckpt["state_dict"]["lecam_anchors"]).all()
    single = tmp_path / "single_run"
    run_train([*TINY, "trainer.limit_train_batches=null", f"hydra.run.dir={single}"], tmp_path)
    ckpt1 = torch.load(single / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    # The distributed sampler gives each of the 2 processes half of the training set.
    assert ckpt["global_step"] * 2 == pytest.approx(ckpt1["global_step"], abs=2 * 2 * 5)
    # Rank zero alone logs and writes the run record.
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) >= 1
    scalars = EventAccumulator(str(run / "tensorboard")).Reload().Tags()["scalars"]
    assert {"val/fd", "val/fd_sd", "val/rr_w1"} <= set(scalars)  # the bootstrap syncs too
    info = json.loads((run / "run_info.json").read_text())
    assert info["torch_threads"] == max(1, len(os.sched_getaffinity(0)) // 2)  # as it trained
    assert not list(run.glob("**/version_1"))


@pytest.mark.slow
def test_multirun_sweep_writes_one_run_folder_each(tmp_path):
    sweep = tmp_path / "sweep"
    run_train(
        [
            "-m",
            *TINY,
            "trainer.max_epochs=1",
            "model.optimizer_g.lr=1e-4,2e-4",
            f"hydra.sweep.dir={sweep}",
        ],
        tmp_path,
    )
    runs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(runs) == 2
    for run in runs:
        assert (run / ".hydra" / "config.yaml").is_file()
        assert (run / "run_info.json").is_file()
        assert (run / "checkpoints" / "last.ckpt").is_file()


def test_csv_logger_run_records_final_metrics(tmp_path, data_root):
    cfg = compose_train(tmp_path / "run", [*TINY, "logger=many", "trainer.max_epochs=1"], data_root)
    tasks.train(cfg)
    rows = (tmp_path / "run" / "csv" / "metrics.csv").read_text()
    assert "hp/val_fd" in rows.splitlines()[0]
    assert (tmp_path / "run" / "csv" / "hparams.yaml").is_file()


def test_evaluate_after_scores_the_kept_checkpoint_as_eval_metrics(tmp_path, data_root):
    run = tmp_path / "run"
    after = "evaluate_after={split: val, quick: true, baselines: []}"
    cfg = compose_train(run, [*TINY, "trainer.max_epochs=2", after], data_root)
    metrics = tasks.train(cfg)
    doc = json.loads((run / "evaluation" / "metrics.json").read_text())
    assert doc["meta"]["split"] == "val"
    assert Path(doc["meta"]["input"]["checkpoint"]).parent == run / "checkpoints"
    assert Path(doc["meta"]["input"]["checkpoint"]).name.startswith("best-")
    # What a search would optimise (optimized_metric=eval/fd), as evaluate.py wrote it.
    assert metrics["eval/fd"] == pytest.approx(doc["generated"]["fd"]) and metrics["eval/fd"] > 0
    assert metrics["eval/nn_ratio"] == pytest.approx(doc["generated"]["nn_ratio"])


@pytest.mark.parametrize(
    ("overrides", "threads"),
    [
        (["num_threads=1", "evaluate_after={quick: true}"], 1),  # the run's share
        (["num_threads=1", "evaluate_after={quick: true, num_threads: 2}"], 2),  # its own
        (["evaluate_after={quick: true}"], 2),  # evaluate.yaml's
    ],
)
def test_evaluate_after_takes_the_runs_thread_count_unless_told_otherwise(
    tmp_path, data_root, overrides, threads
):
    cfg = compose_train(tmp_path / "run", [*TINY, *overrides], data_root)
    assert tasks.evaluation_config(cfg).num_threads == threads


@pytest.mark.parametrize(
    "settings, error, match",
    [
        ("{splt: val}", KeyError, r"evaluate_after\.splt: evaluate\.yaml has no key"),
        ("{split: train}", ValueError, r"evaluate_after: split='train': expected 'test' or 'val'"),
        ("{num_threads: 0}", ValueError, r"evaluate_after: num_threads=0 must be an integer >= 1"),
        ("{detectors: {cnn: {n_repeats: 0}}}", ValueError, r"evaluate_after: detectors\.cnn: n_"),
    ],
)
def test_a_bad_evaluate_after_fails_before_training(tmp_path, data_root, settings, error, match):
    cfg = compose_train(tmp_path / "run", [*TINY, f"evaluate_after={settings}"], data_root)
    with pytest.raises(error, match=match):
        tasks.train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()
