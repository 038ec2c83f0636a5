"""``<run>/metrics.json``: what a run achieved, for the registry, sweeps and the pruner.

Written (rank zero, atomically) after every validation and at the end of the fit, so a
running or crashed run has one too. Layout::

    {"status": "running" | "finished" | "stopped" | "failed",
     "stop_reason": str | null,          # pruned / collapse / early stopping / max_time
     "monitor": "val/fd", "mode": "min",
     "best": {"value": float | null, "epoch": int | null, "checkpoint": "checkpoints/..."},
     "last_checkpoint": "checkpoints/last.ckpt" | null,
     "final": {"val/fd": ..., "best/val/fd": ..., ...},   # scalar callback metrics at the end
     "epochs": int, "global_step": int, "wall_time_s": float, "updated": iso time,
     "history": [{"epoch": 0, "step": 12, "val/fd": ..., "monitor/diversity_ratio": ...}, ...]}

Checkpoint paths are relative to the run folder, so a moved folder stays valid. The history
is also kept in checkpoints, so a resumed run's file continues the interrupted one's.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, Timer
from lightning.pytorch.trainer.states import TrainerFn

from ecg_synth.registry import METRICS_FILE

log = logging.getLogger(__name__)

HISTORY_PREFIXES = ("val/", "monitor/")


def _scalar(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError, RuntimeError):
        return None
    return v if math.isfinite(v) else None


def _rel(path: str | None, run_dir: Path) -> str | None:
    if not path:
        return None
    try:
        return str(Path(path).resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(path)


class RunMetrics(pl.Callback):
    """Keeps ``<run>/metrics.json`` (module docstring) up to date during the fit."""

    def __init__(self, filename: str = METRICS_FILE) -> None:
        self.filename = filename
        self._start = 0.0
        self._history: list[dict] = []
        self._status = "running"

    # ---- hooks ---------------------------------------------------------------------------
    def setup(self, trainer, pl_module, stage: str) -> None:
        # Before a checkpoint is restored (which brings back the history of a resumed run).
        if stage == "fit":
            self._history = []
            self._status = "running"

    def state_dict(self) -> dict:
        return {"history": self._history}

    def load_state_dict(self, state_dict: dict) -> None:
        self._history = list(state_dict.get("history", []))

    def on_fit_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()
        self._write(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        # After the loggers' epoch-end update: val/* of this epoch are in callback_metrics.
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        row = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        for key, value in trainer.callback_metrics.items():
            if key.startswith(HISTORY_PREFIXES) and (v := _scalar(value)) is not None:
                row[key] = v
        if len(row) > 2:
            self._history.append(row)
            self._write(trainer)

    def on_fit_end(self, trainer, pl_module) -> None:
        reason = self._stop_reason(trainer)
        self._status = "stopped" if reason else "finished"
        if reason and trainer.is_global_zero:
            log.info("Training stopped at epoch %d: %s", trainer.current_epoch, reason)
        self._write(trainer)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._status = "failed"
        self._write(trainer, error=f"{type(exception).__name__}: {exception}")

    # ---- content -------------------------------------------------------------------------
    @staticmethod
    def _stop_reason(trainer) -> str | None:
        """Why the fit ended before max_epochs, when a callback ended it."""
        for cb in trainer.callbacks:
            if getattr(cb, "stop_reason", None):
                return str(cb.stop_reason)
            if isinstance(cb, EarlyStopping) and cb.stopped_epoch > 0:
                return f"early stopping on {cb.monitor} at epoch {cb.stopped_epoch}"
            # trainer.max_time adds a Timer callback
            if (
                isinstance(cb, Timer)
                and cb.time_remaining() is not None
                and cb.time_remaining() <= 0
            ):
                return "max_time reached"
        return None

    def content(self, trainer, error: str | None = None) -> dict:
        run_dir = Path(trainer.default_root_dir)
        ckpt = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)
        monitor = ckpt.monitor if ckpt is not None and ckpt.monitor else "val/fd"
        mode = ckpt.mode if ckpt is not None else "min"
        scored = [r for r in self._history if monitor in r]
        best_row = (
            (min if mode == "min" else max)(scored, key=lambda r: r[monitor]) if scored else None
        )
        # The history holds this epoch already; the checkpoint callback (run after this one)
        # may not have seen it yet.
        best_value = best_row[monitor] if best_row is not None else None
        if best_value is None and ckpt is not None:
            best_value = _scalar(ckpt.best_model_score)
        # logged_metrics: every value sent to the loggers (the models hand most step scalars
        # to them directly); callback_metrics: the rest of what self.log kept.
        latest = {**trainer.logged_metrics, **trainer.callback_metrics}
        final = {k: v for k, value in latest.items() if (v := _scalar(value)) is not None}
        if best_value is not None:
            final[f"best/{monitor}"] = best_value
        return {
            "status": self._status,
            "stop_reason": self._stop_reason(trainer) if self._status != "running" else None,
            "error": error,
            "monitor": monitor,
            "mode": mode,
            "best": {
                "value": best_value,
                "epoch": best_row["epoch"] if best_row else None,
                "checkpoint": _rel(ckpt.best_model_path, run_dir) if ckpt is not None else None,
            },
            "last_checkpoint": _rel(ckpt.last_model_path, run_dir) if ckpt is not None else None,
            "final": final,
            "epochs": trainer.current_epoch,
            "global_step": trainer.global_step,
            "wall_time_s": round(time.perf_counter() - self._start, 3),
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "history": self._history,
        }

    def _write(self, trainer, error: str | None = None) -> None:
        if not trainer.is_global_zero:
            return
        run_dir = Path(trainer.default_root_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        # Write-then-rename: a concurrent reader (the pruner of a parallel trial, the
        # registry) never sees half a file.
        tmp = run_dir / f".{self.filename}.tmp"
        tmp.write_text(json.dumps(self.content(trainer, error), indent=2))
        os.replace(tmp, run_dir / self.filename)
