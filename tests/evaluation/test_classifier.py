"""Arrhythmia classifier protocols on Gaussian-wave beats with a known class structure."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from ecg_synth.evaluation.classifier import (
    BORROWED_RR,
    BeatData,
    ClassifierConfig,
    _class_weights,
    augment_with_synthetic,
    augmentation_experiment,
    ecg_classifier_eval,
    ecg_classifier_train,
    run_protocols,
)
from tests.evaluation.conftest import gaussian_beats

CFG = ClassifierConfig(epochs=10, batch_size=64, patience=4, num_threads=1)
COUNTS = [200, 60, 60, 40, 10]  # N, S, V, F, Q


@pytest.fixture(scope="module")
def data(make_set):
    """Real train / real test (other records) / synthetic sets of the same class structure."""
    return tuple(BeatData(*make_set(COUNTS, seed=s)) for s in (0, 10, 20))


@pytest.fixture(scope="module")
def protocols(data):
    train, test, synth = data
    return run_protocols(train, test, synth, config=CFG)


@pytest.mark.parametrize("protocol", ["TRTR", "TSTR", "TRTS"])
def test_protocols_reach_high_macro_f1(protocols, data, protocol):
    out = protocols[protocol]
    assert out["macro_f1"] > 0.9, (protocol, out["confusion_matrix"])
    assert out["scored_classes"] == ["N", "S", "V", "F"]
    cm = np.array(out["confusion_matrix"])
    assert cm.shape == (5, 5) and cm.sum() == out["n_test"] == len(out["y_pred"])
    assert 0 < out["train"]["epochs_run"] <= CFG.epochs
    # S is told from N only by prematurity: the RR input must be doing its job.
    assert out["per_class"]["S"]["sensitivity"] > 0.85


def test_without_rr_s_and_n_are_confused(data, protocols):
    train, test, _ = data
    model = ecg_classifier_train(
        train.x,
        train.y,
        config=ClassifierConfig(epochs=6, batch_size=64, num_threads=1, use_rr=False),
    )
    out = ecg_classifier_eval(model, test.x, test.y)
    assert out["macro_f1"] < protocols["TRTR"]["macro_f1"] - 0.1
    assert out["per_class"]["V"]["sensitivity"] > 0.9  # morphology classes are still fine


def test_rr_expert_finds_premature_beats_whose_shape_did_not_carry_over():
    """The inter-patient failure, in miniature: the training patients' S beats are taller than
    N (a patient's quirk), a new patient's S beats have N's shape and differ only by
    prematurity. The CNN learns the quirk and misses them; the RR expert finds them, and the
    product keeps the CNN's other classes."""
    y = np.repeat(np.arange(4), [300, 60, 60, 40])
    x_tr, rr_tr = gaussian_beats(y, seed=0, amp_scale=np.where(y == 1, 1.6, 1.0))
    x_te, rr_te = gaussian_beats(y, seed=1)
    sens = {}
    for expert in (False, True):
        cfg = replace(CFG, rr_expert=expert)
        model = ecg_classifier_train(x_tr, y, rr_tr, config=cfg, classes=list("NSVF"))
        assert (model.rr_model is not None) == expert
        out = ecg_classifier_eval(model, x_te, y, rr_te, classes=list("NSVF"))
        sens[expert] = {c: out["per_class"][c]["sensitivity"] for c in "NSVF"}
    assert sens[False]["S"] < 0.3 and sens[True]["S"] > 0.9
    assert min(sens[True].values()) > 0.9
    with pytest.raises(ValueError, match="rr_expert must be true or false, got 'yes'"):
        ClassifierConfig(rr_expert="yes")


def test_rr_expert_log_probabilities_stay_finite_far_from_a_class():
    """sklearn's predict_log_proba is log(predict_proba): for an RR far from a class it is
    -inf (with a divide-by-zero warning). The expert's own log-softmax agrees where that is
    finite and stays finite elsewhere, for two classes and for several."""
    from ecg_synth.evaluation.classifier import fit_rr_expert, rr_log_proba

    rng = np.random.default_rng(0)
    for n_classes in (2, 4):
        y = np.repeat(np.arange(n_classes), 50)
        rr = rng.normal(size=(len(y), 5)) + 3.0 * y[:, None]
        expert = fit_rr_expert(rr, y, None)
        far = np.vstack([rr, np.full((1, 5), -1e3), np.full((1, 5), 1e3)])
        with np.errstate(divide="ignore"):
            sk = expert.predict_log_proba(far)
        ours = rr_log_proba(expert, far)
        assert np.isinf(sk).any() and np.isfinite(ours).all(), n_classes
        np.testing.assert_allclose(ours[np.isfinite(sk)], sk[np.isfinite(sk)], atol=1e-9)
        np.testing.assert_allclose(np.exp(ours).sum(axis=1), 1.0)


def test_trts_judges_beats_with_lent_rr_by_their_shape():
    """TRTS (the conditioning check) asks whether generated beats look like their class. V
    beats carrying RR lent from an N beat: the RR expert hears the N rhythm and votes the V
    beats away; the judge of a set without RR of its own is the CNN alone, which finds them.
    A set that brought its RR is judged by the whole classifier."""
    from ecg_synth.evaluation.inputs import EvalSet
    from ecg_synth.evaluation.scoring import trts_judge

    y = np.repeat(np.arange(4), [300, 60, 60, 40])
    x_tr, rr_tr = gaussian_beats(y, seed=0)
    model = ecg_classifier_train(
        x_tr, y, rr_tr, config=replace(CFG, rr_expert=True), classes=list("NSVF")
    )
    v = np.full(60, 2)
    x_v, _ = gaussian_beats(v, seed=3)
    _, rr_n = gaussian_beats(np.zeros(60, np.int64), seed=4)  # an N beat's rhythm
    lent = EvalSet("generated", "generated", x_v, v)
    own = EvalSet("generated", "generated", x_v, v, rr=rr_n)
    assert trts_judge(model, own) is model and trts_judge(model, lent).rr_model is None

    def v_found(judge) -> float:
        return float((judge.predict(x_v, rr_n) == 2).mean())

    assert v_found(model) < 0.5 < 0.9 < v_found(trts_judge(model, lent))


def test_training_is_seeded_and_leaves_torch_settings_alone(data):
    train, test, _ = data
    cfg = ClassifierConfig(epochs=2, batch_size=64, num_threads=1, seed=7)
    threads, state = torch.get_num_threads(), torch.get_rng_state()
    a = ecg_classifier_train(train.x, train.y, train.rr, config=cfg)
    b = ecg_classifier_train(train.x, train.y, train.rr, config=cfg)
    assert torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(
        a.predict_proba(test.x, test.rr), b.predict_proba(test.x, test.rr)
    )


def test_augmentation_adds_requested_counts(data):
    train, _, synth = data
    aug, added = augment_with_synthetic(train, synth, ("S", "F"), ratio=0.5, seed=1)
    assert added == {"S": 30, "F": 20}
    assert np.bincount(aug.y, minlength=5).tolist() == [200, 90, 60, 60, 10]
    assert len(aug.x) == len(aug.rr) == len(aug.groups) == len(train) + 50
    assert (aug.groups[len(train) :] == "synthetic").all()

    topped, added = augment_with_synthetic(train, synth, ["V"], target_count=100, seed=1)
    assert added == {"V": 40} and np.bincount(topped.y)[2] == 100

    with pytest.raises(ValueError, match="synthetic has 60 segments of class S"):
        augment_with_synthetic(train, synth, ["S"], ratio=2.0)
    big, added = augment_with_synthetic(train, synth, ["S"], ratio=2.0, replace_draws=True)
    assert added == {"S": 120}
    with pytest.raises(ValueError, match="exactly one of ratio or target_count"):
        augment_with_synthetic(train, synth, ["S"], ratio=1.0, target_count=5)


def test_synthetic_without_rr_borrows_it_from_real_beats_of_its_class(data):
    train, _, synth = data
    bare = BeatData(synth.x, synth.y)  # a generator gives beats without rhythm
    aug, _ = augment_with_synthetic(train, bare, ["S"], ratio=1.0, seed=2)
    s_rr_real = {tuple(r) for r in train.rr[train.y == 1]}
    assert all(tuple(r) in s_rr_real for r in aug.rr[len(train) :])


def test_rr_lent_from_any_class_tells_nothing_of_the_generated_class(data):
    """S differs from N here only by its RR. A TSTR classifier on beats without RR tells S
    from N when they borrow RR of their own class (the RR does the work, not the beats); with
    RR lent from real beats of any class it cannot: N and S are then one cluster, split by
    chance (S F1 0.02-0.70 over classifier seeds 0-4)."""
    train, test, synth = data
    bare = BeatData(synth.x, synth.y)

    def s_f1(borrowed_rr: str) -> float:
        cfg = replace(CFG, borrowed_rr=borrowed_rr)
        out = run_protocols(train, test, bare, protocols=["TSTR"], config=cfg)
        return out["TSTR"]["per_class"]["S"]["f1"]

    f1 = {b: s_f1(b) for b in BORROWED_RR}
    assert f1["same_class"] > 0.95 and f1["any_class"] < 0.8, f1
    with pytest.raises(ValueError, match="borrowed_rr must be one of"):
        ClassifierConfig(borrowed_rr="nearby")


def test_augmentation_experiment_reports_gain_with_record_bootstrap(data, protocols, make_set):
    _, test, synth = data
    # Real training data with only 4 S beats: synthetic S beats should help a lot.
    x, y, rr, rec = make_set([200, 4, 60, 40, 10], seed=30)
    scarce = BeatData(x, y, rr, rec)
    out = augmentation_experiment(
        scarce, test, synth, aug_classes=["S"], target_count=60, config=CFG, n_boot=100
    )
    assert out["added"] == {"S": 56}
    g = out["gain"]["macro_f1"]
    assert g["unit"] == "record" and g["n_units"] == 4
    assert 0 < g["ci_low"] <= g["gain"] <= g["ci_high"] and g["gain"] > 0.05
    assert g["gain"] == pytest.approx(out["augmented"]["macro_f1"] - out["real_only"]["macro_f1"])
    assert out["augmented"]["per_class"]["S"]["sensitivity"] > 0.8
    # A sweep reuses the real-only result instead of retraining it.
    again = augmentation_experiment(
        scarce,
        test,
        synth,
        aug_classes=["S"],
        ratio=5.0,
        config=CFG,
        baseline=out["real_only"],
        n_boot=50,
    )
    assert again["real_only"] is out["real_only"] and again["added"] == {"S": 20}


def test_class_weight_power_tempers_the_balanced_weights():
    y = np.array([0] * 300 + [1] * 30 + [3] * 3)  # N, S, F; V and Q absent
    balanced = _class_weights(y, ClassifierConfig())
    assert balanced[3] / balanced[0] == pytest.approx(100.0)  # n_N / n_F
    assert balanced[2] == balanced[4] == 1.0  # absent classes keep weight 1
    half = _class_weights(y, ClassifierConfig(class_weight_power=0.5))
    assert half[3] / half[0] == pytest.approx(10.0)
    assert np.allclose(half[[0, 1, 3]], np.sqrt(balanced[[0, 1, 3]]))
    assert np.allclose(_class_weights(y, ClassifierConfig(class_weight_power=0.0)), 1.0)
    with pytest.raises(ValueError, match="class_weight_power must lie in"):
        ClassifierConfig(class_weight_power=1.5)
    with pytest.raises(ValueError, match="class_weight must hold 5 non-negative numbers"):
        ClassifierConfig(class_weight=(1.0, 2.0))
