"""Real, tiny trained generators for the generation and serving tests.

Each model is a real ecg_synth LightningModule fitted for a few steps by a real
``lightning.Trainer`` on small beat-like data, checkpointed by the Trainer into a run folder
laid out like ``train.py``'s (``checkpoints/``, ``.hydra/config.yaml``, ``run_info.json``,
``metrics.json``). Built once per test session (process) and shared.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ecg_synth.data.normalize import Normalizer, RRScaler
from ecg_synth.data.types import AAMI_CLASSES
from tests.helpers import quiet_trainer

FS, LENGTH, R_INDEX = 360.0, 256, 90
SUBJECTS = ["100", "101", "103", "105"]
CLASS_COUNTS = {"N": 48, "S": 8, "V": 8, "F": 0, "Q": 0}  # F and Q absent, as in the simulator
# Each class's RR (previous, next, local mean; seconds): premature S and V, V's pause after.
CLASS_RR = np.array([[0.8, 0.8, 0.8], [0.5, 0.95, 0.78], [0.5, 1.1, 0.8]], np.float32)


def beats(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[n, 1, L]`` mV beat-like windows (QRS at R_INDEX, T wave), labels, subjects."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), [CLASS_COUNTS[c] for c in "NSV"])[:n]
    t = np.arange(LENGTH)
    width = np.where(labels == 2, 10.0, 4.0)[:, None]  # wide QRS for V beats
    qrs = np.exp(-0.5 * ((t[None] - R_INDEX) / width) ** 2)
    twave = 0.25 * np.exp(-0.5 * ((t[None] - R_INDEX - 100) / 18.0) ** 2)
    x = 1.2 * qrs + twave + 0.02 * rng.standard_normal((len(labels), LENGTH))
    return x[:, None, :].astype(np.float32), labels, rng.integers(0, len(SUBJECTS), len(labels))


def data_info() -> dict:
    x, labels, _ = beats()
    return {
        "fs": FS,
        "length": LENGTH,
        "leads": ["MLII"],
        "r_index": R_INDEX,
        "classes": list(AAMI_CLASSES),
        "subjects": SUBJECTS,
        "normalizer": Normalizer.fit(x, "global").to_dict(),
        "class_counts": CLASS_COUNTS,
        "rr_scaler": RRScaler.fit(CLASS_RR[labels]).to_dict(),
    }


class Beats(Dataset):
    def __init__(self) -> None:
        x, y, s = beats()
        self.x = torch.from_numpy(Normalizer.from_dict(data_info()["normalizer"]).transform(x))
        self.y, self.s = torch.from_numpy(y), torch.from_numpy(s)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {
            "signal": self.x[i],
            "label": self.y[i],
            "subject": self.s[i],
            "rr": torch.from_numpy(CLASS_RR[int(self.y[i])]),
        }


SMALL_WGAN = {
    "condition": "class",
    "g_channels": [16, 8],
    "z_dim": 16,
    "d_channels": [8, 16],
    "d_feat_dim": 16,
    "n_critic": 1,
}
# name -> (kind, constructor kwargs): small networks, every conditioning the tests need.
SPECS = {
    # The export must rebuild the output filter too.
    "wgan_gp-simulated": ("wgan_gp", {**SMALL_WGAN, "output_lowpass_hz": 40.0}),
    # Beats with their generated RR, sampled from the EMA generator, whose blocks take their
    # norm gains from the input (the export must rebuild those layers too).
    "wgan_gp-rr": (
        "wgan_gp",
        {
            **SMALL_WGAN,
            "generate_rr": True,
            "g_cond_norm": True,
            "ema": {"enabled": True, "decay": 0.9},
        },
    ),
    # Measurement noise above a 30 Hz filter, from the EMA generator: its fitted buffers and
    # its share of the latent must reach the export.
    "wgan_gp-noise": (
        "wgan_gp",
        {
            **SMALL_WGAN,
            "output_lowpass_hz": 30.0,
            "measurement_noise": True,
            "ema": {"enabled": True, "decay": 0.9},
        },
    ),
    "gan-subject": (
        "gan",
        {
            "condition": "class+subject",
            "g_hidden": [32],
            "d_hidden": [32],
            "z_dim": 8,
            "ema": {"enabled": True, "decay": 0.9},
        },
    ),
    "gan-uncond": ("gan", {"condition": "none", "g_hidden": [32], "d_hidden": [32], "z_dim": 8}),
    "autoencoder-simulated": (
        "autoencoder",
        {"latent_dim": 8, "encoder_channels": [8, 16], "decoder_channels": [16, 8]},
    ),
    "latent_cgan-simulated": (
        "latent_cgan",
        {"condition": "class", "g_hidden": [16], "d_hidden": [16], "z_dim": 8},
    ),
}


def fit(kind: str, kwargs: dict, run: Path) -> Path:
    """Fit a real model 2 steps and write a run folder; returns it."""
    from ecg_synth.models import model_class

    L.seed_everything(0, workers=True)
    model = model_class(kind)(data_info=data_info(), val_samples=8, **kwargs)
    if kwargs.get("measurement_noise"):  # no datamodule here to fit it from
        model.fit_measurement_noise(Beats().x)
    trainer = quiet_trainer(max_steps=2, limit_val_batches=0)
    with warnings.catch_warnings():  # no val loader, frozen autoencoder in eval: both intended
        warnings.simplefilter("ignore")
        trainer.fit(model, train_dataloaders=DataLoader(Beats(), batch_size=16, shuffle=True))
    ckpts = run / "checkpoints"
    ckpts.mkdir(parents=True)
    trainer.save_checkpoint(ckpts / "last.ckpt")
    shutil.copy(ckpts / "last.ckpt", ckpts / "best-epoch000-fd1.2345.ckpt")
    (run / ".hydra").mkdir()
    (run / ".hydra" / "config.yaml").write_text(
        "seed: 0\ndataset:\n  source: {kind: simulated, root: '${paths.data_dir}/simulated'}\n"
        "  split: {mode: random_records}\n"
    )
    data = {"fingerprint": "test", "root": "/data/resolved/simulated"}
    (run / "run_info.json").write_text(
        json.dumps({"code": {"commit": "abc123", "dirty": False}, "data": data})
    )
    (run / "metrics.json").write_text(json.dumps({"test/fd": 12.5, "test/mmd": 0.03}))
    (run / "evaluation").mkdir()
    evaluation = {"generated": {"fd": 7.25, "nn_ratio": 0.97, "collapsed": False}}
    (run / "evaluation" / "metrics.json").write_text(json.dumps(evaluation))
    return run


_RUNS: dict[str, Path] = {}


def trained_runs(base: Path) -> dict[str, Path]:
    """``{name: run folder}`` of every SPECS model under ``base/train/<name>/<time>``, fitted
    once per process."""
    if not _RUNS:
        for name, (kind, kwargs) in SPECS.items():
            kwargs = dict(kwargs)
            if kind == "latent_cgan":
                ae = _RUNS["autoencoder-simulated"] / "checkpoints" / "last.ckpt"
                kwargs["autoencoder_ckpt"] = str(ae)
            _RUNS[name] = fit(kind, kwargs, base / "train" / name / "2026-01-01_00-00-00")
    return dict(_RUNS)
