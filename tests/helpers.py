"""Helpers for tests that compose the project's real Hydra configs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
from omegaconf import DictConfig

from ecg_synth.cli import CONFIG_DIR, compose_run
from ecg_synth.run_info import REPO_ROOT


def config_options(group: str) -> list[str]:
    """The options of a config group: the ``conf/<group>/*.yaml`` names."""
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def compose_train(
    run_dir: Path,
    overrides: list[str] = (),
    data_root: Path | None = None,
    config_name: str = "train",
) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` as Hydra would, writing the run into ``run_dir``
    and data/cache under ``data_root`` (default: ``run_dir``)."""
    return compose_run(config_name, overrides, run_dir, root_dir=data_root or run_dir)


def run_train(
    args: list[str],
    cwd: Path,
    data_root: Path | None = None,
    timeout: int = 600,
    check: bool = True,
):
    """``python train.py <args>`` in a subprocess (what DDP and sweeps need), with data and
    outputs under ``data_root`` (default ``cwd``); with ``check``, fails the test with the
    output's tail on a non-zero exit."""
    root = data_root or cwd
    env = {**os.environ, "ECG_SYNTH_ROOT": str(root), "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "train.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def quiet_trainer(**overrides) -> pl.Trainer:
    """A CPU Trainer for tests: no logger, checkpoints, progress bar, summary or sanity check
    unless ``overrides`` turn them on."""
    settings = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    return pl.Trainer(**{**settings, **overrides})


def best_and_last_checkpoint(root: Path):
    """The project's checkpoint callback as the default config sets it up (best by ``val/fd``
    as ``best-epochNNN.ckpt``, plus ``last.ckpt``) under ``root / "checkpoints"``."""
    from ecg_synth.callbacks import ModelCheckpoint

    return ModelCheckpoint(
        dirpath=root / "checkpoints",
        monitor="val/fd",
        mode="min",
        filename="best-epoch{epoch:03d}",
        auto_insert_metric_name=False,
        save_last=True,
    )
