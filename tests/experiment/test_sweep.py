"""Adaptive hyperparameter search: the hparams_search configs, a real 3-trial Optuna run, the
sweep summary, TensorBoard's HPARAMS data, and the pruning of hopeless trials."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from hydra.utils import get_class, instantiate
from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
from omegaconf import OmegaConf
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.plugins.hparams import plugin_data_pb2

from ecg_synth import tasks
from ecg_synth.callbacks.pruning import completed_values
from ecg_synth.sweep import summarize
from tests.experiment.exp_support import hparams_search_override
from tests.helpers import compose_train, run_train

METHODS = {
    "wgan_gp": {
        "model.optimizer_g.lr",
        "model.optimizer_d.lr",
        "model.n_critic",
        "model.gp_weight",
        "model.z_dim",
        "dataset.batch_size",
    },
    "gan": {"model.optimizer_g.lr", "model.optimizer_d.lr", "model.z_dim", "dataset.batch_size"},
    "latent_cgan": {
        "model.optimizer_g.lr",
        "model.optimizer_d.lr",
        "model.z_dim",
        "dataset.batch_size",
    },
}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_hparams_search_config_composes_into_a_tpe_optuna_sweep(tmp_path, method):
    cfg = compose_train(tmp_path / "run", [hparams_search_override(method)])
    sweeper = cfg.hydra.sweeper
    # The plugin's Optuna sweeper, through the project's subclass (clear all-failed error).
    assert sweeper._target_ == "hydra_plugins.ecg_synth_sweeper.OptunaSweeper"
    # (by name: Hydra's plugin scan re-executes the plugin modules, so class objects differ)
    parents = [f"{c.__module__}.{c.__name__}" for c in get_class(sweeper._target_).__mro__]
    assert "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper" in parents
    assert sweeper.direction == "minimize"
    assert cfg.optimized_metric == "best/val/fd"
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.hydra.runtime.choices.model == method  # the search is per method
    assert isinstance(instantiate(sweeper.sampler), optuna.samplers.TPESampler)
    # Every search-space string parses into an Optuna distribution (a typo would not).
    space, fixed = create_params_from_overrides([f"{k}={v}" for k, v in sweeper.params.items()])
    assert METHODS[method] <= set(space) and not fixed
    assert isinstance(space["model.optimizer_g.lr"], optuna.distributions.LogUniformDistribution)
    # The pruner and the per-run metrics it reads are part of the search.
    assert cfg.callbacks.trial_pruner._target_ == "ecg_synth.callbacks.TrialPruner"
    assert cfg.callbacks.run_metrics._target_ == "ecg_synth.callbacks.RunMetrics"
    assert cfg.hydra.callbacks.sweep_summary._target_ == "ecg_synth.sweep.SweepSummary"


def test_three_trial_search_writes_all_trials_and_the_best_config(sweep):
    sweep_dir, proc = sweep
    assert "Sampler: TPESampler" in proc.stdout + proc.stderr
    jobs = sorted(p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir())
    assert len(jobs) == 3

    optuna_best = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    summary = json.loads((sweep_dir / "trials.json").read_text())
    trials = summary["trials"]
    assert [t["trial"] for t in trials] == [0, 1, 2]
    assert all(t["status"] in ("finished", "stopped") for t in trials), trials
    assert set(summary["params"]) == METHODS["wgan_gp"]
    # The objective each trial returned to Optuna is the one recorded in its metrics.json:
    # Optuna's best value is the minimum over the trials' files.
    values = [t["objective"] for t in trials]
    assert all(v is not None and v > 0 for v in values)
    assert optuna_best.best_value == pytest.approx(min(values))
    best = summary["best"]
    assert best["objective"] == pytest.approx(min(values))
    for key, value in optuna_best.best_params.items():
        assert float(best["params"][key]) == pytest.approx(float(value))

    best_cfg = OmegaConf.load(sweep_dir / "best_config.yaml")
    assert best_cfg.model.n_critic == int(best["params"]["model.n_critic"])
    assert best_cfg.model.optimizer_g.lr == pytest.approx(
        float(best["params"]["model.optimizer_g.lr"])
    )
    with open(sweep_dir / "trials.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["trial"]) for r in rows] == [0, 1, 2]
    assert {"model.gp_weight", "dataset.batch_size", "status", "objective"} <= set(rows[0])


def _hparams_session(tensorboard_dir: Path) -> tuple[dict, list[str]]:
    """The hparams and metric tags TensorBoard's HPARAMS view reads from a run."""
    hparams, metrics = {}, []
    for path in sorted(tensorboard_dir.glob("events.out.tfevents.*")):
        for event in event_file_loader.EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != "hparams":
                    continue
                data = plugin_data_pb2.HParamsPluginData.FromString(
                    value.metadata.plugin_data.content
                )
                if data.HasField("session_start_info"):
                    hparams = dict(data.session_start_info.hparams)
                if data.HasField("experiment"):
                    metrics = [m.name.tag for m in data.experiment.metric_infos]
    return hparams, metrics


