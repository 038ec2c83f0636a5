"""Hydra entry points, shared by the top-level scripts and the console scripts."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from ecg_synth.run_info import REPO_ROOT

CONFIG_DIR = str(REPO_ROOT / "conf")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def train(cfg: DictConfig) -> float | None:
    from ecg_synth import tasks

    metrics = tasks.train(cfg)
    # Sweepers (Optuna) minimise the value returned here.
    objective = cfg.get("optimized_metric")
    if objective:
        if objective not in metrics:
            raise KeyError(f"optimized_metric={objective!r} was not logged; have {sorted(metrics)}")
        return metrics[objective]
    return None
