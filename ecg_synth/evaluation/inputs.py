"""What ``evaluate.py`` scores: a generated folder or a checkpoint, checked against the real
data's window, as an :class:`EvalSet`.

Generated folder contract (``ecg_synth/generation/writers.py``): ``signals.npy`` float32
``[N, leads, length]`` mV, ``labels.npy`` int ``[N]`` (AAMI index N,S,V,F,Q = 0..4; all -1
for an unconditional model), optional ``subjects.npy`` int ``[N]`` (index into
``meta["subjects"]``), ``meta.json`` with at least ``fs``, ``length``, ``r_index``, ``leads``,
``units`` ("mV"). Every violation raises :class:`EvaluationError` naming the file, the field
and the value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from ecg_synth.data.types import AAMI_CLASSES


class EvaluationError(ValueError):
    """Bad input to the evaluation (a folder, a checkpoint or a setting); the message names
    the file or field at fault."""


@dataclass(frozen=True)
class WindowSpec:
    """The real data's window: every scored set must match it exactly."""

    fs: float
    length: int
    r_index: int | None
    leads: tuple[str, ...]

    def describe(self) -> str:
        return (
            f"fs={self.fs:g} Hz, length={self.length} ({self.length / self.fs:.3f} s), "
            f"r_index={self.r_index}, leads={list(self.leads)}"
        )


@dataclass
class EvalSet:
    """One set of segments scored against the real reference.

    signals: ``[N, C, L]`` float32 mV. labels: ``[N]`` int64 AAMI index, or None when the
    class is unknown (unconditional model). groups: ``[N]`` str subject / record names or
    None. rr: ``[N, 3]`` float32 seconds (previous, next, local mean) or None.
    kind: ``generated`` | ``floor`` | ``control`` | ``baseline``.
    draw: ``draw(labels, seed)`` gives a further set from the same source with the class
    ``labels [M]`` (a model samples again, a baseline draws again), or None when the set is
    all there is (a folder of generated segments, the floor, the controls).
    """

    name: str
    kind: str
    signals: np.ndarray
    labels: np.ndarray | None = None
    groups: np.ndarray | None = None
    rr: np.ndarray | None = None
    description: str = ""
    draw: Callable[[np.ndarray, int], EvalSet] | None = None

    def __len__(self) -> int:
        return len(self.signals)

    @property
    def key(self) -> str:
        """Unique name across kinds (a control and a baseline are both called ``noise``)."""
        return self.name if self.kind in ("generated", "floor") else f"{self.kind}/{self.name}"

    def subset(self, index: np.ndarray) -> EvalSet:
        """Rows ``index`` of every per-segment array."""
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return EvalSet(
            self.name,
            self.kind,
            self.signals[index],
            pick(self.labels),
            pick(self.groups),
            pick(self.rr),
            self.description,
            self.draw,
        )


# ------------------------------------------------------------------------------ the window
def conform_window(
    x: np.ndarray,
    fs: float,
    r_index: int | None,
    spec: WindowSpec,
    resample: bool,
    source: str,
) -> np.ndarray:
    """``x [N, C, L]`` at ``fs`` -> ``[N, C, spec.length]`` at ``spec.fs``.

    Same fs: the length and R position must match exactly. Another fs: with ``resample``
    the signals are resampled (``scipy.signal.resample_poly``, anti-aliased) and cropped so
    the R peak lands on ``spec.r_index``; the resampled window must cover the real one.
    Otherwise refuses, naming ``source`` and both values.
    """
    length = x.shape[-1]
    if abs(fs - spec.fs) < 1e-9:
        if length != spec.length:
            raise EvaluationError(
                f"{source}: length={length} samples ({length / fs:.3f} s) but the real "
                f"segments have length={spec.length} ({spec.length / spec.fs:.3f} s) at the "
                f"same fs={fs:g} Hz; generate with the dataset's window"
            )
        if r_index != spec.r_index:
            raise EvaluationError(
                f"{source}: r_index={r_index} but the real segments have R at "
                f"r_index={spec.r_index}"
            )
        return np.ascontiguousarray(x, dtype=np.float32)
    if not resample:
        raise EvaluationError(
            f"{source}: fs={fs:g} Hz but the real data has fs={spec.fs:g} Hz; pass "
            "resample=true to resample it, or generate at the dataset's rate"
        )
    ratio = Fraction(spec.fs / fs).limit_denominator(1000)
    y = resample_poly(np.asarray(x, dtype=np.float64), ratio.numerator, ratio.denominator, axis=-1)
    # Crop so the R peak sits where the real window has it (rhythm windows: from the start).
    start = 0 if spec.r_index is None else round((r_index or 0) * spec.fs / fs) - spec.r_index
    kinds_differ = (spec.r_index is None) != (r_index is None)
    if kinds_differ or start < 0 or start + spec.length > y.shape[-1]:
        raise EvaluationError(
            f"{source}: resampled from fs={fs:g} to {spec.fs:g} Hz, its window (length="
            f"{length}, r_index={r_index}: {length / fs:.3f} s) does not cover the real one "
            f"(length={spec.length}, r_index={spec.r_index}: {spec.length / spec.fs:.3f} s)"
        )
    return np.ascontiguousarray(y[..., start : start + spec.length], dtype=np.float32)


