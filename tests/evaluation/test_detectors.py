"""Real-vs-generated detectors: chance on one distribution, near 1 on an obvious difference."""

import dataclasses

import numpy as np
import pytest

from ecg_synth.evaluation._common import holdout_split
from ecg_synth.evaluation.detectors import (
    DetectorConfig,
    _split_pair,
    cnn_detector,
    repeat_seeds,
    segment_features,
    svm_detector,
)

FS = 128.0  # the sampling rate of the conftest beats
N = 400


@pytest.fixture(scope="module")
def pair(beats):
    """Two independent draws of the same beat distribution (N and V beats), with records."""
    labels = np.random.default_rng(0).choice([0, 2], size=N, p=[0.75, 0.25])
    a, rr_a = beats(labels, seed=1)
    b, rr_b = beats(labels, seed=2)
    groups = np.arange(N) % 8
    return a, rr_a, b, rr_b, groups


def test_shape_features_ignore_amplitude_and_amplitude_features_do_not(pair):
    a, rr_a, *_ = pair
    shape, shape_scaled = (segment_features(v, FS, kind="shape") for v in (a, 1.7 * a + 0.3))
    amp, amp_scaled = (segment_features(v, FS, kind="amplitude") for v in (a, 1.7 * a + 0.3))
    np.testing.assert_allclose(shape, shape_scaled, rtol=1e-4, atol=1e-4)
    assert not np.allclose(amp, amp_scaled)
    with_rr = segment_features(a, FS, rr=rr_a, kind="shape")
    assert with_rr.shape == (N, shape.shape[1] + 3)
    np.testing.assert_allclose(with_rr[:, -3:], rr_a)


def test_qrs_width_proxy_sees_wide_beats(pair):
    a, *_ = pair
    width = segment_features(a, FS)[:, 5]  # mean, var, skew, kurt, R amp, QRS width, ...
    is_v = np.random.default_rng(0).choice([0, 2], size=N, p=[0.75, 0.25]) == 2  # as in pair
    assert width[is_v].mean() > 2.5 * width[~is_v].mean()
    assert 0.01 < width[~is_v].mean() < 0.05  # seconds: a normal QRS half-width scale


def test_svm_is_at_chance_on_one_distribution(pair):
    a, rr_a, b, rr_b, groups = pair
    out = svm_detector(
        a, b, FS, real_rr=rr_a, fake_rr=rr_b, real_groups=groups, fake_groups=groups, n_repeats=3
    )
    assert out["uses_rr"] and out["split"] == "joint-group" and out["n_repeats"] == 3
    assert out["shape"]["auc_std"] > 0  # three different record splits, three AUCs
    for kind in ("shape", "amplitude"):
        assert abs(out[kind]["auc"] - 0.5) < 0.15, out
        assert abs(out[kind]["accuracy"] - 0.5) < 0.15, out


def test_svm_separates_scaled_beats_only_with_amplitude_features(pair):
    a, _, b, _, groups = pair
    out = svm_detector(a, 1.5 * b + 0.2, FS, real_groups=groups)
    assert out["amplitude"]["auc"] > 0.95
    assert abs(out["shape"]["auc"] - 0.5) < 0.15  # same shapes: the shape set is blind to it
    noise = np.random.default_rng(0).normal(0, 0.3, b.shape).astype(np.float32)
    out = svm_detector(a, noise, FS, real_groups=groups)
    assert out["shape"]["auc"] > 0.95 and out["amplitude"]["auc"] > 0.95
    assert not out["uses_rr"]  # RR given for neither set


def test_held_out_split_never_shares_a_group(pair):
    *_, groups = pair
    fake_groups = np.arange(N) % 5 + 100
    r_tr, r_te, f_tr, f_te = _split_pair(groups, fake_groups, N, N, 0.5, seed=3)
    assert not set(groups[r_tr]) & set(groups[r_te])
    assert not set(fake_groups[f_tr]) & set(fake_groups[f_te])
    assert len(r_tr) == len(f_tr) and len(r_te) == len(f_te)  # balanced: chance is 0.5
    # Generated beats conditioned on the real records: one split of the ids for both sets.
    r_tr, r_te, f_tr, f_te = _split_pair(groups, groups[::-1], N, N, 0.5, seed=3)
    assert set(groups[r_te]) == set(groups[::-1][f_te]) and not set(groups[r_tr]) & set(
        groups[r_te]
    )
    tr, te = holdout_split(N, None, 0.25, 0, "x")
    assert len(te) == N // 4 and not set(tr) & set(te)


def test_joint_split_removes_the_patient_mix_bias(beats):
    # Records as different as patients (own QRS width); generated beats per record are
    # drawn from the same per-record distributions, i.e. a perfect conditional generator.
    rec = np.repeat(np.arange(8), 60)
    width = np.linspace(0.6, 2.0, 8)[rec]
    a, _ = beats(np.zeros(len(rec), int), seed=10, qrs_scale=width)
    b, _ = beats(np.zeros(len(rec), int), seed=20, qrs_scale=width)
    joint = svm_detector(a, b, FS, real_groups=rec, fake_groups=rec)
    assert joint["split"] == "joint-group"
    assert abs(joint["shape"]["auc"] - 0.5) < 0.1 and abs(joint["amplitude"]["auc"] - 0.5) < 0.1
    # Without the records of the generated beats, the real held-out records differ in mix
    # from everything seen in training, and the AUC drops well below 0.5 (documented caveat).
    apart = svm_detector(a, b, FS, real_groups=rec)
    assert apart["split"] == "group/random" and apart["shape"]["auc"] < 0.4


CNN = DetectorConfig(epochs=6, batch_size=64, patience=3, num_threads=1)


def test_cnn_is_at_chance_on_one_distribution(pair):
    a, _, b, _, groups = pair
    out = cnn_detector(a, b, real_groups=groups, fake_groups=groups, config=CNN)
    assert abs(out["auc"] - 0.5) < 0.15, out
    assert out["n_test"] > 0 and out["epochs_run"] <= CNN.epochs


def test_cnn_separates_obviously_different_sets_and_is_seeded(pair):
    a, _, b, _, groups = pair
    shifted = 1.3 * b + 0.3
    out = cnn_detector(a, shifted, real_groups=groups, config=CNN)
    assert out["auc"] > 0.95 and out["accuracy"] > 0.85
    assert cnn_detector(a, shifted, real_groups=groups, config=CNN) == out


def test_cnn_repeats_average_distinct_fits_and_keep_the_first(pair):
    a, _, b, _, groups = pair
    single = cnn_detector(a, b, real_groups=groups, fake_groups=groups, config=CNN)
    cfg = dataclasses.replace(CNN, n_repeats=3)
    out = cnn_detector(a, b, real_groups=groups, fake_groups=groups, config=cfg)
    assert out["n_repeats"] == 3 and len(out["aucs"]) == 3
    assert out["aucs"][0] == single["auc"]  # seed 0: fit 0 is the n_repeats=1 fit
    assert len(set(out["aucs"])) == 3 and out["auc_std"] > 0  # other splits, other inits
    assert out["auc"] == pytest.approx(np.mean(out["aucs"]))
    with pytest.raises(ValueError, match="n_repeats must be an integer >= 1, got 0"):
        dataclasses.replace(CNN, n_repeats=0)


def test_repeated_fits_of_different_seeds_share_no_seed():
    assert list(repeat_seeds(3, 1)) == [3]  # one fit: the run's own seed
    seen = [set(repeat_seeds(seed, 5)) for seed in range(4)]
    assert all(len(s) == 5 for s in seen) and len(set().union(*seen)) == 20
