"""What a run folder records besides Hydra's composed config: code version and data."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


# What a run's results depend on: a change here (tracked or new) makes the code version dirty;
# outputs such as results/ do not.
CODE_PATHS = ("ecg_synth", "conf", "train.py", "generate.py", "evaluate.py", "pyproject.toml")


def code_version(repo: Path = REPO_ROOT) -> dict:
    """Git commit and whether the code (``CODE_PATHS``) had uncommitted changes ("unknown"
    outside git)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        dirty = bool(git("status", "--porcelain", "--", *CODE_PATHS))
        return {"commit": git("rev-parse", "HEAD"), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


def write_run_info(run_dir: Path, data_fingerprint: dict, extra: dict | None = None) -> Path:
    """Write ``run_info.json`` (code version, data fingerprint, environment) into ``run_dir``."""
    import lightning
    import torch

    from ecg_synth import __version__

    info = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
        "ecg_synth": __version__,
        "code": code_version(),
        "data": data_fingerprint,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),  # float sums can differ with the count
        "lightning": lightning.__version__,
        "host": platform.node(),
        **(extra or {}),
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "run_info.json"
    path.write_text(json.dumps(info, indent=2, default=str))
    return path
