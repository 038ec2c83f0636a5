"""SLURM launcher configs (Hydra's submitit plugin): they compose, resolve to the sbatch
script a cluster would get, and the same submitit path runs a real job locally."""

from __future__ import annotations

import json

import pytest
from hydra.utils import instantiate
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf
from submitit.slurm.slurm import SlurmExecutor

from tests.helpers import compose_train, run_train


class ClusterlessSlurmExecutor(SlurmExecutor):
    """The real SLURM executor, minus its check that ``srun`` exists on this machine."""

    @classmethod
    def affinity(cls) -> int:
        return 1


def sbatch_script(launcher, folder) -> str:
    """The sbatch file submitit would submit for these launcher params, mapped as Hydra's
    launcher and submitit's AutoExecutor map them (generic names, then slurm-specific)."""
    generic = set(OmegaConf.structured(BaseQueueConf).keys()) - {"submitit_folder"}
    params = {k: v for k, v in launcher.params.items() if v is not None}
    executor = ClusterlessSlurmExecutor(folder=folder)
    converted = executor._convert_parameters({k: v for k, v in params.items() if k in generic})
    specific = {
        k: v
        for k, v in params.items()
        if k not in generic and k not in ("submitit_folder", "max_num_timeout")
    }
    executor._internal_update_parameters(**converted, **specific)
    return executor._make_submission_file_text("python -u -m submitit.core._submit", "uid")


def test_slurm_launcher_composes_one_cluster_job_per_sweep_job(tmp_path):
    cfg = compose_train(
        tmp_path,
        [
            "hydra/launcher=slurm",
            "trainer=gpu",
            "hydra.launcher.partition=gpu",
            'hydra.launcher.setup=["source .venv/bin/activate"]',
        ],
    )
    launcher = instantiate(cfg.hydra.launcher)
    # (by name: Hydra's plugin discovery imports the plugin module under its own loader)
    assert type(launcher).__name__ == "SlurmLauncher"
    assert launcher.params["submitit_folder"] == f"{cfg.hydra.sweep.dir}/.submitit/%j"
    script = sbatch_script(launcher, tmp_path / "submitit")
    for line in (
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=32GB",
        "#SBATCH --time=240",
        "#SBATCH --partition=gpu",
        "source .venv/bin/activate",
    ):
        assert line in script, f"{line!r} not in\n{script}"


@pytest.mark.parametrize(("nodes", "devices"), [(2, 4), (4, 8)])
def test_multinode_launcher_follows_the_trainer(tmp_path, nodes, devices):
    cfg = compose_train(
        tmp_path,
        [
            "hydra/launcher=slurm_multinode",
            "trainer=multinode",
            f"trainer.num_nodes={nodes}",
            f"trainer.devices={devices}",
        ],
    )
    launcher = instantiate(cfg.hydra.launcher)
    # One SLURM task per device on every node: what Lightning's SLURM environment expects.
    assert launcher.params["nodes"] == cfg.trainer.num_nodes == nodes
    assert launcher.params["tasks_per_node"] == launcher.params["gpus_per_node"] == devices
    assert cfg.trainer.strategy.startswith("ddp")
    script = sbatch_script(launcher, tmp_path / "submitit")
    assert f"#SBATCH --nodes={nodes}" in script
    assert f"#SBATCH --ntasks-per-node={devices}" in script
    assert f"#SBATCH --gpus-per-node={devices}" in script
    assert "srun" in script


def test_local_launcher_dry_run_trains_through_submitit(tmp_path, exp_data_root):
    cfg = compose_train(tmp_path / "c", ["hydra/launcher=local"])
    assert type(instantiate(cfg.hydra.launcher)).__name__ == "LocalLauncher"

    sweep = tmp_path / "sweep"
    run_train(
        [
            "-m",
            "hydra/launcher=local",
            "debug=tiny",
            "+trainer.fast_dev_run=true",
            "num_threads=1",  # its jobs run at once: each takes its share of the cores
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
        data_root=exp_data_root,
    )
    (run,) = [p for p in sweep.iterdir() if (p / "run_info.json").is_file()]
    assert (run / ".hydra" / "config.yaml").is_file()
    assert json.loads((run / "run_info.json").read_text())["torch_threads"] == 1
    assert json.loads((run / "metrics.json").read_text())["status"] == "finished"
    # The job went through submitit: its pickled call and result files are in the sweep.
    assert list((sweep / ".submitit").glob("*/*_result.pkl"))
