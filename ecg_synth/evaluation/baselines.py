"""Reference sets every generated set is read against: the real-vs-real floor, control sets
(known kinds of bad generator made from held-out real data) and baseline generators.

All sets are :class:`EvalSet` ``[N, C, L]`` float32 mV at the real window.

- ``floor``: real training segments drawn with the held-out split's class mix (without
  replacement): what a generator that reproduced the training data exactly would score.
- controls (``ecg_synth.metrics.controls.make_controls`` on the held-out control half):
  ``heldout`` (the half itself: real data of the same records as the reference), ``noise``,
  ``shift``, ``template``, ``template_noise``.
- baselines, with the generated set's labels (or the held-out class mix when it has none):
  ``real_train`` (the ideal generator: training beats, repeated only where a class has too
  few), ``simulator`` (the offline ECGSYN simulator through the same pipeline), ``noise``
  (white Gaussian noise with the training data's per-lead mean and std) and
  ``class_mean_noise`` (training class mean + noise: a collapsed generator).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ecg_synth.data.build import build_segments, plain
from ecg_synth.data.types import SegmentSet
from ecg_synth.evaluation.inputs import EvalSet, EvaluationError, WindowSpec, conform_window
from ecg_synth.metrics.controls import add_noise, make_controls

BASELINES = ("real_train", "simulator", "noise", "class_mean_noise")


def draw_by_class(
    labels: np.ndarray, wanted: np.ndarray, rng: np.random.Generator, replace_short: bool
) -> np.ndarray:
    """Indices into ``labels`` giving, per class, as many rows as ``wanted`` has of it.

    Without replacement while a class has enough rows; a class with too few is repeated
    (``replace_short``) or capped at what it has. Classes absent from ``labels`` are dropped.
    Returned in the order of ``wanted`` where possible (shuffled within class).
    """
    out = []
    for c in np.unique(wanted):
        pool = np.flatnonzero(labels == c)
        k = int((wanted == c).sum())
        if len(pool) == 0:
            continue
        if k <= len(pool):
            out.append(rng.choice(pool, k, replace=False))
        elif replace_short:
            out.append(np.concatenate([rng.permutation(pool), rng.choice(pool, k - len(pool))]))
        else:
            out.append(rng.permutation(pool))
    return rng.permutation(np.concatenate(out)) if out else np.zeros(0, np.int64)


def from_segments(seg: SegmentSet, index: np.ndarray, name: str, kind: str, text: str) -> EvalSet:
    return EvalSet(
        name,
        kind,
        np.ascontiguousarray(seg.signals[index], dtype=np.float32),
        seg.labels[index].astype(np.int64),
        seg.records[index].astype(str),
        seg.rr[index].astype(np.float32),
        text,
    )


def split_heldout(heldout: SegmentSet, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified random halves of the held-out split: (reference, control source) indices.

    The reference is what every set is compared with; the other part is the ``heldout``
    control (unseen beats of the same records) and the raw material of the other controls,
    so no control is compared with the very segments it was made from.
    """
    if not 0 < fraction < 1:
        raise EvaluationError(f"reference_fraction={fraction}: expected a fraction in (0, 1)")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    ref = []
    for c in np.unique(heldout.labels):
        pool = rng.permutation(np.flatnonzero(heldout.labels == c))
        ref.append(pool[: int(round(fraction * len(pool)))])
    ref = np.sort(np.concatenate(ref))
    return ref, np.setdiff1d(np.arange(len(heldout)), ref)


def floor_set(train: SegmentSet, wanted: np.ndarray, seed: int) -> EvalSet:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,)))
    idx = draw_by_class(train.labels, wanted, rng, replace_short=False)
    return from_segments(
        train, idx, "floor", "floor", "real training segments with the held-out class mix"
    )


def control_sets(source: SegmentSet, spec: WindowSpec, snr_db: float, seed: int) -> list[EvalSet]:
    """The held-out control half and its corrupted copies (``make_controls``)."""
    base = from_segments(
        source, np.arange(len(source)), "heldout", "control", "unseen real beats, same records"
    )
    text = {
        "noise": f"held-out real + white noise at {snr_db:g} dB SNR",
        "shift": "held-out real shifted 167 ms later (circular)",
        "template": "every beat replaced by its class mean (total collapse)",
        "template_noise": f"class mean + noise at {snr_db:g} dB (collapse hidden by noise)",
    }
    controls = make_controls(base.signals, base.labels, spec.fs, snr_db=snr_db, seed=seed)
    return [base] + [
        EvalSet(k, "control", v, base.labels, base.groups, base.rr, text[k])
        for k, v in controls.items()
    ]