def test_tensorboard_hparams_view_shows_every_trial_with_its_searched_values(sweep):
    sweep_dir, _ = sweep
    for trial in json.loads((sweep_dir / "trials.json").read_text())["trials"]:
        hparams, metrics = _hparams_session(sweep_dir / trial["run"] / "tensorboard")
        assert "hp/best_val_fd" in metrics
        assert hparams["model/n_critic"].number_value == int(trial["params"]["model.n_critic"])
        assert hparams["dataset/batch_size"].number_value == int(
            trial["params"]["dataset.batch_size"]
        )
        assert hparams["model/optimizer_d/lr"].number_value == pytest.approx(
            float(trial["params"]["model.optimizer_d.lr"])
        )


# ----------------------------------------------------------------------------- pruning
def _finished_trial(
    folder: Path,
    val_fd: float,
    epochs: int = 3,
    status: str = "finished",
    stop_reason: str | None = None,
) -> None:
    """A sibling trial as RunMetrics records it (only the fields the pruner reads)."""
    folder.mkdir(parents=True)
    history = [{"epoch": e, "step": e, "val/fd": val_fd} for e in range(epochs)]
    doc = {"status": status, "stop_reason": stop_reason, "history": history}
    (folder / "metrics.json").write_text(json.dumps(doc))


def _trial(run: Path, data_root: Path) -> dict:
    cfg = compose_train(
        run,
        [
            hparams_search_override("wgan_gp"),
            "debug=tiny",
            "trainer.max_epochs=2",
            "callbacks.trial_pruner.warmup_epochs=0",
            "callbacks.trial_pruner.min_trials=2",
        ],
        data_root=data_root,
    )
    tasks.train(cfg)
    return json.loads((run / "metrics.json").read_text())


@pytest.mark.parametrize(
    "status, stop_reason",
    [("finished", None), ("stopped", "max_time reached")],
    ids=["ran-all-epochs", "time-budget"],
)
def test_trial_worse_than_the_finished_median_is_pruned(
    tmp_path, exp_data_root, status, stop_reason
):
    # With ++trainer.max_time every trial ends "stopped"; those still count as completed
    # (a 12-trial time-budgeted search pruned nothing before this was fixed).
    sweep_dir = tmp_path / "sweep"
    for i in range(2):  # unbeatable completed trials
        _finished_trial(sweep_dir / f"{i}-done", 1e-6, status=status, stop_reason=stop_reason)
    doc = _trial(sweep_dir / "2-this", exp_data_root)
    assert doc["status"] == "stopped"
    assert doc["stop_reason"].startswith("pruned: val/fd=")
    assert doc["epochs"] == 1  # stopped after the first validation of 2 epochs
    assert (sweep_dir / "2-this" / "checkpoints" / "last.ckpt").is_file()


