"""Tiny data and model configurations for the model tests (CPU, seconds).

``SineData`` is a LightningDataModule in the batch contract of ``ECGDataModule``: class-
dependent sine bursts in [-1, 1] ``[B, 1, L]``, labels, subjects (-1 in validation: unseen),
RR features; ``data_info()`` as the real module returns it.
"""

from __future__ import annotations

import warnings

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from ecg_synth.data.normalize import RRScaler
from tests.helpers import quiet_trainer

LENGTH = 64
SUBJECTS = ["101", "106", "119"]
# Previous RR of each class as a share of the local mean (N, S, V, F): S and V premature.
PREMATURITY = torch.tensor([1.0, 0.6, 0.65, 0.9])


@pytest.fixture(autouse=True)
def _quiet_single_thread():
    """One intra-op thread: these networks are too small to gain from more, and on a shared
    machine OpenMP threads waiting for a descheduled sibling made steps up to 30x slower.
    Also silence Lightning's advice about dataloader workers and tiny epochs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for msg in (".*does not have many workers.*", ".*smaller than the logging interval.*"):
        warnings.filterwarnings("ignore", message=msg)
    yield
    torch.set_num_threads(threads)


def make_info(
    length: int = LENGTH, mode: str = "global", offset: float = 0.2, scale: float = 1.5
) -> dict:
    return {
        "fs": 360.0,
        "length": length,
        "leads": ["MLII"],
        "r_index": 20,
        "classes": ["N", "S", "V", "F", "Q"],
        "subjects": list(SUBJECTS),
        "normalizer": {"mode": mode, "offset": [offset], "scale": [scale], "clip": True},
        "class_counts": [60, 20, 15, 5, 0],
        "rr_scaler": RRScaler.fit(sine_batch(512, length)["rr"].numpy()).to_dict(),
    }


class _Rows(Dataset):
    def __init__(self, **tensors: torch.Tensor) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors["signal"])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


def sine_batch(n: int, length: int = LENGTH, seed: int = 0, unseen: bool = False) -> dict:
    g = torch.Generator().manual_seed(seed)
    labels = torch.multinomial(torch.tensor([60.0, 20, 15, 5]), n, replacement=True, generator=g)
    t = torch.linspace(0, 1, length)
    freq = (2 + labels.float() * 1.5)[:, None]
    phase = torch.rand(n, 1, generator=g) * 0.5
    noise = 0.05 * torch.randn(n, length, generator=g)
    x = 0.8 * torch.sin(2 * torch.pi * freq * t + phase) + noise
    subjects = torch.full((n,), -1) if unseen else torch.randint(len(SUBJECTS), (n,), generator=g)
    return {
        "signal": x.clamp(-1, 1)[:, None, :].float(),
        "label": labels.long(),
        "subject": subjects.long(),
        "rr": sine_rr(labels, g),
    }


def sine_rr(labels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """RR features ``[n, 3]`` seconds: local mean ~0.8 s, previous RR premature by the class's
    ``PREMATURITY``, next RR the pause that brings the pair back to twice the local mean."""
    local = 0.8 * torch.exp(0.1 * torch.randn(len(labels), generator=g))
    prev = local * PREMATURITY[labels] * torch.exp(0.03 * torch.randn(len(labels), generator=g))
    return torch.stack([prev, 2 * local - prev, local], dim=1).float()


class SineData(pl.LightningDataModule):
    def __init__(
        self, n_train: int = 64, n_val: int = 48, batch_size: int = 16, length: int = LENGTH
    ) -> None:
        super().__init__()
        self.length, self.batch_size = length, batch_size
        self.train = sine_batch(n_train, length, seed=0)
        self.val = sine_batch(n_val, length, seed=1, unseen=True)

    def data_info(self) -> dict:
        return make_info(self.length)

    def signals(self, split: str = "train") -> torch.Tensor:
        return {"train": self.train, "val": self.val}[split]["signal"]

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            _Rows(**self.train),
            batch_size=self.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(0),
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(_Rows(**self.val), batch_size=self.batch_size)


# Small networks for LENGTH = 64, one dict per kind (``model_kwargs`` fixture).
SMALL = {
    "gan": {
        "condition": "class",
        "z_dim": 8,
        "g_hidden": [32],
        "d_hidden": [32],
        "val_samples": 32,
        "fixed_samples": 10,
    },
    "wgan_gp": {
        "condition": "class",
        "z_dim": 8,
        "g_channels": [16, 8],
        "d_channels": [8, 16],
        "d_feat_dim": 16,
        "n_critic": 2,
        "val_samples": 32,
        "fixed_samples": 10,
    },
    "autoencoder": {
        "latent_dim": 8,
        "encoder_channels": [8, 16],
        "decoder_channels": [16, 8],
        "val_samples": 32,
    },
    "latent_cgan": {
        "condition": "class+subject",
        "z_dim": 8,
        "g_hidden": [32],
        "d_hidden": [32],
        "val_samples": 32,
        "fixed_samples": 10,
    },
}


def trainer(tmp_path=None, **kw) -> pl.Trainer:
    return quiet_trainer(default_root_dir=tmp_path, **kw)


@pytest.fixture(scope="session")
def autoencoder_ckpt(tmp_path_factory) -> str:
    """A real stage-one checkpoint (a few steps) for the latent GAN tests."""
    from ecg_synth.models.autoencoder import Autoencoder

    dm = SineData()
    model = Autoencoder(dm.data_info(), **SMALL["autoencoder"])
    path = tmp_path_factory.mktemp("ae") / "ae.ckpt"
    t = trainer(max_steps=3, limit_val_batches=1)
    t.fit(model, datamodule=dm)
    t.save_checkpoint(path)
    return str(path)


@pytest.fixture
def build(autoencoder_ckpt):
    """``build(kind, **overrides)`` -> a small model of ``kind`` for ``SineData``."""
    from ecg_synth.models import model_class

    def make(kind: str, info: dict | None = None, **overrides):
        kw = dict(SMALL[kind])
        if kind == "latent_cgan":
            kw["autoencoder_ckpt"] = autoencoder_ckpt
        kw.update(overrides)
        return model_class(kind)(info or make_info(), **kw)

    return make
