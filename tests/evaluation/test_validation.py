"""Bad input fails early with a ValueError that names the offending argument."""

import numpy as np
import pytest

from ecg_synth.evaluation import (
    BeatData,
    ClassifierConfig,
    bootstrap_ci,
    classification_metrics,
    cnn_detector,
    ecg_classifier_train,
    run_protocols,
    segment_features,
    subject_identifier,
    svm_detector,
)

FAST = ClassifierConfig(epochs=1, num_threads=1)


@pytest.fixture(scope="module")
def good(make_set):
    return make_set([20, 6, 6, 6, 2], seed=0)


def with_nan(x):
    x = x.copy()
    x[3, 0, 10] = np.nan
    return x


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda x, y, rr: (x, y[:-1], rr), r"^y must be 1-D with one label per segment"),
        (lambda x, y, rr: (x, np.where(y == 4, 5, y), rr), r"^y has labels outside 0\.\.4"),
        (lambda x, y, rr: (x, y - 1, rr), r"^y has labels outside 0\.\.4"),
        (lambda x, y, rr: (x, y + 0.5, rr), r"^y must hold integer class indices"),
        (lambda x, y, rr: (with_nan(x), y, rr), r"^x contains NaN"),
        (lambda x, y, rr: (x[:, 0], y, rr), r"^x must be segments \[N, C, L\]"),
        (lambda x, y, rr: (x, y, rr[:, :2]), r"^rr must be \[N, 3\]"),
        (lambda x, y, rr: (x, y, None), r"^rr is required when config.use_rr"),
        (
            lambda x, y, rr: (x, np.where(y == 3, 0, y), rr),
            r"^y has no segments of class\(es\) \['F'\]",
        ),
    ],
)
def test_classifier_train_rejects(good, change, match):
    x, y, rr, _ = good
    x, y, rr = change(x, y, rr)
    with pytest.raises(ValueError, match=match):
        ecg_classifier_train(x, y, rr, config=FAST)


def test_an_unscored_empty_class_is_fine_when_not_required(good):
    x, y, rr, _ = good
    keep = y != 3
    model = ecg_classifier_train(x[keep], y[keep], rr[keep], config=FAST, classes="NSV")
    assert model.predict(x, rr).shape == (len(x),)


def test_protocols_name_the_bad_set(good):
    x, y, rr, rec = good
    real = BeatData(x, y, rr, rec)
    with pytest.raises(ValueError, match=r"^synthetic\.x contains NaN"):
        run_protocols(real, real, BeatData(with_nan(x), y), config=FAST)
    with pytest.raises(ValueError, match=r"^synthetic\.x segments have \[C, L\] = \[1, 50\]"):
        run_protocols(real, real, BeatData(x[:, :, :50], y), config=FAST)
    with pytest.raises(ValueError, match=r"^real_test\.groups must be 1-D"):
        run_protocols(real, BeatData(x, y, rr, rec[:3]), real, config=FAST)
    with pytest.raises(ValueError, match=r"^protocols: unknown \['TTTT'\]"):
        run_protocols(real, real, real, protocols=["TTTT"], config=FAST)


def test_metrics_reject_bad_labels_and_empty_scored_class():
    y = np.array([0, 1, 2, 3, 0])
    with pytest.raises(ValueError, match=r"^y_pred must be 1-D"):
        classification_metrics(y, y[:-1])
    with pytest.raises(ValueError, match=r"^y_pred has labels outside"):
        classification_metrics(y, np.array([0, 1, 2, 7, 0]))
    with pytest.raises(ValueError, match=r"^y_true has no segments of class\(es\) \['S'\]"):
        classification_metrics(np.array([0, 0, 2, 3]), np.array([0, 0, 2, 2]))
    no_s = np.array([0, 0, 2, 3])
    assert classification_metrics(no_s, no_s, classes="NVF")["macro_f1"] == 1.0
    with pytest.raises(ValueError, match=r"^classes: unknown class 'X'"):
        classification_metrics(y, y, classes="NX")
    with pytest.raises(ValueError, match=r"^unit='record' needs groups"):
        bootstrap_ci(y, y, unit="record")


def test_detectors_and_identifier_reject(good):
    x, _, rr, rec = good
    with pytest.raises(ValueError, match=r"^fake segments have \[C, L\]"):
        svm_detector(x, x[:, :, :40], 128.0)
    with pytest.raises(ValueError, match=r"^fake contains NaN"):
        cnn_detector(x, with_nan(x))
    with pytest.raises(ValueError, match=r"^real_groups must be 1-D"):
        svm_detector(x, x, 128.0, real_groups=rec[:5])
    with pytest.raises(ValueError, match=r"^fake_rr must hold positive"):
        svm_detector(x, x, 128.0, real_rr=rr, fake_rr=-rr)
    with pytest.raises(ValueError, match=r"^real_groups: a split by group needs at least 2"):
        svm_detector(x, x, 128.0, real_groups=np.zeros(len(x)))
    with pytest.raises(ValueError, match=r"^real/fake: too few segments"):
        svm_detector(x[:5], x[:5], 128.0)
    with pytest.raises(ValueError, match=r"^kind must be one of"):
        segment_features(x, 128.0, kind="colour")
    with pytest.raises(ValueError, match=r"^subjects must be 1-D"):
        subject_identifier(x, rec[:-1])
    with pytest.raises(ValueError, match=r"^subjects: every subject needs >= 3 segments"):
        subject_identifier(x[:8], np.array(list("aaaaaabb")))


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_every_evaluation_network_refuses_a_bad_thread_count(value):
    from ecg_synth.evaluation.detectors import DetectorConfig
    from ecg_synth.evaluation.subject_id import SubjectIdConfig

    # Torch would ignore 0 or fail deep in a fit; each config says which value is wrong.
    for config in (ClassifierConfig, DetectorConfig, SubjectIdConfig):
        with pytest.raises(ValueError, match=rf"num_threads={value!r} must be an integer >= 1"):
            config(num_threads=value)
