"""Bad input raises ValueError naming the offending argument, in every public entry point."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_synth.metrics.clinical import clinical_metrics, measure_beats
from ecg_synth.metrics.controls import make_controls
from ecg_synth.metrics.distribution import distribution_metrics, waveform_metrics
from ecg_synth.metrics.diversity import diversity_metrics
from ecg_synth.metrics.memorization import memorization_metrics
from ecg_synth.metrics.signal import nearest_real_metrics, reconstruction_metrics, signal_metrics

GOOD = np.random.default_rng(0).normal(size=(30, 1, 64)).astype(np.float32)
WITH_NAN = GOOD.copy()
WITH_NAN[3, 0, 7] = np.nan
FLAT2D = GOOD[:, 0]
SHORTER = GOOD[:, :, :50]
LABELS = np.zeros(30, dtype=np.int64)

CASES = [
    ("nan generated", lambda: signal_metrics(GOOD, WITH_NAN, 360.0), "generated"),
    ("2-d real", lambda: signal_metrics(FLAT2D, GOOD, 360.0), "real"),
    ("length mismatch", lambda: nearest_real_metrics(GOOD, SHORTER), "generated"),
    ("row mismatch", lambda: reconstruction_metrics(GOOD, GOOD[:10]), "x_hat"),
    (
        "inf x",
        lambda: reconstruction_metrics(np.where(WITH_NAN != WITH_NAN, np.inf, GOOD), GOOD),
        "x",
    ),
    ("bad fs", lambda: signal_metrics(GOOD, GOOD, -1.0), "fs"),
    ("nan candidate", lambda: distribution_metrics(GOOD[:, 0], WITH_NAN[:, 0]), "candidate"),
    ("feature mismatch", lambda: distribution_metrics(GOOD[:, 0], GOOD[:, 0, :10]), "candidate"),
    ("waveform length", lambda: waveform_metrics(GOOD, SHORTER), "candidate"),
    ("nan real", lambda: diversity_metrics(WITH_NAN, GOOD, n_modes=3), "real"),
    (
        "label length",
        lambda: diversity_metrics(GOOD, GOOD, LABELS, LABELS[:5], n_modes=3),
        "gen_labels",
    ),
    (
        "float labels",
        lambda: clinical_metrics(GOOD, GOOD, 360.0, 20, LABELS * 1.0, LABELS),
        "real_labels",
    ),
    ("nan train", lambda: memorization_metrics(GOOD, WITH_NAN, GOOD), "train"),
    ("4-d generated", lambda: memorization_metrics(GOOD[None], GOOD, GOOD), "generated"),
    ("r_index", lambda: measure_beats(GOOD, 360.0, 64), "r_index"),
    ("clinical length", lambda: clinical_metrics(GOOD, SHORTER, 360.0, 20), "generated"),
    ("controls nan", lambda: make_controls(WITH_NAN, LABELS, 360.0), "x"),
    ("empty", lambda: signal_metrics(GOOD[:0], GOOD, 360.0), "real"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_names_the_argument(case):
    _, call, name = case
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()
