"""Session fixtures for the metric tests (data from ``synthetic_beats``)."""

from __future__ import annotations

import pytest
from synthetic_beats import FS, R_INDEX, make_beats

from ecg_synth.metrics.embedding import EncoderConfig, load_or_train_encoder


@pytest.fixture(scope="session")
def beats():
    """Train (3000), held-out (1000, same subjects) and a second independent draw (1000)."""
    return {
        "train": make_beats(3000, seed=1),
        "heldout": make_beats(1000, seed=2),
        "resample": make_beats(1000, seed=3),
    }


@pytest.fixture(scope="session")
def encoder_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("encoder_cache")


@pytest.fixture(scope="session")
def encoder(beats, encoder_cache):
    x, y, g = beats["train"]
    return load_or_train_encoder(
        x, y, g, fs=FS, r_index=R_INDEX, cache_dir=encoder_cache, config=EncoderConfig(epochs=4)
    )