def test_trial_better_than_the_finished_median_runs_to_the_end(tmp_path, exp_data_root):
    sweep_dir = tmp_path / "sweep"
    for i in range(2):
        _finished_trial(sweep_dir / f"{i}-done", val_fd=1e9)
    # A failed or still-running trial is no reference, however good its numbers.
    (sweep_dir / "9-failed").mkdir()
    (sweep_dir / "9-failed" / "metrics.json").write_text(
        json.dumps({"status": "failed", "history": [{"epoch": 0, "val/fd": 1e-9}] * 3})
    )
    doc = _trial(sweep_dir / "2-this", exp_data_root)
    assert doc["status"] == "finished" and doc["stop_reason"] is None
    assert doc["epochs"] == 2
    assert [row["epoch"] for row in doc["history"]] == [0, 1]


def test_only_completed_trials_are_the_pruners_reference(tmp_path):
    sweep_dir = tmp_path / "sweep"
    _finished_trial(sweep_dir / "0-ran-out", 1.0)
    _finished_trial(sweep_dir / "1-budget", 2.0, status="stopped", stop_reason="max_time reached")
    _finished_trial(
        sweep_dir / "2-early", 3.0, status="stopped", stop_reason="early stopping on val/fd at 2"
    )
    _finished_trial(sweep_dir / "3-pruned", 1e-9, status="stopped", stop_reason="pruned: ...")
    _finished_trial(sweep_dir / "4-failed", 1e-9, status="failed")
    _finished_trial(sweep_dir / "5-running", 1e-9, status="running")
    _finished_trial(sweep_dir / "6-this", 1e-9)
    values = completed_values(sweep_dir, "val/fd", epoch=1, exclude=sweep_dir / "6-this")
    assert sorted(values) == [1.0, 2.0, 3.0]
    # A trial that has not reached the epoch yet gives nothing for it.
    assert completed_values(sweep_dir, "val/fd", epoch=5, exclude=sweep_dir / "6-this") == []


# ----------------------------------------------------------------------------- several objectives
def _scored_trial(sweep_dir: Path, num: int, fd: float | None, nn_ratio: float | None) -> None:
    """A trial folder as a two-objective search leaves it: Hydra's files, metrics.json and
    the evaluation written after training (absent for a trial that failed)."""
    job = sweep_dir / f"{num}-trial"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(f"- model.n_critic={num + 1}\n")
    (job / ".hydra" / "hydra.yaml").write_text(f"hydra:\n  job:\n    num: {num}\n")
    cfg = {"optimized_metric": ["eval/fd", "eval/nn_ratio"], "model": {"n_critic": num + 1}}
    OmegaConf.save(OmegaConf.create(cfg), job / ".hydra" / "config.yaml")
    status = "failed" if fd is None else "finished"
    (job / "metrics.json").write_text(json.dumps({"status": status, "final": {}}))
    if fd is not None:
        (job / "evaluation").mkdir()
        generated = {"fd": fd, "nn_ratio": nn_ratio}
        (job / "evaluation" / "metrics.json").write_text(json.dumps({"generated": generated}))


def test_two_objective_summary_keeps_the_pareto_front(tmp_path):
    # The lowest FD is often bought with memorisation (bench/RESULTS.md): with the NN ratio
    # as a second objective no single trial is best, and the summary must keep the trade-off.
    sweep_dir = tmp_path / "sweep"
    _scored_trial(sweep_dir, 0, fd=30.0, nn_ratio=0.80)  # lowest FD, copies
    _scored_trial(sweep_dir, 1, fd=35.0, nn_ratio=1.00)  # worse FD, does not copy
    _scored_trial(sweep_dir, 2, fd=36.0, nn_ratio=0.95)  # worse than 1 on both
    _scored_trial(sweep_dir, 3, fd=None, nn_ratio=None)  # failed: no values
    best = summarize(sweep_dir, direction=["minimize", "maximize"])

    summary = json.loads((sweep_dir / "trials.json").read_text())
    assert summary["objectives"] == ["eval/fd", "eval/nn_ratio"]
    assert summary["pareto"] == [0, 1]
    assert best["trial"] == 0  # the front's best on the first objective
    assert OmegaConf.load(sweep_dir / "best_config.yaml").model.n_critic == 1
    assert sorted(p.name for p in (sweep_dir / "pareto").iterdir()) == [
        "0-trial.yaml",
        "1-trial.yaml",
    ]
    rows = list(csv.DictReader((sweep_dir / "trials.csv").open()))
    assert [r["pareto"] for r in rows] == ["True", "True", "False", "False"]
    assert [r["eval/nn_ratio"] for r in rows] == ["0.8", "1.0", "0.95", ""]
    # Maximising FD instead turns the front around: trial 2 now beats 1 on FD.
    summarize(sweep_dir, direction=["maximize", "maximize"])
    assert json.loads((sweep_dir / "trials.json").read_text())["pareto"] == [1, 2]


