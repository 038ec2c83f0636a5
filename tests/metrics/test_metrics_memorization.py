"""Memorisation: training copies are flagged, held-out real data is not."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_synth.metrics.memorization import memorization_metrics


def test_generator_returning_training_beats_is_memorizing(beats):
    train, heldout = beats["train"][0], beats["heldout"][0]
    rng = np.random.default_rng(0)
    copies = train[rng.choice(len(train), 500, replace=False)]
    out = memorization_metrics(copies, train, heldout)
    assert out["memorizing"] is True
    assert out["copy_share"] == 1.0 and out["nn_ratio"] == 0.0
    # copies with a little added noise (0.005 mV, a third of the recording noise) still are
    noisy = copies + rng.normal(0, 0.005, copies.shape).astype(np.float32)
    out = memorization_metrics(noisy, train, heldout)
    assert out["memorizing"] is True and out["nn_ratio"] < 0.3


def test_unseen_real_beats_are_not_memorizing(beats):
    train, heldout, fresh = beats["train"][0], beats["heldout"][0], beats["resample"][0]
    out = memorization_metrics(fresh, train, heldout)
    assert out["memorizing"] is False
    assert out["nn_ratio"] == pytest.approx(1, abs=0.1)
    assert out["copy_share"] < 0.03
    assert out["copy_threshold"] < out["nn_heldout_median"]


def test_memorization_checks_feature_dims():
    with pytest.raises(ValueError, match="heldout"):
        memorization_metrics(np.zeros((5, 4)), np.zeros((5, 4)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="quantile"):
        memorization_metrics(np.zeros((5, 4)), np.zeros((5, 4)), np.zeros((5, 4)), quantile=0.7)


def test_nn_shortfall_ranks_copies_worst_and_far_beats_as_honest(beats):
    # A search minimising the shortfall beside FD must not prefer a failed model: beats far
    # from every training beat have a high NN ratio, and no shortfall, like unseen real ones.
    train, heldout, fresh = beats["train"][0], beats["heldout"][0], beats["resample"][0]
    copies = memorization_metrics(train[:500], train, heldout)
    far = memorization_metrics(fresh + 3.0, train, heldout)  # 3 mV off: nothing like a beat
    honest = memorization_metrics(fresh, train, heldout)
    assert copies["nn_shortfall"] == pytest.approx(0.95)
    assert far["nn_ratio"] > 2 and far["nn_shortfall"] == 0.0
    assert honest["nn_shortfall"] < 0.1
    assert honest["nn_shortfall"] == pytest.approx(max(0.0, 0.95 - honest["nn_ratio"]))