def simulator_segments(
    sim_cfg: Mapping, dataset_cfg: Mapping, spec: WindowSpec, cache_dir: str | None
) -> SegmentSet:
    """Segments of the offline simulator (``sim_cfg``: ``root``, ``simulator`` params) cut by
    the real dataset's own preprocessing and segmentation, resampled to the real fs by the
    pipeline (``preprocess.target_fs``) and checked against the real window."""
    dataset_cfg, sim_cfg = plain(dataset_cfg), plain(sim_cfg)
    source = {
        **dataset_cfg["source"],
        "kind": "simulated",
        "root": sim_cfg["root"],
        "records": None,
        "exclude": [],
        "download": False,
        "leads": list(spec.leads),
        "missing_lead": "error",
        "simulator": sim_cfg["simulator"],
    }
    preprocess = {**(dataset_cfg.get("preprocess") or {}), "target_fs": spec.fs}
    try:
        seg, _ = build_segments(source, preprocess, dataset_cfg["segment"], cache_dir)
    except Exception as e:  # DataError, missing leads...: say which baseline failed
        raise EvaluationError(f"simulator baseline: {e} (simulator leads are MLII only)") from e
    x = conform_window(seg.signals, seg.fs, seg.r_index, spec, False, "simulator baseline")
    seg.signals = x
    return seg


def baseline_sets(
    names: list[str],
    wanted: np.ndarray,
    train: SegmentSet,
    seed: int,
    snr_db: float,
    simulator: SegmentSet | None = None,
) -> list[EvalSet]:
    """The baselines ``names`` (subset of ``BASELINES``), each with labels ``wanted [N]``;
    each set's ``draw(labels, seed)`` makes another of its kind."""
    unknown = sorted(set(names) - set(BASELINES))
    if unknown:
        raise EvaluationError(f"baselines: unknown {unknown}; expected some of {list(BASELINES)}")
    if "simulator" in names and simulator is None:
        raise EvaluationError("baselines: 'simulator' needs the simulator segments")
    out = []
    for k, name in enumerate(names):

        def draw(labels: np.ndarray, seed: int, k: int = k, name: str = name) -> EvalSet:
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3, k)))
            labels = np.asarray(labels, dtype=np.int64)
            made = baseline_set(name, labels, train, rng, snr_db, simulator)
            made.draw = draw
            return made

        out.append(draw(wanted, seed))
    return out


def baseline_set(
    name: str,
    wanted: np.ndarray,
    train: SegmentSet,
    rng: np.random.Generator,
    snr_db: float,
    simulator: SegmentSet | None,
) -> EvalSet:
    """One baseline of kind ``name`` with labels ``wanted``."""
    if name == "real_train":
        idx = draw_by_class(train.labels, wanted, rng, replace_short=True)
        return from_segments(train, idx, name, "baseline", "real training beats")
    if name == "simulator":
        idx = draw_by_class(simulator.labels, wanted, rng, replace_short=True)
        return from_segments(simulator, idx, name, "baseline", "offline ECGSYN simulator")
    if name == "noise":
        x = train.signals
        mean = x.mean(axis=(0, 2), dtype=np.float64)[None, :, None]
        std = x.std(axis=(0, 2), dtype=np.float64)[None, :, None]
        sig = mean + std * rng.standard_normal((len(wanted), *x.shape[1:]))
        return EvalSet(
            name,
            "baseline",
            sig.astype(np.float32),
            wanted.copy(),
            description="white noise, per-lead mean/std of the training data",
        )
    # class_mean_noise
    means = np.stack(
        [
            train.signals[train.labels == c].mean(0)
            if (train.labels == c).any()
            else train.signals.mean(0)
            for c in range(int(wanted.max(initial=0)) + 1)
        ]
    )
    return EvalSet(
        name,
        "baseline",
        add_noise(means[wanted], snr_db, rng),
        wanted.copy(),
        description=f"training class mean + noise at {snr_db:g} dB",
    )
