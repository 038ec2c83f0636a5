"""Score one :class:`EvalSet` against the real reference: every library metric, the
real-vs-generated detectors, the classifier protocols and subject identification.

Every function returns a flat ``{metric: value}`` dict of the headline numbers (the keys
``report.py`` tabulates) and, where a model was trained, the full result under one nested
key (``svm``, ``cnn``, ``classifier``, ``subject_id``). Failures of one metric family are
recorded under ``errors`` instead of ending the run, so one odd set (e.g. a constant
template) cannot hide the rest of the report.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np

from ecg_synth.data.types import AAMI_CLASSES, SegmentSet
from ecg_synth.evaluation.classifier import (
    BeatData,
    ClassifierConfig,
    TrainedClassifier,
    augmentation_experiment,
    ecg_classifier_train,
    evaluate_beats,
    sample_rr_like,
)
from ecg_synth.evaluation.detectors import DetectorConfig, cnn_detector, svm_detector
from ecg_synth.evaluation.inputs import EvalSet, WindowSpec
from ecg_synth.evaluation.stats import bootstrap_gain
from ecg_synth.evaluation.subject_id import SubjectIdConfig, subject_identifier
from ecg_synth.metrics.clinical import clinical_metrics
from ecg_synth.metrics.distribution import distribution_metrics, waveform_metrics
from ecg_synth.metrics.diversity import diversity_metrics
from ecg_synth.metrics.embedding import ECGEncoder, embed
from ecg_synth.metrics.memorization import memorization_metrics
from ecg_synth.metrics.signal import (
    nearest_real_metrics,
    nn_dtw,
    psd_distance,
    smoothness_metrics,
)

log = logging.getLogger(__name__)


@dataclass
class Budget:
    """Row caps (seeded subsamples) that bound the cost of each stage."""

    max_n: int = 10_000  # rows of each scored set
    max_reference: int = 10_000
    dtw: bool = True
    dtw_max: int = 1000
    mmd_max_n: int = 2000
    prdc_max_n: int = 5000
    fd_boot: int = 50  # bootstrap resamples of the FD's sampling sd (fd_sd)
    memo_max_n: int = 5000  # generated / held-out rows of the memorisation test (train: all)
    n_modes: int = 20


@dataclass
class Reference:
    """The real data every set is scored against (see ``pipeline.prepare_reference``).

    ref: the reference half of the held-out split; heldout: the whole split (memorisation
    baseline, classifier test); train: the training split (encoder, classifier, memorisation
    reference); emb_ref: ``[N_ref, D]`` embedding of ``ref``. Diversity (and so the
    ``collapsed`` flag) is measured against training segments with the held-out class mix
    (``emb_div``): collapse is a failure to reproduce the variety of the data the generator
    learned from, while held-out records of other patients sit in other modes of the
    embedding (the encoder is trained to tell records apart), which would flag even real
    training data as collapsed.
    """

    spec: WindowSpec
    ref: EvalSet
    heldout: SegmentSet
    train: SegmentSet
    encoder: ECGEncoder
    emb_ref: np.ndarray
    memo_heldout: np.ndarray
    emb_div: np.ndarray  # [M, D] embedding of training segments: the diversity reference
    div_labels: np.ndarray  # [M]
    scored: list[str] = field(default_factory=list)  # classes the classifier is scored on


def subsample(n: int, cap: int, seed: int) -> np.ndarray:
    """Sorted seeded subsample of ``range(n)`` of at most ``cap`` rows."""
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))


def _guard(out: dict, family: str, fn) -> None:
    """Run one metric family; record its error instead of stopping the evaluation."""
    t0 = time.perf_counter()
    try:
        out.update(fn())
    except (ValueError, RuntimeError, np.linalg.LinAlgError) as e:
        log.warning("%s failed: %s", family, e)
        out.setdefault("errors", {})[family] = f"{type(e).__name__}: {e}"
    out.setdefault("seconds", {})[family] = time.perf_counter() - t0


def _groups(g: np.ndarray | None) -> np.ndarray | None:
    """Group ids for a split by group, or None when fewer than 2 groups (random split)."""
    return None if g is None or len(np.unique(g)) < 2 else g


# ------------------------------------------------------------------------- library metrics
def metric_scores(r: Reference, s: EvalSet, b: Budget, seed: int) -> dict:
    """Signal, embedding, waveform, diversity, memorisation and clinical metrics of ``s``."""
    x, ref, fs = s.signals, r.ref.signals, r.spec.fs
    out: dict = {"n": len(s)}

    def signal():
        d = nearest_real_metrics(ref, x)
        d["dtw"] = None  # quick mode: DTW is the slow one
        if b.dtw:
            d["dtw"] = float(nn_dtw(ref, x, max_generated=b.dtw_max, seed=seed).mean())
        d["psd"] = psd_distance(ref, x, fs)
        return d | smoothness_metrics(ref, x, fs)

    _guard(out, "signal", signal)
    emb = embed(r.encoder, x)
    _guard(
        out,
        "embedding",
        lambda: distribution_metrics(
            r.emb_ref,
            emb,
            mmd_max_n=b.mmd_max_n,
            prdc_max_n=b.prdc_max_n,
            fd_boot=b.fd_boot,
            seed=seed,
        ),
    )
    _guard(out, "waveform", lambda: waveform_metrics(ref, x, mmd_max_n=b.mmd_max_n, seed=seed))
    n_modes = max(2, min(b.n_modes, len(r.emb_div) // 2))
    _guard(
        out,
        "diversity",
        lambda: diversity_metrics(
            r.emb_div,
            emb,
            r.div_labels if s.labels is not None else None,
            s.labels,
            n_modes=n_modes,
            seed=seed,
        ),
    )
    memo = x[subsample(len(x), b.memo_max_n, seed)]
    _guard(out, "memorization", lambda: memorization_metrics(memo, r.train.signals, r.memo_heldout))
    _guard(
        out,
        "clinical",
        lambda: clinical_metrics(
            ref,
            x,
            fs,
            r.spec.r_index,
            r.ref.labels if s.labels is not None else None,
            s.labels,
            seed=seed,
        ),
    )
    return out


# --------------------------------------------------------------------------- detectors
def split_like_generated(s: EvalSet, generated: EvalSet) -> EvalSet:
    """``s`` as the detectors must see it: split the way the generated set is.

    The floor is the same detector with real training beats in place of the generated ones.
    A model that does not condition on subjects gives beats without a record, which the
    detectors split at random; split by record instead, the floor's (and the baselines') real
    training beats would set the detector a harder task than the model's and lower the floor
    (by 0.05-0.28 AUC on MIT-BIH: bench/RESULTS.md, "The detectors' floor").
    """
    if generated.groups is not None or s.kind not in ("floor", "baseline"):
        return s
    return replace(s, groups=None)


def svm_scores(r: Reference, s: EvalSet, max_per_set: int, n_repeats: int, seed: int) -> dict:
    out: dict = {}

    def run():
        d = svm_detector(
            r.ref.signals,
            s.signals,
            r.spec.fs,
            real_groups=_groups(r.ref.groups),
            fake_groups=_groups(s.groups),
            max_per_set=max_per_set,
            n_repeats=n_repeats,
            seed=seed,
        )
        return {
            "svm_shape_auc": d["shape"]["auc"],
            "svm_amplitude_auc": d["amplitude"]["auc"],
            "svm": d,
        }

    _guard(out, "svm", run)
    return out


def cnn_scores(r: Reference, s: EvalSet, cfg: DetectorConfig) -> dict:
    out: dict = {}

    def run():
        d = cnn_detector(
            r.ref.signals,
            s.signals,
            real_groups=_groups(r.ref.groups),
            fake_groups=_groups(s.groups),
            config=cfg,
        )
        return {"cnn_auc": d["auc"], "cnn": d}

    _guard(out, "cnn", run)
    return out


# -------------------------------------------------------------------------- classifier
def cap_by_class(labels: np.ndarray, max_total: int, seed: int) -> np.ndarray:
    """Indices keeping every row of the small classes and subsampling the large ones to one
    common per-class cap, so that at most ``max_total`` rows remain (sorted)."""
    counts = np.bincount(labels)
    if counts.sum() <= max_total:
        return np.arange(len(labels))
    srt = np.sort(counts[counts > 0])
    # the largest cap m with sum(min(count, m)) <= max_total
    cap = 0
    for i, c in enumerate(srt):  # <= 5 classes
        rest = len(srt) - i
        if srt[:i].sum() + c * rest > max_total:
            cap = (max_total - srt[:i].sum()) // rest
            break
        cap = c
    rng = np.random.default_rng(seed)
    keep = [
        pool if len(pool) <= cap else rng.choice(pool, cap, replace=False)
        for pool in (np.flatnonzero(labels == c) for c in np.flatnonzero(counts))
    ]
    return np.sort(np.concatenate(keep))


def beat_data(
    s: EvalSet | SegmentSet,
    donor: SegmentSet,
    max_total: int,
    seed: int,
    classes: list[str] | None = None,
    borrowed_rr: str = "same_class",
) -> BeatData:
    """Labelled beats (capped by class) with RR; a set without RR borrows it from real
    training beats of the same class, or of any class (``borrowed_rr``, ``sample_rr_like``).
    ``classes``: keep only beats of these AAMI classes (before the cap); None keeps all."""
    if isinstance(s, SegmentSet):
        x, y, rr, g = s.signals, s.labels, s.rr, s.records
    else:
        x, y, rr, g = s.signals, s.labels, s.rr, s.groups
    rows = np.arange(len(y))
    if classes is not None:
        rows = np.flatnonzero(np.isin(y, [AAMI_CLASSES.index(c) for c in classes]))
    keep = rows[cap_by_class(y[rows], max_total, seed)]
    x, y = x[keep], y[keep]
    if rr is not None:
        rr = rr[keep]
    else:
        rr = sample_rr_like(y, donor.labels, donor.rr, seed, borrowed_rr)
    return BeatData(x, y, rr, None if g is None else g[keep])


def seen_classes(classes: list[str], keep_unscored: bool) -> list[str] | None:
    """The classes whose beats the classifiers train and are tested on: the scored
    ``classes``, or all of them (None) with ``keep_unscored``. Unscored beats (Q) are left out
    by default: Q's 6 training beats get ~900x an N beat's "balanced" weight, and a TSTR
    classifier called ~1,600 scored test beats Q (bench/RESULTS.md)."""
    return None if keep_unscored else classes


def classifier_beats(
    train: SegmentSet,
    heldout: SegmentSet,
    classes: list[str],
    max_train: int,
    keep_unscored: bool,
    seed: int,
) -> tuple[BeatData, BeatData]:
    """(real training beats capped at ``max_train``, held-out test beats) of the classifier
    protocols, of the classes ``seen_classes`` keeps."""
    keep = seen_classes(classes, keep_unscored)
    real = beat_data(train, train, max_train, seed, keep)
    test = beat_data(heldout, train, len(heldout), seed, keep)  # no cap: every beat
    return real, test


def scored_classes(
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    wanted: tuple[str, ...] = ("N", "S", "V", "F"),
) -> list[str]:
    """The scored classes that both the training and the test split hold."""
    tr, te = np.bincount(train_labels, minlength=5), np.bincount(test_labels, minlength=5)
    return [c for c in wanted if tr[AAMI_CLASSES.index(c)] >= 2 and te[AAMI_CLASSES.index(c)]]


def class_counts(y: np.ndarray) -> dict[str, int]:
    counts = np.bincount(y, minlength=len(AAMI_CLASSES))
    return {c: int(k) for c, k in zip(AAMI_CLASSES, counts, strict=True) if k}


def classifier_supply(
    s: EvalSet,
    real: BeatData,
    donor: SegmentSet,
    rare: list[str],
    ratio: float,
    seed: int,
    borrowed_rr: str = "same_class",
) -> tuple[BeatData | None, BeatData | None]:
    """(TSTR training set, augmentation pool) drawn anew from ``s``'s source, or
    ``(None, None)`` when ``s`` cannot draw (a folder: the protocols use it as it is).

    Every class ``s`` holds is drawn as often as the real classifier's training set holds it
    (TSTR: the same classifier on the same class counts), and each ``rare`` class ``ratio``
    times that when more (the augmentation adds ``ratio`` synthetic beats per real one).
    The scored set itself follows the held-out split's class mix, so that distribution
    metrics compare like with like; a classifier trained on it would learn the test split's
    class balance, which a user of the model does not know, and would get as few rare beats
    as the test split has (173 S beats where the real training set has 600)."""
    if s.draw is None:
        return None, None
    have = np.unique(s.labels)
    need = np.bincount(real.y, minlength=len(AAMI_CLASSES))
    rare_idx = {AAMI_CLASSES.index(c) for c in rare}
    counts = {
        int(c): int(max(need[c], np.ceil(ratio * need[c]) if c in rare_idx else 0))
        for c in have
        if need[c]
    }
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(11,)))
    labels = rng.permutation(np.repeat(list(counts), list(counts.values())))
    drawn = s.draw(labels, seed + 1)
    pool = beat_data(drawn, donor, len(drawn), seed, None, borrowed_rr)  # every row: no cap
    first = np.concatenate(
        [np.flatnonzero(pool.y == c)[: need[c]] for c in counts]  # TSTR: the real counts
    )
    first.sort()
    train = BeatData(pool.x[first], pool.y[first], pool.rr[first])
    return train, pool


def trts_judge(real_model: TrainedClassifier, s: EvalSet) -> TrainedClassifier:
    """The real-trained classifier that judges ``s``'s beats in TRTS (the conditioning check):
    as trained when ``s`` brought its own RR, else its CNN alone. The RR expert would judge
    the RR the protocols lent ``s``, not what ``s`` generated: with RR of any class, the whole
    classifier found 16 % of the beat-only WGAN-GP's V beats on the test patients, the CNN
    alone 77 %."""
    if s.rr is not None or real_model.rr_model is None:
        return real_model
    return replace(real_model, rr_model=None)


def drop_predictions(result: dict) -> dict:
    """Drop the per-beat predictions (kept in memory for the paired bootstrap only)."""
    return {k: v for k, v in result.items() if k != "y_pred"}


def train_real(real: BeatData, cfg: ClassifierConfig, classes: list[str]) -> TrainedClassifier:
    return ecg_classifier_train(
        real.x, real.y, real.rr, groups=real.groups, config=cfg, classes=classes
    )


def classifier_scores(
    s: EvalSet,
    real: BeatData,
    test: BeatData,
    trtr: dict,
    real_model: TrainedClassifier,
    donor: SegmentSet,
    cfg: ClassifierConfig,
    classes: list[str],
    opts: dict,
    trtr_unweighted: dict | None = None,
) -> dict:
    """TSTR, TRTS and (``opts["augmentation"]``) real + synthetic augmentation of ``s``.

    TSTR trains on the classes ``s`` holds and is scored on all ``classes`` of the real
    test set (a class the generator cannot make costs its recall). TRTS scores the real
    model on ``s`` itself (does the model make the class it is asked for?). Augmentation
    adds synthetic beats of the rare classes at ``opts["ratio"]`` per real beat. TSTR and
    augmentation draw their own beats from ``s``'s source (``classifier_supply``); a set
    that cannot draw is used as it is, capped by what it has (``ratio_used``)."""
    out: dict = {}
    if s.labels is None:
        return {"errors": {"classifier": "the set has no class labels (unconditional model)"}}
    rare_wanted = [c for c in opts["aug_classes"] if c in classes]
    keep = seen_classes(classes, opts["keep_unscored"])
    scored = beat_data(s, donor, opts["max_train"], cfg.seed, keep, cfg.borrowed_rr)
    syn_train, syn = classifier_supply(
        s, real, donor, rare_wanted, float(opts["ratio"]), cfg.seed, cfg.borrowed_rr
    )
    if syn is None:
        syn_train = syn = scored
    present = [c for c in classes if (syn.y == AAMI_CLASSES.index(c)).any()]
    detail: dict = {
        "classes_scored": classes,
        "classes_in_set": present,
        "supply": "drawn anew" if s.draw is not None else "the set as given",
        "rr": "its own" if s.rr is not None else f"borrowed from real beats ({cfg.borrowed_rr})",
        "tstr_counts": class_counts(syn_train.y),
    }

    def tstr():
        model = ecg_classifier_train(
            syn_train.x, syn_train.y, syn_train.rr, config=cfg, classes=present
        )
        res = evaluate_beats(model, test, classes, opts["n_boot"], cfg.seed)
        detail["TSTR"] = drop_predictions(res)
        return {
            "tstr_macro_f1": res["macro_f1"],
            "tstr_balanced_accuracy": res["balanced_accuracy"],
        }

    def trts():
        res = evaluate_beats(trts_judge(real_model, s), scored, present, 0, cfg.seed)
        detail["TRTS"] = drop_predictions(res)
        return {
            "trts_macro_f1": res["macro_f1"],
            "trts_balanced_accuracy": res["balanced_accuracy"],
        }

    def augment():
        rare = [c for c in opts["aug_classes"] if c in present and c in classes]
        if not rare:
            raise ValueError(
                f"no rare class of {opts['aug_classes']} in both the set and the scored classes"
            )
        have = {c: int((syn.y == AAMI_CLASSES.index(c)).sum()) for c in rare}
        need = {c: int((real.y == AAMI_CLASSES.index(c)).sum()) for c in rare}
        ratio = min([float(opts["ratio"])] + [have[c] / need[c] for c in rare if need[c]])
        res = augmentation_experiment(
            real,
            test,
            syn,
            aug_classes=rare,
            ratio=ratio,
            config=cfg,
            classes=classes,
            baseline=trtr,
            n_boot=opts["n_boot"],
        )
        # The augmented classifier (class-weighted, as TRTR) against real-only training
        # with and without class weights, on macro-F1 and on the S class's F1.
        # (key, real-only baseline, metric); macro-F1 against TRTR is res["gain"] already.
        comparisons = [("f1_S", trtr, "f1_S")]
        if trtr_unweighted is not None:
            comparisons += [
                (f"{m}_vs_unweighted", trtr_unweighted, m) for m in ("macro_f1", "f1_S")
            ]
        extra = {
            key: bootstrap_gain(
                test.y,
                base["y_pred"],
                res["augmented"]["y_pred"],
                metric=metric,
                classes=classes,
                groups=test.groups,
                n_boot=opts["n_boot"],
                seed=cfg.seed,
            )
            for key, base, metric in comparisons
        }
        detail["augmentation"] = {
            "ratio": float(opts["ratio"]),
            "ratio_used": ratio,
            "added": res["added"],
            "augmented": drop_predictions(res["augmented"]),
            "gain": res["gain"] | extra,
        }
        g = res["gain"]["macro_f1"]
        out = {
            "aug_gain_macro_f1": g["gain"],
            "aug_gain_ci_low": g["ci_low"],
            "aug_gain_ci_high": g["ci_high"],
            "aug_gain_f1_s": extra["f1_S"]["gain"],
        }
        if trtr_unweighted is not None:
            out["aug_gain_macro_f1_unweighted"] = extra["macro_f1_vs_unweighted"]["gain"]
            out["aug_gain_f1_s_unweighted"] = extra["f1_S_vs_unweighted"]["gain"]
        return out

    _guard(out, "tstr", tstr)
    if present:
        _guard(out, "trts", trts)
    if opts.get("augmentation", True):
        _guard(out, "augmentation", augment)
    out["classifier"] = detail
    return out


def subject_scores(r: Reference, s: EvalSet, cfg: SubjectIdConfig) -> dict:
    """Subject identification of a subject-conditioned set (groups = training subjects)."""
    out: dict = {}

    def run():
        d = subject_identifier(
            r.train.signals,
            r.train.records.astype(str),
            s.signals,
            s.groups,
            order=r.train.centers,
            config=cfg,
        )
        return {
            "subject_acc_generated": d["accuracy_generated"],
            "subject_acc_real": d["accuracy_real"],
            "subject_chance": d["chance"],
            "subject_id": d,
        }

    _guard(out, "subject_id", run)
    return out