def check_labels_in(labels: np.ndarray, allowed: list[int], source: str) -> np.ndarray | None:
    """Integer labels ``[N]`` within ``allowed`` AAMI indices -> int64, or None when every
    label is -1 (an unconditional model's "class not chosen")."""
    if not np.issubdtype(labels.dtype, np.integer):
        raise EvaluationError(f"{source}: labels must be integers, got dtype {labels.dtype}")
    if len(labels) and (labels == -1).all():
        return None
    bad = ~np.isin(labels, allowed)
    if bad.any():
        names = {i: AAMI_CLASSES[i] for i in allowed}
        raise EvaluationError(
            f"{source}: {int(bad.sum())} label(s) outside the class set {names}, e.g. "
            f"{np.unique(labels[bad])[:5].tolist()} (-1 is allowed only for all labels: an "
            "unconditional model)"
        )
    return labels.astype(np.int64)


# --------------------------------------------------------------------------- a folder
def _meta(folder: Path) -> dict:
    path = folder / "meta.json"
    if not path.is_file():
        raise EvaluationError(
            f"{path}: missing; a generated folder needs meta.json with fs, length, r_index, "
            "leads, units (see ecg_synth/generation/writers.py)"
        )
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise EvaluationError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(meta, dict):
        raise EvaluationError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    for key in ("fs", "length"):
        if key not in meta:
            raise EvaluationError(f"{path}: lacks field {key!r} (needed to match the real window)")
    fs = meta["fs"]
    if isinstance(fs, bool) or not isinstance(fs, (int, float)) or not fs > 0:
        raise EvaluationError(f"{path}: fs={fs!r} is not a positive sampling rate in Hz")
    units = meta.get("units", "mV")
    if units != "mV":
        raise EvaluationError(f"{path}: units={units!r}; signals must be in millivolts ('mV')")
    return meta


def _npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise EvaluationError(f"{path}: missing (part of the generated folder contract)")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        raise EvaluationError(f"{path}: not a readable .npy array ({e})") from e


