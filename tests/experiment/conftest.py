"""Fixtures of the experiment-management tests: one shared tiny simulated database, and one
real 3-trial Optuna search (``train.py -m hparams_search=wgan_gp debug=tiny``) whose run
folders the sweep and registry tests both read."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.experiment.exp_support import hparams_search_override
from tests.helpers import run_train


@pytest.fixture(scope="session")
def exp_data_root(tmp_path_factory) -> Path:
    """ECG_SYNTH_ROOT of these tests: the simulated database and caches are made once."""
    return tmp_path_factory.mktemp("exp_root")


@pytest.fixture(scope="session")
def sweep(tmp_path_factory, exp_data_root) -> tuple[Path, subprocess.CompletedProcess]:
    """A 3-trial TPE search of the WGAN-GP on tiny data: (sweep folder, finished process).

    A small search space keeps every trial fast and valid on the tiny split (112 training
    segments); 2 random startup trials let the third come from TPE's model. The pruner may
    judge from epoch 0 against one finished trial. The sweep folder is the config's default
    (outputs/train/hparams_search/<model>-<dataset>/<time>), as the README's command leaves it:
    the Optuna sweeper resolves it before Hydra's runtime exists."""
    proc = run_train(
        [
            "-m",
            hparams_search_override("wgan_gp"),
            "debug=tiny",
            "hydra.sweeper.n_trials=3",
            "hydra.sweeper.sampler.n_startup_trials=2",
            "dataset.batch_size=choice(16,32)",
            "model.z_dim=choice(16,32)",
            "model.n_critic=choice(1,2)",
            "callbacks.trial_pruner.warmup_epochs=0",
            "callbacks.trial_pruner.min_trials=1",
        ],
        cwd=tmp_path_factory.mktemp("optuna"),
        data_root=exp_data_root,
    )
    (sweep_dir,) = (exp_data_root / "outputs/train/hparams_search/wgan_gp-simulated").iterdir()
    return sweep_dir, proc


@pytest.fixture(scope="session")
def tiny(tmp_path_factory, exp_data_root):
    """(composed train config, set-up DataModule) of ``debug=tiny`` with EMA off, for tests
    that drive a real Trainer directly."""
    import hydra

    from tests.helpers import compose_train

    cfg = compose_train(
        tmp_path_factory.mktemp("tiny_cfg"),
        ["debug=tiny", "model.ema.enabled=false"],
        data_root=exp_data_root,
    )
    dm = hydra.utils.instantiate(cfg.dataset, _convert_="all")
    dm.prepare_data()
    dm.setup("fit")
    return cfg, dm
