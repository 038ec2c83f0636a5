"""Small helpers shared by the experiment-management tests."""

from __future__ import annotations

from omegaconf import OmegaConf

from ecg_synth.run_info import REPO_ROOT


def hparams_search_override(option: str) -> str:
    """``hparams_search=<option>`` once ``conf/train.yaml`` lists the group in its defaults
    (``- hparams_search: null``), else ``+hparams_search=<option>`` (append)."""
    defaults = OmegaConf.to_container(OmegaConf.load(REPO_ROOT / "conf" / "train.yaml"))["defaults"]
    declared = any(isinstance(d, dict) and "hparams_search" in d for d in defaults)
    return f"{'' if declared else '+'}hparams_search={option}"
