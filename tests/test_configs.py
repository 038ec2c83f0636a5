"""Every option of every config group composes, and instantiates where this machine can."""

from __future__ import annotations

import subprocess
import sys

import hydra
import lightning.pytorch as pl
import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigAttributeError

from ecg_synth import tasks
from tests.helpers import REPO_ROOT, compose_train, config_options

GROUPS = ["dataset", "model", "trainer", "callbacks", "logger", "experiment", "debug"]


ALL = [(g, o) for g in GROUPS for o in config_options(g)]


def _needed(group: str, option: str) -> list[str]:
    """Overrides a choice needs to compose fully (required ``???`` values)."""
    if "latent_cgan" in option:
        return ["model.autoencoder_ckpt=/some/autoencoder.ckpt"]
    return []


@pytest.mark.parametrize(("group", "option"), ALL, ids=[f"{g}={o}" for g, o in ALL])
def test_every_option_composes_and_resolves(tmp_path, group, option):
    cfg = compose_train(tmp_path, [f"{group}={option}", *_needed(group, option)])
    ours = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    assert not OmegaConf.missing_keys(ours)  # no ??? left
    OmegaConf.to_container(ours, resolve=True)  # every interpolation resolves


@pytest.fixture(scope="module")
def data_info(tmp_path_factory):
    root = tmp_path_factory.mktemp("cfg_data")
    cfg = compose_train(root / "run", ["debug=tiny"], data_root=root)
    dm = hydra.utils.instantiate(cfg.dataset, _convert_="all")
    dm.prepare_data()
    dm.setup("fit")
    return dm.data_info()


@pytest.mark.parametrize("option", [o for o in config_options("model") if o != "latent_cgan"])
def test_every_model_instantiates(tmp_path, data_info, option):
    cfg = compose_train(tmp_path, [f"model={option}"])
    model = hydra.utils.instantiate(cfg.model, data_info=data_info, _convert_="all")
    assert isinstance(model, pl.LightningModule)
    assert model.automatic_optimization is False


@pytest.mark.parametrize("option", config_options("trainer"))
def test_every_trainer_instantiates(tmp_path, option):
    # No GPU here: the GPU configs are built on the CPU accelerator with their own strategy,
    # precision and device layout otherwise unchanged.
    cfg = compose_train(tmp_path, [f"trainer={option}"])
    if cfg.trainer.accelerator == "gpu":
        cfg.trainer.accelerator = "cpu"
        cfg.trainer.precision = "bf16-mixed"
        cfg.trainer.devices = 2 if cfg.trainer.get("strategy") else 1
    trainer = hydra.utils.instantiate(cfg.trainer)
    assert isinstance(trainer, pl.Trainer)


@pytest.mark.parametrize("group", ["callbacks", "logger"])
def test_callbacks_and_loggers_instantiate(tmp_path, group):
    for option in config_options(group):
        cfg = compose_train(tmp_path, [f"{group}={option}"])
        for obj in tasks.instantiate_group(cfg.get(group)):
            assert isinstance(obj, pl.Callback | pl.loggers.Logger)


def test_unknown_key_and_unknown_option_are_clear_errors(tmp_path):
    with pytest.raises(ConfigCompositionException, match="no_such_key"):
        compose_train(tmp_path, ["model.no_such_key=1"])
    with pytest.raises(MissingConfigException, match="model/no_such_model"):
        compose_train(tmp_path, ["model=no_such_model"])
    with pytest.raises((ConfigCompositionException, ConfigAttributeError), match="lr"):
        compose_train(tmp_path, ["trainer.lr=1"])


def test_latent_cgan_without_autoencoder_ckpt_is_reported_missing(tmp_path):
    cfg = compose_train(tmp_path, ["model=latent_cgan"])
    assert OmegaConf.missing_keys(cfg.model) == {"model.autoencoder_ckpt"}


@pytest.mark.parametrize(
    ("command", "own_key"),
    [
        (["generate.py"], "wfdb_per_record:"),
        (["evaluate.py"], "checkpoint:"),
        (["-m", "ecg_synth.serve"], "model_dir:"),
    ],
    ids=["generate", "evaluate", "serve"],
)
def test_help_of_the_other_commands_shows_their_options_not_the_training_groups(command, own_key):
    # Hydra's default help listed model, trainer, experiment, hparams_search, ... (every group
    # under conf/), which only train.py composes, under the app name "cli".
    proc = subprocess.run(
        [sys.executable, *command, "--help"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    name = "python -m ecg_synth.serve" if command[0] == "-m" else f"python {command[0]}"
    assert proc.stdout.startswith(f"{name}: override any option below")
    assert own_key in proc.stdout
    assert "Configuration groups" not in proc.stdout
    assert "hparams_search" not in proc.stdout and "experiment:" not in proc.stdout
