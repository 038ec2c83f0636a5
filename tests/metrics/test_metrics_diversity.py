"""Mode collapse: class-mean generators are flagged, resamples of real data are not."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_beats import FS

from ecg_synth.data.types import AAMI_CLASSES
from ecg_synth.metrics.controls import make_controls
from ecg_synth.metrics.diversity import diversity_metrics, mean_pairwise_distance, mode_metrics
from ecg_synth.metrics.embedding import embed


@pytest.fixture(scope="module")
def sets(beats, encoder):
    real, labels, _ = beats["heldout"]
    controls = make_controls(real, labels, FS, seed=0)
    return {
        "train": (embed(encoder, beats["train"][0]), beats["train"][1]),
        "resample": (embed(encoder, beats["resample"][0]), beats["resample"][1]),
        "template": (embed(encoder, controls["template"]), labels),
        "template_noise": (embed(encoder, controls["template_noise"]), labels),
    }


def test_resample_of_real_is_diverse(sets):
    (real, lr), (gen, lg) = sets["train"], sets["resample"]
    out = diversity_metrics(real, gen, lr, lg, seed=0)
    assert out["collapsed"] is False
    assert out["pairwise_ratio"] == pytest.approx(1, abs=0.1)
    assert out["mode_coverage"] == 1.0
    assert out["modes_ratio"] == pytest.approx(1, abs=0.15)
    for name in ("N", "S", "V", "F"):
        assert out[f"spread_ratio_{name}"] == pytest.approx(1, abs=0.25), name
    assert np.isnan(out["spread_ratio_Q"])  # no Q beats in either set
    assert {f"spread_ratio_{c}" for c in AAMI_CLASSES} <= set(out)


@pytest.mark.parametrize("name", ["template", "template_noise"])
def test_class_mean_generators_are_flagged_as_collapsed(sets, name):
    (real, lr), (gen, lg) = sets["train"], sets[name]
    out = diversity_metrics(real, gen, lr, lg, seed=0)
    assert out["collapsed"] is True
    assert out["modes_ratio"] < 0.5 and out["modes_gen"] < 0.5 * out["modes_real"]
    assert out["spread_ratio_N"] < 0.5


def test_identical_sets_and_single_mode_by_hand():
    rng = np.random.default_rng(0)
    real = np.concatenate([rng.normal(c, 0.1, (100, 2)) for c in (0, 10, 20, 30)])
    same = diversity_metrics(real, real, n_modes=4)
    assert same["pairwise_ratio"] == 1.0 and same["mode_coverage"] == 1.0
    assert same["modes_real"] == pytest.approx(4.0) and same["collapsed"] is False
    one = mode_metrics(real, real[:100], n_modes=4)  # only the first cluster
    assert one["mode_coverage"] == 0.25 and one["modes_gen"] == pytest.approx(1.0)
    assert mean_pairwise_distance(np.zeros((5, 3))) == 0.0
