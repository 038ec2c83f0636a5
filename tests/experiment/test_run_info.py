"""The code version a run folder records: commit, and dirty only for changes to the code."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ecg_synth.run_info import code_version


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_outputs_do_not_make_the_code_dirty_but_code_changes_do(tmp_path):
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "t@example.org")
    git(tmp_path, "config", "user.name", "t")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "train.yaml").write_text("seed: 0\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "init")
    clean = code_version(tmp_path)
    assert len(clean["commit"]) == 40 and clean["dirty"] is False

    (tmp_path / "results").mkdir()  # what reproduce writes
    (tmp_path / "results" / "RESULTS.md").write_text("# Results\n")
    assert code_version(tmp_path)["dirty"] is False

    (tmp_path / "conf" / "train.yaml").write_text("seed: 1\n")  # an edited config
    assert code_version(tmp_path)["dirty"] is True
    git(tmp_path, "checkout", "--", "conf")
    (tmp_path / "ecg_synth").mkdir()  # a new, not yet committed module
    (tmp_path / "ecg_synth" / "new.py").write_text("x = 1\n")
    assert code_version(tmp_path)["dirty"] is True


def test_outside_git_the_version_is_unknown(tmp_path):
    assert code_version(tmp_path / "nowhere") == {"commit": "unknown", "dirty": None}
