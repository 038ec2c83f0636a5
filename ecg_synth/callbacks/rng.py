"""Carry the random number generators' state in checkpoints.

A GAN draws noise from the global torch generator at every step. Restoring that state on
resume is what makes an interrupted-and-resumed run end with the same weights as the same
run uninterrupted (CPU, fixed seed).
"""

from __future__ import annotations

import random

import lightning.pytorch as pl
import numpy as np
import torch


class RNGState(pl.Callback):
    def state_dict(self) -> dict:
        state = {
            "torch": torch.get_rng_state(),
            "numpy": _numpy_state_to_tensors(np.random.get_state()),  # noqa: NPY002 (global state is what we restore)
            "python": list(random.getstate()[1]),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict) -> None:
        torch.set_rng_state(state["torch"])
        np.random.set_state(_numpy_state_from_tensors(state["numpy"]))  # noqa: NPY002
        random.setstate((3, tuple(int(v) for v in state["python"]), None))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


# NumPy's state tuple holds a str and ndarrays; store plain tensors/ints so the checkpoint
# loads with torch.load(weights_only=True).
def _numpy_state_to_tensors(state) -> dict:
    _, keys, pos, has_gauss, cached = state
    return {
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached": float(cached),
    }


def _numpy_state_from_tensors(d: dict):
    return ("MT19937", d["keys"].numpy().astype(np.uint32), d["pos"], d["has_gauss"], d["cached"])
