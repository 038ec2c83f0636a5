"""Fixtures of the generation tests: real tiny trained models (see ``trained.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecg_synth.generation import GeneratorHandle, load_generator
from tests.generation.trained import trained_runs


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{name: run folder}``: wgan_gp (class), gan (class+subject, EMA), gan (unconditional),
    autoencoder, latent_cgan (class), each fitted 2 steps by a real Trainer."""
    return trained_runs(tmp_path_factory.getbasetemp() / "models")


@pytest.fixture(scope="session")
def wgan(runs) -> GeneratorHandle:
    return load_generator(runs["wgan_gp-simulated"])
