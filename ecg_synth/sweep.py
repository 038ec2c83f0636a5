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

A multi-objective search (``optimized_metric=[eval/fd,eval/nn_shortfall]`` with
``hydra.sweeper.direction=[minimize,minimize]``) has no single best: trials.csv gets one
column per objective and a ``pareto`` column (no other trial is at least as good on every
objective and better on one), ``pareto/<trial>.yaml`` holds each front trial's config, and
``best_config.yaml`` the front's best on the first objective.

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


def objective_names(optimized_metric: Any) -> list[str]:
    """``optimized_metric`` as a list of names: null -> [], a name -> [name], a list as is."""
    if not optimized_metric:
        return []
    if isinstance(optimized_metric, str):
        return [optimized_metric]
    return [str(n) for n in optimized_metric]


def _objective(job: Path, final: dict, metric: str) -> float | None:
    """The trial's ``metric``: a training metric from its ``metrics.json``, or an
    ``eval/<name>`` of the evaluation written after training (``evaluate_after``)."""
    if metric in final:
        return _number(final[metric])
    return _number(read_evaluation(job).get(metric))


def collect_trials(sweep_dir: str | Path, objective: str | list[str] | None = None) -> list[dict]:
    """One dict per job folder of ``sweep_dir`` (those with ``.hydra/overrides.yaml``), in job
    order. ``objective`` defaults to each job's ``optimized_metric``, else its monitor's best.
    ``objectives`` maps each objective's name to the trial's value; ``objective`` is the first."""
    sweep_dir = Path(sweep_dir)
    jobs = [p for p in sweep_dir.iterdir() if (p / ".hydra" / "overrides.yaml").is_file()]
    rows = []
    for job in jobs:
        cfg = OmegaConf.load(job / ".hydra" / "config.yaml")
        hydra_file = job / ".hydra" / "hydra.yaml"
        num = OmegaConf.load(hydra_file).hydra.job.get("num") if hydra_file.is_file() else None
        doc = read_metrics(job) or {}
        best = (doc.get("best") or {}).get("value")
        final = doc.get("final") or {}
        names = objective_names(objective or cfg.get("optimized_metric"))
        if names:
            objectives = {n: _objective(job, final, n) for n in names}
        else:
            objectives = {f"best/{doc.get('monitor', 'val/fd')}": _number(best)}
        rows.append(
            {
                "trial": int(num) if num is not None else None,
                "run": job.name,
                "status": doc.get("status", "no metrics.json"),
                "stop_reason": doc.get("stop_reason"),
                "objective": next(iter(objectives.values())),
                "objective_name": next(iter(objectives)),
                "objectives": objectives,
                "best_value": _number(best),
                "epochs": doc.get("epochs"),
                "wall_time_s": doc.get("wall_time_s"),
                "params": _overrides(job),
            }
        )
    return sorted(rows, key=lambda r: (r["trial"] is None, r["trial"], r["run"]))


def pareto_front(trials: list[dict], directions: list[str]) -> list[dict]:
    """The trials with every objective scored that no other such trial dominates (at least
    as good on every objective, better on one); ``directions`` in objective order."""
    sign = [1.0 if d == "minimize" else -1.0 for d in directions]
    keyed = [
        (t, [s * v for s, v in zip(sign, t["objectives"].values(), strict=True)])
        for t in trials
        if None not in t["objectives"].values()
    ]

    def dominated(a: list[float]) -> bool:
        return any(all(x <= y for x, y in zip(b, a, strict=True)) and b != a for _, b in keyed)

    return [t for t, v in keyed if not dominated(v)]


def summarize(
    sweep_dir: str | Path,
    params: list[str] | None = None,
    direction: str | list[str] = "minimize",
    objective: str | list[str] | None = None,
) -> dict | None:
    """Write ``trials.csv``, ``trials.json``, ``best_trial.json`` and ``best_config.yaml`` into
    ``sweep_dir`` (and ``pareto/`` for several objectives); return the best trial (None when
    no trial has every objective's value).

    ``params``: the searched keys shown as columns (default: every override that differs
    between trials). ``direction``: one per objective (a name applies to all)."""
    sweep_dir = Path(sweep_dir)
    trials = collect_trials(sweep_dir, objective)
    names = list(trials[0]["objectives"]) if trials else []
    directions = [direction] * len(names) if isinstance(direction, str) else list(direction)
    if len(directions) != len(names):
        raise ValueError(f"{len(directions)} directions {directions} for objectives {names}")
    if params is None:
        keys = sorted({k for t in trials for k in t["params"]})
        params = [k for k in keys if len({t["params"].get(k) for t in trials}) > 1]
    front = pareto_front(trials, directions)
    for t in trials:
        t["pareto"] = any(t is f for f in front)
    multi = len(names) > 1
    # One objective: an "objective" column. Several: one column each, and the front.
    scores = [*names, "pareto"] if multi else ["objective"]
    runs = ["best_value", "epochs", "wall_time_s"]
    with open(sweep_dir / "trials.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["trial", "run", "status", *scores, *runs, *params, "stop_reason"])
        for t in trials:
            values = [*t["objectives"].values(), t["pareto"]] if multi else [t["objective"]]
            writer.writerow(
                [t["trial"], t["run"], t["status"], *values, *(t[k] for k in runs)]
                + [t["params"].get(p) for p in params]
                + [t["stop_reason"]]
            )
    # One objective: its best. Several: the front's best on the first objective.
    pick = min if directions and directions[0] == "minimize" else max
    best = pick(front, key=lambda t: t["objective"]) if front else None
    (sweep_dir / "trials.json").write_text(
        json.dumps(
            {
                "objectives": names,
                "direction": directions[0] if len(directions) == 1 else directions,
                "params": params,
                "best": best,
                "pareto": [t["trial"] for t in front],
                "trials": trials,
            },
            indent=2,
        )
    )
    if best is not None:
        (sweep_dir / "best_trial.json").write_text(json.dumps(best, indent=2))
        shutil.copyfile(
            sweep_dir / best["run"] / ".hydra" / "config.yaml", sweep_dir / "best_config.yaml"
        )
    if multi:
        (sweep_dir / "pareto").mkdir(exist_ok=True)
        for t in front:
            config = sweep_dir / t["run"] / ".hydra" / "config.yaml"
            shutil.copyfile(config, sweep_dir / "pareto" / f"{t['run']}.yaml")
    return best


class SweepSummary(Callback):
    """Hydra callback: ``summarize`` the sweep folder when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweeper = config.hydra.get("sweeper") or {}
        params = list(sweeper.get("params") or {}) or None
        direction = sweeper.get("direction", "minimize")
        if not isinstance(direction, str):
            direction = [str(d) for d in direction]
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
            f"Sweep results:  {sweep_dir}/trials.csv, best_config.yaml"
            f"{', pareto/' if not isinstance(direction, str) else ''}\n"
            f"TensorBoard:    tensorboard --logdir {sweep_dir}",
            flush=True,
        )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m ecg_synth.sweep <sweep folder>")
    print(json.dumps(summarize(sys.argv[1]), indent=2))
