"""Model-based evaluation of synthetic ECG: real-vs-fake detectors, subject identification,
and arrhythmia-classifier utility (TRTR / TSTR / TRTS / augmentation) with bootstrap CIs.

All functions take NumPy float32 segments ``[N, C, L]`` in millivolts, AAMI labels (index
into ``ecg_synth.data.types.AAMI_CLASSES``), are seeded, run on CPU, and return plain dicts.
"""

import ecg_synth.numerics  # noqa: F401  (warms up MKL VML: see the module)
from ecg_synth.evaluation.classifier import (
    PROTOCOLS,
    BeatCNN,
    BeatData,
    ClassifierConfig,
    TrainedClassifier,
    augment_with_synthetic,
    augmentation_experiment,
    ecg_classifier_eval,
    ecg_classifier_train,
    run_protocols,
    sample_rr_like,
)
from ecg_synth.evaluation.detectors import (
    DetectorConfig,
    cnn_detector,
    segment_features,
    svm_detector,
)
from ecg_synth.evaluation.stats import (
    DEFAULT_SCORED,
    bootstrap_ci,
    bootstrap_gain,
    classification_metrics,
    paired_bootstrap,
)
from ecg_synth.evaluation.subject_id import LSTMCNN, SubjectIdConfig, subject_identifier

__all__ = [
    "DEFAULT_SCORED",
    "LSTMCNN",
    "PROTOCOLS",
    "BeatCNN",
    "BeatData",
    "ClassifierConfig",
    "DetectorConfig",
    "SubjectIdConfig",
    "TrainedClassifier",
    "augment_with_synthetic",
    "augmentation_experiment",
    "bootstrap_ci",
    "bootstrap_gain",
    "classification_metrics",
    "cnn_detector",
    "ecg_classifier_eval",
    "ecg_classifier_train",
    "paired_bootstrap",
    "run_protocols",
    "sample_rr_like",
    "segment_features",
    "subject_identifier",
    "svm_detector",
]
