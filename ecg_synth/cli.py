"""Hydra entry points, shared by the top-level scripts and the console scripts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import hydra
from omegaconf import DictConfig, open_dict

from ecg_synth.run_info import REPO_ROOT

CONFIG_DIR = str(REPO_ROOT / "conf")


def compose_config(
    config_name: str, overrides: Sequence[str] = (), *, with_hydra: bool = False
) -> DictConfig:
    """``conf/<config_name>.yaml`` with ``overrides``, composed as its entry script would, for
    code outside a Hydra run (``reproduce``, the bench scripts). ``with_hydra`` keeps the
    ``hydra`` node, for callers that then set a run folder."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        return compose(config_name, overrides=list(overrides), return_hydra_config=with_hydra)


def compose_run(
    config_name: str,
    overrides: Sequence[str],
    output_dir: Path,
    root_dir: Path | None = None,
) -> DictConfig:
    """:func:`compose_config` with the run folder ``output_dir`` set where the entry script's
    Hydra run would set it (``paths.output_dir``, the ``hydra`` node, ``HydraConfig``), so a
    task runs in this process as ``python <entry>.py`` would. ``root_dir`` moves the data and
    caches (``paths.root_dir``) away from the repository (tests, benchmarks)."""
    from hydra.core.hydra_config import HydraConfig

    cfg = compose_config(config_name, overrides, with_hydra=True)
    with open_dict(cfg):
        if root_dir is not None:
            cfg.paths.root_dir = str(root_dir)
        cfg.paths.output_dir = str(output_dir)
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.name = config_name
    HydraConfig().set_config(cfg)
    return cfg


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def train(cfg: DictConfig) -> float | list[float] | None:
    from ecg_synth import tasks
    from ecg_synth.sweep import objective_names

    metrics = tasks.train(cfg)
    # Sweepers (Optuna) optimise the value returned here: one metric, or a list of them for a
    # multi-objective search (hydra.sweeper.direction: one direction per metric).
    names = objective_names(cfg.get("optimized_metric"))
    missing = [n for n in names if n not in metrics]
    if missing:
        raise KeyError(f"optimized_metric: {missing} not logged; have {sorted(metrics)}")
    values = [metrics[n] for n in names]
    return values if len(values) > 1 else (values[0] if values else None)


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
