"""Metrics and paired bootstrap of ecg_synth.evaluation.stats."""

import numpy as np
import pytest

from ecg_synth.evaluation.stats import bootstrap_ci, bootstrap_gain, classification_metrics

# true / predicted AAMI labels with hand-checkable numbers (see test_metrics_by_hand)
Y_TRUE = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4])
Y_PRED = np.array([0, 1, 1, 1, 2, 0, 3, 3, 0])


def test_metrics_by_hand():
    m = classification_metrics(Y_TRUE, Y_PRED)
    pc = m["per_class"]
    assert [pc[c]["sensitivity"] for c in "NSVF"] == pytest.approx([0.5, 1.0, 0.5, 1.0])
    assert [pc[c]["ppv"] for c in "NSVF"] == pytest.approx([1 / 3, 2 / 3, 1.0, 1.0])
    # F1: N 0.4, S 0.8, V 2/3, F 1 -> macro 0.71667 over the scored classes N, S, V, F
    assert m["macro_f1"] == pytest.approx((0.4 + 0.8 + 2 / 3 + 1.0) / 4)
    assert m["balanced_accuracy"] == pytest.approx(0.75)
    assert m["accuracy"] == pytest.approx(6 / 9)
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (5, 5) and cm.sum() == 9 and cm[4, 0] == 1  # the Q beat called N
    assert isinstance(m["confusion_matrix"], list) and m["scored_classes"] == ["N", "S", "V", "F"]
    assert pc["Q"]["support"] == 1 and pc["Q"]["sensitivity"] == 0.0


def test_s_class_f1_gain_by_hand():
    """``f1_S``: the S class's F1 alone (0.8 above); calling both S beats right gives 1.0."""
    better = Y_PRED.copy()
    better[1] = 0  # the N beat called S is now N: S precision 1, recall 1
    g = bootstrap_gain(Y_TRUE, Y_PRED, better, metric="f1_S", n_boot=50, unit="segment")
    assert g["base"] == pytest.approx(0.8) and g["new"] == pytest.approx(1.0)
    assert g["gain"] == pytest.approx(0.2)


def test_q_is_reported_but_not_scored_unless_asked():
    fixed_q = Y_PRED.copy()
    fixed_q[-1] = 4
    base, better_q = classification_metrics(Y_TRUE, Y_PRED), classification_metrics(Y_TRUE, fixed_q)
    assert better_q["per_class"]["Q"]["sensitivity"] == 1.0
    # Fixing the Q beat removes a false N, so N's PPV (and F1) change, but Q itself is unscored:
    with_q = classification_metrics(Y_TRUE, fixed_q, classes="NSVFQ")
    assert with_q["scored_classes"] == ["N", "S", "V", "F", "Q"]
    assert with_q["macro_f1"] != pytest.approx(better_q["macro_f1"])
    assert base["per_class"]["Q"]["ppv"] != base["per_class"]["Q"]["ppv"]  # NaN: Q never predicted


def _noisy_predictions(n, acc, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    wrong = rng.random(n) > acc
    return y, np.where(wrong, (y + rng.integers(1, 4, n)) % 4, y)


def test_bootstrap_ci_contains_estimate_and_shrinks_with_n():
    widths = []
    for n in (200, 5000):
        y, p = _noisy_predictions(n, 0.8, seed=n)
        ci = bootstrap_ci(y, p, n_boot=150, seed=1)
        assert ci["unit"] == "segment" and ci["n_units"] == n
        assert ci["ci_low"] <= ci["estimate"] <= ci["ci_high"]
        assert ci["estimate"] == pytest.approx(classification_metrics(y, p)["macro_f1"])
        widths.append(ci["ci_high"] - ci["ci_low"])
    assert widths[1] < widths[0] / 3  # ~ 1 / sqrt(n): 5x for 25x the data


def test_bootstrap_is_seeded_and_by_record_when_groups_given():
    y, p = _noisy_predictions(2000, 0.8, seed=3)
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 10, len(y))
    # Make records differ in accuracy, as patients do: records 0-4 are predicted perfectly.
    p = np.where(groups < 5, y, p)
    a = bootstrap_ci(y, p, groups=groups, n_boot=150, seed=5)
    b = bootstrap_ci(y, p, groups=groups, n_boot=150, seed=5)
    seg = bootstrap_ci(y, p, groups=groups, unit="segment", n_boot=150, seed=5)
    assert a == b
    assert a["unit"] == "record" and a["n_units"] == 10 and seg["unit"] == "segment"
    assert a["estimate"] == pytest.approx(seg["estimate"])
    # Between-record variation makes the honest (record) interval much wider.
    assert a["ci_high"] - a["ci_low"] > 2 * (seg["ci_high"] - seg["ci_low"])


def test_bootstrap_gain_detects_a_real_improvement_and_none():
    y, base = _noisy_predictions(3000, 0.7, seed=4)
    fix = np.random.default_rng(9).random(len(y)) < 0.5  # fix about half of the errors
    better = np.where(fix, y, base)
    g = bootstrap_gain(y, base, better, n_boot=150)
    assert g["gain"] == pytest.approx(g["new"] - g["base"]) and g["gain"] > 0.05
    assert 0 < g["ci_low"] <= g["gain"] <= g["ci_high"] and g["p_not_better"] == 0.0
    same = bootstrap_gain(y, base, base, metric="balanced_accuracy", n_boot=100)
    assert same["gain"] == same["ci_low"] == same["ci_high"] == 0.0


def test_bootstrap_survives_resamples_missing_a_rare_class():
    # All F beats are in one record, as in MIT-BIH: many record resamples have no F at all.
    y = np.array([0] * 50 + [1] * 50 + [2] * 50 + [3] * 5)
    groups = np.array([0, 1, 2, 3, 4] * 30 + [5] * 5)
    ci = bootstrap_ci(y, y, groups=groups, n_boot=200)
    assert ci["ci_low"] == ci["ci_high"] == ci["estimate"] == 1.0