def check_folder(folder: str | Path) -> dict:
    """The checks that need no real data: the folder, its ``meta.json`` and the two arrays
    exist. Returns the metadata."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"generated={str(folder)!r}: no such folder")
    meta = _meta(folder)
    for name in ("signals.npy", "labels.npy"):
        if not (folder / name).is_file():
            raise EvaluationError(
                f"{folder / name}: missing (part of the generated folder "
                "contract: signals.npy, labels.npy, meta.json)"
            )
    return meta


def load_generated(
    folder: str | Path, spec: WindowSpec, allowed: list[int], resample: bool = False
) -> EvalSet:
    """Read and check a generated folder; returns the ``generated`` :class:`EvalSet` at the
    real window (``conform_window``). ``allowed``: the AAMI indices of the dataset's classes."""
    folder = Path(folder)
    meta = check_folder(folder)
    sig_path, lab_path = folder / "signals.npy", folder / "labels.npy"
    signals, labels = _npy(sig_path), _npy(lab_path)
    if signals.ndim != 3:
        raise EvaluationError(f"{sig_path}: expected [N, leads, length], got shape {signals.shape}")
    n, c, length = signals.shape
    if labels.shape != (n,):
        raise EvaluationError(
            f"{lab_path}: shape {labels.shape} does not match {sig_path} with N={n} segments "
            f"(shape {signals.shape}); expected labels of shape ({n},)"
        )
    if int(meta["length"]) != length:
        raise EvaluationError(
            f"{folder / 'meta.json'}: length={meta['length']} but {sig_path} has {length} "
            "samples per segment"
        )
    leads = tuple(str(v) for v in meta.get("leads") or spec.leads)
    if len(leads) != c or leads != spec.leads:
        raise EvaluationError(
            f"{folder / 'meta.json'}: leads={list(leads)} ({sig_path} has {c}) but the real "
            f"data has leads={list(spec.leads)}"
        )
    x = np.asarray(signals, dtype=np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        first = np.argwhere(bad)[0].tolist()
        raise EvaluationError(
            f"{sig_path}: {int(bad.sum())} NaN/inf value(s) in "
            f"{int(bad.any(axis=(1, 2)).sum())} segment(s), first at index {first}"
        )
    y = check_labels_in(np.asarray(labels), allowed, str(lab_path))
    r_index = meta.get("r_index")
    x = conform_window(x, float(meta["fs"]), r_index, spec, resample, str(folder / "meta.json"))
    return EvalSet(
        "generated",
        "generated",
        x,
        y,
        _subjects(folder, meta, n),
        _rr(folder / "rr.npy", n),
        description=f"folder {folder}",
    )


def _rr(path: Path, n: int) -> np.ndarray | None:
    """The generated beats' own RR (``rr.npy``), or None: the protocols then lend them real
    beats' RR (``sample_rr_like``)."""
    if not path.is_file():
        return None
    rr = np.asarray(_npy(path))
    if rr.shape != (n, 3) or not np.issubdtype(rr.dtype, np.floating):
        raise EvaluationError(
            f"{path}: expected ({n}, 3) floats (seconds: previous, next, local mean RR), "
            f"got {rr.shape} {rr.dtype}"
        )
    bad = ~(np.isfinite(rr) & (rr > 0)).all(axis=1)
    if bad.any():
        raise EvaluationError(
            f"{path}: {int(bad.sum())} row(s) with RR that is not a positive number of "
            f"seconds, first at row {int(np.flatnonzero(bad)[0])}"
        )
    return rr.astype(np.float32)


def _subjects(folder: Path, meta: dict, n: int) -> np.ndarray | None:
    path = folder / "subjects.npy"
    if not path.is_file():
        return None
    idx = np.asarray(_npy(path))
    names = meta.get("subjects")
    if idx.shape != (n,) or not np.issubdtype(idx.dtype, np.integer):
        raise EvaluationError(f"{path}: expected ({n},) integers, got {idx.shape} {idx.dtype}")
    if not names:
        raise EvaluationError(
            f"{folder / 'meta.json'}: subjects.npy is present but "
            "meta.json lacks the 'subjects' names it indexes"
        )
    if len(idx) and (idx.min() < 0 or idx.max() >= len(names)):
        raise EvaluationError(
            f"{path}: indices in [{idx.min()}, {idx.max()}] outside the "
            f"{len(names)} names of meta.json 'subjects'"
        )
    return np.asarray(names, dtype=str)[idx]


# ---------------------------------------------------------------------- a checkpoint
def proportional_counts(weights: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` into integer counts proportional to ``weights`` (largest remainder)."""
    p = np.asarray(weights, dtype=np.float64)
    p = p / p.sum()
    counts = np.floor(p * n).astype(np.int64)
    rest = np.argsort(-(p * n - counts), kind="stable")[: n - counts.sum()]
    counts[rest] += 1
    return counts


def window_settings(w: WindowSpec) -> dict[str, Any]:
    """The dataset config values (dotted keys under ``dataset.``) that cut real segments in
    the window ``w`` (a model's): e.g. the context preset's 2 s windows at 128 Hz."""
    out: dict[str, Any] = {"preprocess.target_fs": w.fs, "segment.length": w.length}
    if w.r_index is not None:  # beat windows: the R peak at round(pre_s * fs)
        out["segment.pre_s"] = w.r_index / w.fs
    return out | {"source.leads": list(w.leads)}


def window_overrides(w: WindowSpec) -> list[str]:
    """``window_settings`` as command-line overrides, for messages and notes."""
    return [
        f"dataset.{k}=[{','.join(v)}]" if isinstance(v, list) else f"dataset.{k}={v:g}"
        for k, v in window_settings(w).items()
    ]


def shown(path: str | Path | list) -> str:
    """A model path, or an ensemble's paths, as the user wrote them in ``checkpoint=``."""
    if isinstance(path, str | Path):
        return repr(str(path))
    return "[" + ",".join(str(p) for p in path) + "]"


def load_model(path: str | Path | list):
    """A model on disk (checkpoint, run folder or exported folder, or a list of them: an
    ensemble) as a ``GeneratorHandle``; a load error names ``checkpoint=``."""
    from ecg_synth.generation import GenerationError, load_generator

    try:
        return load_generator(path)
    except GenerationError as e:
        raise EvaluationError(f"checkpoint={shown(path)}: {e}") from e


def model_info(path: str | Path | list) -> dict:
    """The ``data_info`` a model on disk was trained with: its window, classes, training
    subjects."""
    return load_model(path).info


def window_of(info: dict) -> WindowSpec:
    """The window of a model's ``data_info``."""
    leads = tuple(str(v) for v in info["leads"])
    return WindowSpec(float(info["fs"]), int(info["length"]), info.get("r_index"), leads)


def generate_from_checkpoint(
    path: str | Path | list,
    spec: WindowSpec,
    heldout_labels: np.ndarray,
    n: int,
    seed: int,
    batch_size: int = 4096,
) -> EvalSet:
    """``generate_from_handle`` for a model on disk (``load_model``)."""
    handle, where = load_model(path), f"checkpoint={shown(path)}"
    return generate_from_handle(handle, spec, heldout_labels, n, seed, batch_size, where)


def generate_from_handle(
    handle,
    spec: WindowSpec,
    heldout_labels: np.ndarray,
    n: int,
    seed: int,
    batch_size: int = 4096,
    where: str | None = None,
) -> EvalSet:
    """Sample ``n`` segments from a loaded generator (``GeneratorHandle``) with the held-out
    split's class mix (classes the model never saw are left out) and, for a
    subject-conditioned model, equal shares of its training subjects. Seeded through the
    generation contract (``ecg_synth.generation.core``). The set's ``draw`` samples the
    model again with any labels (the classifier protocols' own supply). ``where`` names the
    model in errors."""
    from ecg_synth.generation import Plan
    from ecg_synth.generation.core import collect

    where = where or f"generator {handle.name!r}"
    got = window_of(handle.info)
    for field in ("fs", "length", "r_index", "leads"):
        if getattr(got, field) != getattr(spec, field):
            raise EvaluationError(
                f"{where}: the model was trained on {field}="
                f"{getattr(got, field)!r} but the real data has {field}="
                f"{getattr(spec, field)!r} (dataset config differs from the model's); "
                f"the model's window is {' '.join(window_overrides(got))}"
            )

    def sample(labels: np.ndarray | None, n: int, seed: int, rng) -> EvalSet:
        subjects = None
        if handle.use_subject:
            subjects = rng.permutation(np.resize(np.arange(len(handle.subjects)), n))
            subjects = subjects.astype(np.int64)
        plan = Plan(np.full(n, -1, np.int64) if labels is None else labels, subjects, seed)
        x, rr = collect(handle, plan, batch_size)
        if not np.isfinite(x).all() or (rr is not None and not np.isfinite(rr).all()):
            raise EvaluationError(f"{where}: the model generated NaN/inf values")
        groups = None if subjects is None else np.asarray(handle.subjects, dtype=str)[subjects]
        return EvalSet(
            "generated",
            "generated",
            x,
            labels,
            groups,
            rr,
            description=f"{handle.kind} model {handle.name!r} ({handle.source}), seed {seed}",
            draw=draw,
        )

    def draw(labels: np.ndarray, seed: int) -> EvalSet:
        labels = np.asarray(labels, dtype=np.int64)
        if handle.use_class and not (handle.class_counts[labels] > 0).all():
            raise EvaluationError(f"{where}: asked for a class the model never saw in training")
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
        return sample(labels if handle.use_class else None, len(labels), seed, rng)

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,)))
    labels = None
    if handle.use_class:
        trained = handle.class_counts > 0
        weights = np.bincount(heldout_labels, minlength=len(handle.classes)).astype(float)
        weights[~trained] = 0
        if weights.sum() == 0:
            raise EvaluationError(
                f"{where}: the model saw none of the held-out classes in training"
            )
        counts = proportional_counts(weights, n)
        labels = rng.permutation(np.repeat(np.arange(len(counts)), counts)).astype(np.int64)
    return sample(labels, n, seed, rng)
