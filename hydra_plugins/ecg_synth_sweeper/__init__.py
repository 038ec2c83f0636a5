"""The Optuna sweeper of hydra-optuna-sweeper, with a clear error when no trial completed.

The plugin ends such a search with Optuna's bare ``No trials are completed yet`` traceback;
this subclass names how many trials failed and why instead. Hydra instantiates sweepers only
from the ``hydra_plugins`` package, hence this package; ``conf/hparams_search/*.yaml`` select
it through ``hydra.sweeper._target_``.
"""

from __future__ import annotations

from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra_plugins.hydra_optuna_sweeper import optuna_sweeper


class SearchFailedError(RuntimeError):
    """Every trial of a search failed, so it has no best trial."""


def _why(job: JobReturn) -> str:
    if job.status == JobStatus.FAILED:
        error = job._return_value
        first_line = (str(error).strip().splitlines() or [""])[0]
        return f"{type(error).__name__}: {first_line}"
    return f"returned {job._return_value!r}, not a number per objective"


class _RecordingLauncher:
    """The sweep's launcher, keeping what each launched trial returned."""

    def __init__(self, launcher: Any) -> None:
        self.launcher = launcher
        self.jobs: list[JobReturn] = []

    def launch(self, job_overrides: Any, initial_job_idx: int) -> Any:
        jobs = self.launcher.launch(job_overrides, initial_job_idx=initial_job_idx)
        self.jobs.extend(jobs)
        return jobs

    def __getattr__(self, name: str) -> Any:
        return getattr(self.launcher, name)


class OptunaSweeper(optuna_sweeper.OptunaSweeper):
    """``hydra_plugins.hydra_optuna_sweeper``'s sweeper; see the module docstring."""

    def setup(self, **kwargs: Any) -> None:
        super().setup(**kwargs)
        self.sweeper.launcher = _RecordingLauncher(self.sweeper.launcher)

    def sweep(self, arguments: list[str]) -> None:
        try:
            return super().sweep(arguments)
        except ValueError as error:
            if "No trials are completed yet" not in str(error):
                raise
            jobs = self.sweeper.launcher.jobs
            reasons = dict.fromkeys(_why(job) for job in jobs)  # distinct, in trial order
            sweep_dir = self.sweeper.config.hydra.sweep.dir
            raise SearchFailedError(
                f"every trial of the search failed ({len(jobs)} of {len(jobs)}), so it has no "
                f"best trial. Why: {'; '.join(list(reasons)[:3])}"
                f"{' (and more)' if len(reasons) > 3 else ''}. Each trial's log: "
                f"{sweep_dir}/<trial>/train.log"
            ) from None