def test_summary_refuses_directions_that_do_not_match_the_objectives(tmp_path):
    _scored_trial(tmp_path / "sweep", 0, fd=30.0, nn_ratio=0.8)
    with pytest.raises(ValueError, match=r"1 directions \['minimize'\].*eval/nn_ratio"):
        summarize(tmp_path / "sweep", direction=["minimize"])


def test_a_search_can_trade_fd_against_memorisation(tmp_path, exp_data_root):
    # val/fd rewards memorising across hyperparameters (bench/RESULTS.md, "A hyperparameter
    # search"): evaluate_after makes the evaluation's own numbers the objectives, here
    # Optuna's multi-objective search on [FD, NN-ratio shortfall]; the sweep keeps Optuna's front.
    sweep_dir = tmp_path / "sweep"
    run_train(
        [
            "-m",
            hparams_search_override("wgan_gp"),
            "debug=tiny",
            "hydra.sweeper.n_trials=2",
            f"hydra.sweep.dir={sweep_dir}",
            "dataset.batch_size=choice(16,32)",  # the tiny split holds 112 segments
            "evaluate_after={split: val, quick: true, baselines: []}",
            "optimized_metric=[eval/fd,eval/nn_shortfall]",
            "hydra.sweeper.direction=[minimize,minimize]",
        ],
        cwd=tmp_path,
        data_root=exp_data_root,
    )
    optuna_front = OmegaConf.load(sweep_dir / "optimization_results.yaml").solutions
    summary = json.loads((sweep_dir / "trials.json").read_text())
    scored = {}
    for t in summary["trials"]:
        generated = json.loads((sweep_dir / t["run"] / "evaluation" / "metrics.json").read_text())
        scored[t["trial"]] = [generated["generated"][k] for k in ("fd", "nn_shortfall")]
        assert list(t["objectives"].values()) == pytest.approx(scored[t["trial"]])
    # What Optuna was told is what the evaluations wrote, and both fronts agree.
    told = sorted(list(s["values"]) for s in optuna_front)
    np.testing.assert_allclose(told, sorted(scored[n] for n in summary["pareto"]), rtol=1e-6)


def test_a_search_whose_every_trial_fails_says_why(tmp_path, exp_data_root):
    # The plugin's own sweeper ended such a search with Optuna's bare "No trials are completed
    # yet" traceback; the project's subclass (hydra_plugins/ecg_synth_sweeper) names the cause.
    sweep_dir = tmp_path / "sweep"
    proc = run_train(
        [
            "-m",
            hparams_search_override("wgan_gp"),
            "debug=tiny",
            "hydra.sweeper.n_trials=2",
            f"hydra.sweep.dir={sweep_dir}",
            "model.optimizer_g.lr=-1",  # every trial's optimizer refuses it
        ],
        cwd=tmp_path,
        data_root=exp_data_root,
        check=False,
    )
    assert proc.returncode != 0
    last_line = proc.stderr.strip().splitlines()[-1]
    assert "SearchFailedError: every trial of the search failed (2 of 2)" in last_line
    assert "ValueError: Invalid learning rate: -1.0" in last_line
    assert f"{sweep_dir}/<trial>/train.log" in last_line
    assert "No trials are completed yet" not in proc.stderr
    assert sorted(p.name for p in sweep_dir.glob("*/train.log")) == ["train.log"] * 2
