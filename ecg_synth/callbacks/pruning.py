"""Pruning of hopeless hyperparameter-search trials, through the sweep folder.

Hydra's Optuna sweeper launches each trial as a Hydra job and only sees its final return
value: the trial has no handle on the Optuna study, so ``trial.report``/``should_prune`` are
out of reach (an RDB storage would give one, but Optuna 2.10, the version the sweeper plugin
pins, does not work with SQLAlchemy 2). The sweep folder is shared by every trial instead:
each writes ``metrics.json`` with its per-validation history (``RunMetrics``), and this
callback applies Optuna's median rule to it.

Rule (``optuna.pruners.MedianPruner`` semantics, "min" metrics): after ``warmup_epochs``
epochs, a trial whose ``monitor`` at epoch ``e`` is worse than the
``percentile``-th percentile of the same metric at epoch ``e`` over the *completed* trials
(at least ``min_trials`` of them) stops; so does one worse than ``threshold`` if given.
Completed is what Optuna would call COMPLETE: the trial returned its value, whether it ran
all its epochs or a budget (``trainer.max_time``, early stopping) ended it; pruned, failed
and running trials are no reference.
A pruned trial ends like any other: its checkpoints and ``metrics.json`` (status "stopped",
``stop_reason`` "pruned ...") stay, and it returns its value so far, which is worse than the
median, so the sampler learns from it. With parallel launchers it compares against the
trials finished so far.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.utilities import rank_zero_info

from ecg_synth.registry import METRICS_FILE, read_metrics


def completed(doc: dict | None) -> bool:
    """Whether a trial's ``metrics.json`` is a reference for the median rule: it ended and
    returned its value. A time-budgeted sweep (``trainer.max_time``) ends every trial as
    "stopped", so "finished" alone would never prune one."""
    if not doc or doc.get("status") not in ("finished", "stopped"):
        return False
    return not str(doc.get("stop_reason") or "").startswith("pruned")


def completed_values(trials_dir: Path, monitor: str, epoch: int, exclude: Path) -> list[float]:
    """``monitor`` at validation epoch ``epoch`` of every ``completed`` trial folder under
    ``trials_dir``, other than ``exclude``."""
    values = []
    for path in sorted(trials_dir.glob(f"*/{METRICS_FILE}")):
        if path.parent.resolve() == exclude.resolve():
            continue
        doc = read_metrics(path.parent)
        if not completed(doc):
            continue
        row = next((r for r in doc.get("history", []) if r.get("epoch") == epoch), None)
        if row is not None and row.get(monitor) is not None:
            values.append(float(row[monitor]))
    return values


class TrialPruner(pl.Callback):
    """Stops a sweep trial that does worse than the completed ones (module docstring).

    ``trials_dir``: the folder holding the trial folders (default: the parent of this run's
    folder, i.e. the sweep folder).
    """

    def __init__(
        self,
        monitor: str = "val/fd",
        warmup_epochs: int = 1,
        min_trials: int = 2,
        percentile: float = 50.0,
        threshold: float | None = None,
        trials_dir: str | None = None,
    ) -> None:
        if not 0 < percentile <= 100:
            raise ValueError(f"TrialPruner.percentile must be in (0, 100], got {percentile}")
        if min_trials < 1:
            raise ValueError(f"TrialPruner.min_trials must be >= 1, got {min_trials}")
        self.monitor = monitor
        self.warmup_epochs = warmup_epochs
        self.min_trials = min_trials
        self.percentile = percentile
        self.threshold = threshold
        self.trials_dir = trials_dir
        self.stop_reason: str | None = None  # read by RunMetrics

    def on_fit_start(self, trainer, pl_module) -> None:
        self.stop_reason = None

    def decide(self, trainer, value: float, epoch: int) -> str | None:
        """Why this trial should stop at ``epoch`` with ``value``, or None."""
        if self.threshold is not None and value > self.threshold:
            return f"{self.monitor}={value:.4g} > threshold {self.threshold:g}"
        run_dir = Path(trainer.default_root_dir)
        trials = Path(self.trials_dir) if self.trials_dir else run_dir.parent
        others = completed_values(trials, self.monitor, epoch, exclude=run_dir)
        if len(others) < self.min_trials:
            return None
        cut = float(np.percentile(others, self.percentile))
        if value > cut:
            return (
                f"{self.monitor}={value:.4g} at epoch {epoch} is worse than the "
                f"{self.percentile:g}th percentile {cut:.4g} of {len(others)} completed trials"
            )
        return None

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or trainer.current_epoch + 1 <= self.warmup_epochs:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        reason = self.decide(trainer, float(value), trainer.current_epoch)
        # Every rank reads the same files; reducing keeps DDP processes in step regardless.
        if trainer.strategy.reduce_boolean_decision(reason is not None, all=False):
            self.stop_reason = f"pruned: {reason}"
            trainer.should_stop = True
            rank_zero_info(f"TrialPruner: stopping this trial, {reason}")
