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


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="generate")
def generate(cfg: DictConfig) -> None:
    import sys

    from omegaconf.errors import MissingMandatoryValue

    from ecg_synth.generation import tasks
    from ecg_synth.generation.core import GenerationError

    try:
        tasks.generate(cfg)
    except (GenerationError, FileNotFoundError, MissingMandatoryValue) as e:
        # A bad request, not a bug: one clear line instead of a traceback.
        sys.exit(f"generate.py: error: {e}")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="serve")
def serve(cfg: DictConfig) -> None:
    from ecg_synth.serve.server import run

    run(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
def evaluate(cfg: DictConfig) -> None:
    import sys

    from ecg_synth.evaluation.pipeline import EvaluationError, run

    try:
        run(cfg)
    except (EvaluationError, FileNotFoundError) as e:
        # Bad input (a folder, a checkpoint, a setting), not a bug: one clear line.
        sys.exit(f"evaluate.py: error: {e}")
