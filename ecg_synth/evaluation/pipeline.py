"""``evaluate.py`` as a function of its composed Hydra config (``conf/evaluate.yaml``).

Stages (each timed; the times go into ``metrics.json`` and ``report.md``):

1. ``data``: the dataset config's DataModule; the held-out split (``split``: test | val) is
   cut into a reference part and a control part (``split_heldout``). Training segments only
   train the encoder / classifiers and serve as the memorisation reference and baselines.
2. ``generated``: a folder (``generated=<dir>``, checked by ``inputs.load_generated``) or a
   model (``checkpoint=<path>``, sampled with the held-out class mix, seeded).
3. ``baselines``: floor, controls and baselines (``baselines.py``).
4. ``encoder``: the embedding network (cached per training data).
5. ``metrics``: every library metric for every set.
6. ``svm`` / ``cnn``: real-vs-set detectors (generated, floor, baselines).
7. ``classifier``: TRTR once; TSTR, TRTS, augmentation per labelled set. A model or a
   baseline draws the beats for TSTR and augmentation anew, in the real training set's
   class counts (``scoring.classifier_supply``), not in the held-out mix; a folder is used
   as it is.
8. ``subject_id``: for a subject-conditioned generated set.
9. ``report``: ``metrics.json``, figures, ``report.md``.

``quick=true`` skips the CNN detector, the classifier, subject identification and DTW, and
scores seeded subsamples (``quick_limits``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from ecg_synth.data.build import resolve_path
from ecg_synth.data.simulator import LEAD as SIMULATOR_LEAD
from ecg_synth.data.types import AAMI_CLASSES
from ecg_synth.evaluation import baselines as bl
from ecg_synth.evaluation import figures as figs
from ecg_synth.evaluation import report
from ecg_synth.evaluation.classifier import ClassifierConfig, evaluate_beats
from ecg_synth.evaluation.detectors import DetectorConfig, check_repeats
from ecg_synth.evaluation.inputs import (
    EvalSet,
    EvaluationError,
    WindowSpec,
    check_folder,
    generate_from_handle,
    load_generated,
    load_model,
    model_info,
    proportional_counts,
    shown,
    window_of,
    window_overrides,
    window_settings,
)
from ecg_synth.evaluation.scoring import (
    Budget,
    Reference,
    classifier_beats,
    classifier_scores,
    cnn_scores,
    drop_predictions,
    metric_scores,
    scored_classes,
    split_like_generated,
    subject_scores,
    subsample,
    svm_scores,
    train_real,
)
from ecg_synth.evaluation.subject_id import SubjectIdConfig
from ecg_synth.metrics.embedding import EncoderConfig, embed, load_or_train_encoder
from ecg_synth.numerics import check_thread_count

log = logging.getLogger(__name__)

MEMO_KEYS = (
    "nn_ratio",
    "nn_shortfall",
    "copy_share",
    "copy_threshold",
    "nn_gen_median",
    "nn_heldout_median",
    "memorizing",
)

__all__ = ["EvaluationError", "StageTimer", "run"]


class StageTimer:
    """Wall-clock seconds per named stage (``with timer("metrics"): ...``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        log.info("stage %s ...", stage)
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0
            log.info("stage %s: %.1f s", stage, self.seconds[stage])

    def total(self) -> dict[str, float]:
        return {**self.seconds, "total": time.perf_counter() - self._start}


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Torch's thread count is ``n`` (checked by ``check_settings``) inside the block only."""
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _dataclass(cls, values: dict | None, **extra):
    """``cls(**values)`` keeping known fields only; tuples for list-valued fields."""
    names = {f.name for f in fields(cls)}
    kw = {
        k: tuple(v) if isinstance(v, list) else v for k, v in (values or {}).items() if k in names
    }
    return cls(**(kw | extra))


def budget(cfg: DictConfig) -> Budget:
    limits = dict(_plain(cfg.limits))
    if cfg.quick:
        limits |= _plain(cfg.quick_limits)
    return _dataclass(Budget, limits)


def merge(dst: dict, src: dict) -> None:
    """``dst |= src``, but the ``seconds`` and ``errors`` dicts are merged, not replaced."""
    for k, v in src.items():
        if k in ("seconds", "errors") and isinstance(dst.get(k), dict):
            dst[k] |= v
        else:
            dst[k] = v


def mix_labels(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` labels in the class proportions of ``labels`` (shuffled, seeded)."""
    counts = proportional_counts(np.bincount(labels, minlength=len(AAMI_CLASSES)), n)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(4,)))
    return rng.permutation(np.repeat(np.arange(len(counts)), counts)).astype(np.int64)


# ----------------------------------------------------------------------------- stages
def load_real(cfg: DictConfig):
    """DataModule of the dataset config; returns (datamodule, train, heldout, spec)."""
    dm = hydra.utils.instantiate(cfg.dataset, _convert_="all")
    dm.prepare_data()
    dm.setup()
    train, heldout = dm.segments["train"], dm.segments[cfg.split]
    if len(heldout) < 8:
        raise EvaluationError(
            f"split={cfg.split!r} holds {len(heldout)} segments; the "
            "held-out reference needs at least 8"
        )
    spec = WindowSpec(float(dm.fs), int(dm.length), dm.r_index, tuple(dm.leads))
    return dm, train, heldout, spec


def adopt_model_window(cfg: DictConfig, spec: WindowSpec, info: dict | None) -> str | None:
    """A checkpoint trained on other windows than the dataset config cuts (the context
    preset's 2 s at 128 Hz against 0.7 s at 360 Hz) can only be scored on its own: set the
    dataset config to the model's window (``info``: the model's ``data_info``). Returns a note
    naming the overrides, or None when the windows already agree (or the input is a folder,
    ``info`` None, which ``resample`` governs)."""
    if info is None:
        return None
    window = window_of(info)
    if window == spec:
        return None
    for key, value in window_settings(window).items():
        OmegaConf.update(cfg.dataset, key, value, merge=False)
    return (
        f"the real data was cut in the model's window ({window.describe()}) instead of the "
        f"dataset config's ({spec.describe()}): {' '.join(window_overrides(window))}"
    )


def other_training_records(cfg: DictConfig, dm, info: dict | None) -> str | None:
    """A note when the model (``info``: its ``data_info``) was trained on other records than
    this evaluation's training split (another dataset config, or other split lists), else
    None. Scoring it is allowed (a cross-dataset test), but the floor, the classifiers' real
    training beats and the memorisation test then stand for data the model never saw."""
    if info is None:
        return None
    trained = sorted(str(s) for s in info["subjects"])
    here = sorted(str(s) for s in dm.subjects)
    if not trained or trained == here:
        return None
    return (
        f"the model was trained on records {_few(trained)}, but this evaluation's training "
        f"split ({cfg.dataset.source.kind} source {cfg.dataset.source.get('root')!s}) holds "
        f"{_few(here)}: the floor, the classifiers' real training beats and the memorisation "
        "test stand for data the model never saw. Evaluate with the dataset config it was "
        "trained on to score it against its own training data."
    )


def _few(names: list[str], k: int = 8) -> str:
    return f"{names[:k]}{f' and {len(names) - k} more' if len(names) > k else ''}"


def load_real_in_model_window(cfg: DictConfig, notes: list[str] | None = None, generator=None):
    """``load_real``, in the window of the model (``generator``, else ``cfg.checkpoint``) when
    it has one of its own (``adopt_model_window``); its note, and one when the model trained
    on other records (``other_training_records``), are logged and appended to ``notes``."""
    dm, train, heldout, spec = load_real(cfg)
    info = None
    if generator is not None:
        info = generator.info
    elif cfg.checkpoint is not None:
        info = model_info(checkpoint_source(cfg))
    adopted = adopt_model_window(cfg, spec, info)
    if adopted is not None:
        log.info(adopted)
        dm, train, heldout, spec = load_real(cfg)
    other = other_training_records(cfg, dm, info)
    if other is not None:
        log.warning(other)
    if notes is not None:
        notes.extend(n for n in (adopted, other) if n is not None)
    return dm, train, heldout, spec


def allowed_classes(cfg: DictConfig) -> list[int]:
    classes = cfg.dataset.segment.get("classes")
    return [AAMI_CLASSES.index(c) for c in (classes or AAMI_CLASSES)]


def check_request(cfg: DictConfig, generator=None) -> None:
    """The checks that need no data, so a bad request fails before any is built."""
    given = [cfg.checkpoint is not None, cfg.generated is not None, generator is not None]
    if sum(given) != 1:
        raise EvaluationError(
            "give exactly one of checkpoint=<model> or generated=<folder> (or, in Python, "
            f"run(cfg, generator=...)); got checkpoint={cfg.checkpoint!r}, "
            f"generated={cfg.generated!r}"
            + (f", generator={generator.name!r}" if generator is not None else "")
        )
    check_settings(cfg)
    if cfg.generated is not None:
        check_folder(resolve_path(cfg.generated))
    elif cfg.checkpoint is not None:
        checkpoint_source(cfg)  # FileNotFoundError unless a path or a known registry reference


def check_settings(cfg: DictConfig) -> None:
    """The checks of the evaluation's settings, which need neither data nor the model: train.py
    runs them on ``evaluate_after`` before training, evaluate.py before building any data."""
    if cfg.split not in ("test", "val"):
        raise EvaluationError(f"split={cfg.split!r}: expected 'test' or 'val' (never train)")
    try:
        check_thread_count(cfg.get("num_threads"), "num_threads")
    except ValueError as e:
        raise EvaluationError(str(e)) from None
    n = cfg.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 8):
        raise EvaluationError(
            f"n={n!r}: generate at least 8 segments (an integer), or leave n out (null) for "
            "as many as the held-out split has"
        )
    unknown = sorted(set(_plain(cfg.baselines) or []) - set(bl.BASELINES))
    if unknown:
        raise EvaluationError(
            f"baselines: unknown {unknown}; expected some of {list(bl.BASELINES)}"
        )
    for key in ("scored", "aug_classes"):
        unknown = sorted(set(map(str, _plain(cfg.classifier.get(key)) or [])) - set(AAMI_CLASSES))
        if unknown:
            raise EvaluationError(
                f"classifier.{key}: unknown classes {unknown}; expected some of "
                f"{list(AAMI_CLASSES)}"
            )
    try:
        _dataclass(ClassifierConfig, _plain(cfg.classifier))
    except ValueError as e:
        raise EvaluationError(f"classifier: {e}") from None
    try:
        _dataclass(DetectorConfig, _plain(cfg.detectors.cnn))
    except ValueError as e:
        raise EvaluationError(f"detectors.cnn: {e}") from None
    try:
        check_repeats(cfg.detectors.svm.n_repeats)
    except ValueError as e:
        raise EvaluationError(f"detectors.svm: {e}") from None
    if not isinstance(cfg.classifier.keep_unscored, bool):
        raise EvaluationError(
            f"classifier.keep_unscored must be true or false, got {cfg.classifier.keep_unscored!r}"
        )


def checkpoint_source(cfg: DictConfig) -> Path | list[Path]:
    """``checkpoint=``: a file or folder (relative to the launch directory), else a registry
    reference ``<name>:<version|latest|best>`` (``ecg_synth.registry``) under paths.log_dir;
    a list of them is an ensemble (``ecg_synth.generation.ensemble``)."""
    from ecg_synth.registry import is_reference, locate

    def source(value: str) -> Path:
        path = resolve_path(value)
        if path.exists():
            return path
        if is_reference(value):
            return locate(value, root=resolve_path(cfg.paths.log_dir))
        raise FileNotFoundError(f"checkpoint={value!r}: no such file or folder")

    if OmegaConf.is_list(cfg.checkpoint):
        return [source(str(value)) for value in cfg.checkpoint]
    return source(cfg.checkpoint)


def load_candidate(
    cfg: DictConfig,
    spec: WindowSpec,
    heldout_labels: np.ndarray,
    max_n: int,
    model=None,
    where: str | None = None,
) -> EvalSet:
    """The generated folder, else ``model`` (a ``GeneratorHandle``; ``where`` names it in
    errors) sampled."""
    if cfg.generated is not None:
        folder = resolve_path(cfg.generated)
        return load_generated(folder, spec, allowed_classes(cfg), bool(cfg.resample))
    # default: as many as the held-out split, but no more than will be scored
    n = int(cfg.n if cfg.n is not None else min(len(heldout_labels), max_n))
    if n < 8:
        raise EvaluationError(f"n={n} (the held-out split's size): generate at least 8 segments")
    seed, batch_size = int(cfg.seed), int(cfg.batch_size)
    return generate_from_handle(model, spec, heldout_labels, n, seed, batch_size, where)


def prepare_reference(cfg, train, heldout, spec, b: Budget, timer: StageTimer):
    """Reference / control halves, the encoder and the reference embedding."""
    seed = int(cfg.seed)
    ref_idx, ctl_idx = bl.split_heldout(heldout, float(cfg.reference_fraction), seed)
    ref_idx = ref_idx[subsample(len(ref_idx), b.max_reference, seed)]
    ctl_idx = ctl_idx[subsample(len(ctl_idx), b.max_n, seed + 1)]
    ref = bl.from_segments(heldout, ref_idx, "reference", "reference", f"held-out {cfg.split}")
    with timer("encoder"):
        enc_cfg = dict(_plain(cfg.encoder)) | (_plain(cfg.quick_encoder) if cfg.quick else {})
        encoder = load_or_train_encoder(
            train.signals,
            train.labels,
            train.records,
            fs=spec.fs,
            r_index=spec.r_index,
            cache_dir=resolve_path(cfg.paths.cache_dir) / "encoders",
            config=_dataclass(EncoderConfig, enc_cfg, seed=seed),
        )
        emb_ref = embed(encoder, ref.signals)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(5,)))
        div = bl.draw_by_class(
            train.labels,
            mix_labels(heldout.labels, b.max_reference, seed),
            rng,
            replace_short=False,
        )
        emb_div = embed(encoder, train.signals[div])
    memo = heldout.signals[subsample(len(heldout), b.memo_max_n, seed + 2)]
    r = Reference(spec, ref, heldout, train, encoder, emb_ref, memo, emb_div, train.labels[div])
    return r, heldout.subset(ctl_idx)


def build_sets(cfg, gen: EvalSet, r: Reference, control_src, notes: list[str]) -> list[EvalSet]:
    seed, snr = int(cfg.seed), float(cfg.snr_db)
    wanted = gen.labels if gen.labels is not None else mix_labels(r.heldout.labels, len(gen), seed)
    sets = [gen, bl.floor_set(r.train, mix_labels(r.heldout.labels, len(gen), seed + 1), seed)]
    sets += bl.control_sets(control_src, r.spec, snr, seed)
    names = list(_plain(cfg.baselines) or [])
    other_leads = [lead for lead in r.spec.leads if lead != SIMULATOR_LEAD]
    if "simulator" in names and other_leads:
        # The simulator draws one lead; a multi-lead model is still scored, without it.
        names.remove("simulator")
        notes.append(
            f"the simulator baseline was left out: it makes lead {SIMULATOR_LEAD} only, and "
            f"these segments also hold {other_leads}"
        )
        log.warning(notes[-1])
    sim = None
    if "simulator" in names:
        sim = bl.simulator_segments(
            cfg.simulator, cfg.dataset, r.spec, _plain(cfg.dataset.get("cache_dir"))
        )
    return sets + bl.baseline_sets(names, wanted, r.train, seed, snr, sim)


def model_stages(
    cfg, sets: list[EvalSet], r: Reference, results: dict, timer: StageTimer, notes: list[str]
) -> None:
    """Detectors, classifier protocols and subject identification, into ``results``."""
    seed = int(cfg.seed)
    judged = [split_like_generated(s, sets[0]) for s in sets]
    targets = [s for s in judged if s.kind in ("generated", "floor", "baseline")]
    with timer("svm"):  # cheap: controls too, to show what the detector sees
        for s in judged:
            merge(
                results[s.key],
                svm_scores(
                    r, s, int(cfg.detectors.svm.max_per_set), int(cfg.detectors.svm.n_repeats), seed
                ),
            )
    if cfg.quick:
        notes.append(
            "quick=true: CNN detector, classifier protocols, subject identification "
            "and DTW skipped; sets subsampled (quick_limits)."
        )
        return
    with timer("cnn"):
        det_cfg = _dataclass(
            DetectorConfig, _plain(cfg.detectors.cnn), seed=seed, num_threads=cfg.num_threads
        )
        for s in targets:
            merge(results[s.key], cnn_scores(r, s, det_cfg))
    with timer("classifier"):
        classifier_stage(cfg, sets, r, results, notes)
    gen = sets[0]
    if cfg.subject_id.enabled and gen.groups is not None:
        known = set(r.train.records.astype(str).tolist())
        unknown = sorted(set(gen.groups.tolist()) - known)
        if unknown:
            notes.append(
                f"subject identification skipped: generated subjects {unknown[:5]} "
                "are not records of the training split"
            )
        else:
            with timer("subject_id"):
                sid_cfg = _dataclass(
                    SubjectIdConfig, _plain(cfg.subject_id), seed=seed, num_threads=cfg.num_threads
                )
                merge(results[gen.key], subject_scores(r, gen, sid_cfg))


def classifier_stage(cfg, sets, r: Reference, results: dict, notes: list[str]) -> None:
    c = _plain(cfg.classifier)
    seed = int(cfg.seed)
    classes = scored_classes(r.train.labels, r.heldout.labels, tuple(c["scored"]))
    r.scored = classes
    if len(classes) < 2:
        notes.append(
            f"classifier protocols skipped: fewer than 2 of the scored classes "
            f"{c['scored']} occur in both the training and the held-out split"
        )
        return
    cfg_c = _dataclass(ClassifierConfig, c, seed=seed, num_threads=cfg.num_threads)
    real, test = classifier_beats(
        r.train, r.heldout, classes, int(c["max_train"]), c["keep_unscored"], seed
    )
    n_records = len(np.unique(test.groups))
    if n_records < int(c["min_records"]):
        # A bootstrap over 1-4 records gives degenerate intervals: resample beats instead.
        test.groups = None
        notes.append(
            f"classifier CIs resample beats, not records: the held-out split has only "
            f"{n_records} record(s) (classifier.min_records={c['min_records']})"
        )
    model = train_real(real, cfg_c, classes)
    trtr = evaluate_beats(model, test, classes, int(c["n_boot"]), seed)
    trtr_detail = {"TRTR": drop_predictions(trtr)}
    # Augmentation must beat real-only training with and without class weights.
    trtr_unweighted = None
    if c["augmentation"] and cfg_c.class_weight is not None:
        plain_cfg = replace(cfg_c, class_weight=None)
        trtr_unweighted = evaluate_beats(
            train_real(real, plain_cfg, classes), test, classes, 0, seed
        )
        trtr_detail["TRTR_unweighted"] = drop_predictions(trtr_unweighted)
    merge(
        results["floor"],
        {
            "tstr_macro_f1": trtr["macro_f1"],
            "trts_macro_f1": trtr["macro_f1"],
            "tstr_balanced_accuracy": trtr["balanced_accuracy"],
            "trts_balanced_accuracy": trtr["balanced_accuracy"],
            "classifier": trtr_detail,
        },
    )
    results["_trtr"] = trtr_detail["TRTR"]
    opts = {**c, "aug_classes": list(c["aug_classes"])}
    for s in sets:
        if s.kind in ("generated", "baseline"):
            merge(
                results[s.key],
                classifier_scores(
                    s, real, test, trtr, model, r.train, cfg_c, classes, opts, trtr_unweighted
                ),
            )


# ------------------------------------------------------------------------------- run
def run(cfg: DictConfig, generator=None) -> dict:
    """Evaluate and write ``metrics.json``, ``report.md`` and ``figures/`` into
    ``paths.output_dir``; returns the ``metrics.json`` content. ``generator``: a loaded
    ``GeneratorHandle`` scored in place of ``checkpoint=`` (Python only): a model that is not
    this project's, wrapped with its ``data_info``, gets the same protocol as a checkpoint,
    whose classifiers draw their own beats (``bench/plain_reference.py``)."""
    timer = StageTimer()
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    b, seed, notes = budget(cfg), int(cfg.seed), []
    check_request(cfg, generator)
    model, where = generator, None
    if cfg.checkpoint is not None:  # loaded once, for its window and for sampling
        source = checkpoint_source(cfg)
        model, where = load_model(source), f"checkpoint={shown(source)}"
    with torch_threads(cfg.get("num_threads")):
        with timer("data"):
            dm, train, heldout, spec = load_real_in_model_window(cfg, notes, model)
        with timer("generated"):
            gen = load_candidate(cfg, spec, heldout.labels, b.max_n, model, where)
            n_total = len(gen)
            gen = gen.subset(subsample(len(gen), b.max_n, seed + 3))
        r, control_src = prepare_reference(cfg, train, heldout, spec, b, timer)
        with timer("baselines"):
            sets = build_sets(cfg, gen, r, control_src, notes)
        results: dict[str, dict] = {}
        with timer("metrics"):
            for s in sets:
                t0 = time.perf_counter()
                results[s.key] = {"kind": s.kind, "description": s.description}
                merge(results[s.key], metric_scores(r, s, b, seed))
                results[s.key]["seconds"]["metrics"] = time.perf_counter() - t0
        # The floor IS training data: its own memorisation test is trivially "copying".
        # Its reference value is that of unseen real beats (the held-out control).
        held = results.get("control/heldout", {})
        merge(results["floor"], {k: held.get(k) for k in MEMO_KEYS})
        notes.append(
            "floor memorisation values are those of held-out real beats (the floor "
            "set is training data, so its own would read 'copying' by construction)."
        )
        model_stages(cfg, sets, r, results, timer, notes)
        trtr = results.pop("_trtr", None)
        doc = report.assemble(cfg, sets, results, trtr, spec, r, dm, n_total, notes)
        with timer("figures"):
            figures = figs.make_figures(out_dir, doc, sets, r, seed)
    doc["timings"] = timer.total()
    metrics_path, report_path = report.write(out_dir, doc, figures)
    log.info("Wrote %s and %s", metrics_path, report_path)
    print(
        f"Evaluation written to {out_dir}: metrics.json, report.md, figures/ "
        f"({doc['timings']['total']:.0f} s)",
        flush=True,
    )
    return doc
