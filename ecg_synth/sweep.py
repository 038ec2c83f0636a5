"""Sweep results gathered from the trial folders into the sweep folder.

``SweepSummary`` is a Hydra callback (``hydra.callbacks`` in ``conf/hparams_search/*.yaml``):
when a multirun ends it reads every job folder of the sweep (``.hydra/overrides.yaml``,
``.hydra/config.yaml``, ``metrics.json``) and writes

- ``trials.csv`` / ``trials.json``: one row per trial: number, folder, status and stop reason
  (pruned, collapse, ...), objective (``optimized_metric``), best validation value, epochs,
  wall time, and the searched parameters;
- ``best_config.yaml``: the composed config of the best trial (retrain it with
  ``python train.py --config-path <sweep>/<trial>/.hydra --config-name config``), and
  ``best_trial.json``.

It reads files only, so it works with any sweeper and launcher (local or SLURM) and can be
run again on an old sweep: ``python -m ecg_synth.sweep <sweep folder>``.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import shutil
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ecg_synth.registry import read_evaluation, read_metrics

log = logging.getLogger(__name__)


def _overrides(job: Path) -> dict[str, str]:
    items = OmegaConf.to_container(OmegaConf.load(job / ".hydra" / "overrides.yaml"))
    return dict(item.split("=", 1) for item in items if "=" in item)


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _objective(job: Path, final: dict, metric: str) -> float | None:
    """The trial's ``metric``: a training metric from its ``metrics.json``, or an
    ``eval/<name>`` of the evaluation written after training (``evaluate_after``)."""
    if metric in final:
        return _number(final[metric])
    return _number(read_evaluation(job).get(metric))


def collect_trials(sweep_dir: str | Path, objective: str | None = None) -> list[dict]:
    """One dict per job folder of ``sweep_dir`` (those with ``.hydra/overrides.yaml``), in job
    order. ``objective`` defaults to each job's ``optimized_metric``, else its monitor's best."""
    sweep_dir = Path(sweep_dir)
    jobs = [p for p in sweep_dir.iterdir() if (p / ".hydra" / "overrides.yaml").is_file()]
    rows = []
    for job in jobs:
        cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
        hydra_file = job / ".hydra" / "hydra.yaml"
        num = OmegaConf.load(hydra_file).hydra.job.get("num") if hydra_file.is_file() else None
        metric = objective or cfg.get("optimized_metric")
        doc = read_metrics(job) or {}
        best = (doc.get("best") or {}).get("value")
        final = doc.get("final") or {}
        rows.append(
            {
                "trial": int(num) if num is not None else None,
                "run": job.name,
                "status": doc.get("status", "no metrics.json"),
                "stop_reason": doc.get("stop_reason"),
                "objective": _objective(job, final, metric) if metric else _number(best),
                "objective_name": metric or f"best/{doc.get('monitor', 'val/fd')}",
                "best_value": _number(best),
                "epochs": doc.get("epochs"),
                "wall_time_s": doc.get("wall_time_s"),
                "params": _overrides(job),
            }
        )
    return sorted(rows, key=lambda r: (r["trial"] is None, r["trial"], r["run"]))


def summarize(
    sweep_dir: str | Path,
    params: list[str] | None = None,
    direction: str = "minimize",
    objective: str | None = None,
) -> dict | None:
    """Write ``trials.csv``, ``trials.json``, ``best_trial.json`` and ``best_config.yaml`` into
    ``sweep_dir``; return the best trial (None when no trial has an objective value).

    ``params``: the searched keys shown as columns (default: every override that differs
    between trials)."""
    sweep_dir = Path(sweep_dir)
    trials = collect_trials(sweep_dir, objective)
    if params is None:
        keys = sorted({k for t in trials for k in t["params"]})
        params = [k for k in keys if len({t["params"].get(k) for t in trials}) > 1]
    header = ["trial", "run", "status", "objective", "best_value", "epochs", "wall_time_s"]
    with open(sweep_dir / "trials.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*header, *params, "stop_reason"])
        for t in trials:
            writer.writerow(
                [t[h] for h in header] + [t["params"].get(p) for p in params] + [t["stop_reason"]]
            )
    scored = [t for t in trials if t["objective"] is not None]
    pick = min if direction == "minimize" else max
    best = pick(scored, key=lambda t: t["objective"]) if scored else None
    (sweep_dir / "trials.json").write_text(
        json.dumps(
            {"direction": direction, "params": params, "best": best, "trials": trials}, indent=2
        )
    )
    if best is not None:
        (sweep_dir / "best_trial.json").write_text(json.dumps(best, indent=2))
        shutil.copyfile(
            sweep_dir / best["run"] / ".hydra" / "config.yaml", sweep_dir / "best_config.yaml"
        )
    return best


class SweepSummary(Callback):
    """Hydra callback: ``summarize`` the sweep folder when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweeper = config.hydra.get("sweeper") or {}
        params = list(sweeper.get("params") or {}) or None
        direction = str(sweeper.get("direction", "minimize"))
        sweep_dir = Path(config.hydra.sweep.dir)
        best = summarize(sweep_dir, params, direction)
        if best is None:
            log.warning("Sweep %s: no trial produced an objective value", sweep_dir)
            return
        log.info(
            "Sweep %s: best trial %s (%s=%.4g), %s",
            sweep_dir,
            best["trial"],
            best["objective_name"],
            best["objective"],
            best["params"],
        )
        print(
            f"Sweep results:  {sweep_dir}/trials.csv, best_config.yaml\n"
            f"TensorBoard:    tensorboard --logdir {sweep_dir}",
            flush=True,
        )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m ecg_synth.sweep <sweep folder>")
    print(json.dumps(summarize(sys.argv[1]), indent=2))
