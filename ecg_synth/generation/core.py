"""The one generation path shared by ``generate.py``, the export check and the HTTP API.

Reproducibility contract: for the same model, ``n``, classes, subjects, ``seed`` and
``batch_size``, the signals are bit-identical, whichever front end asked for them:

- the per-segment class/subject plan is drawn from ``SeedSequence(seed, spawn_key=(0,))``;
- segments are made in chunks of ``batch_size``; chunk ``k`` calls the model's
  ``sample(..., seed=s_k)`` with ``s_k`` drawn from ``SeedSequence(seed, spawn_key=(1, k))``,
  so memory stays bounded by one chunk and a chunk never depends on the chunks before it.

``batch_size`` is part of the key (a model draws its noise per ``sample`` call), so it is
written to ``meta.json`` and the API uses the same default.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from ecg_synth.data.types import AAMI_CLASSES

DEFAULT_BATCH_SIZE = 4096
MAX_SEED = 2**63 - 1
UNKNOWN_LABEL = -1  # labels.npy value for an unconditional model (class not chosen)


class GenerationError(ValueError):
    """A request that cannot be served: bad n, unknown class/subject, wrong model kind...
    ``field`` names the request field at fault (``n``, ``class``, ``subject``, ``seed``,
    ``model``) when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Sampler(Protocol):
    def sample(
        self,
        n: int,
        labels=None,
        subjects=None,
        seed: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        with_rr: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``[n, C, L]`` float32 millivolts; with ``with_rr`` also the RR ``[n, 3]`` seconds."""


@dataclass
class GeneratorHandle:
    """A loaded generator and what the front ends need to know about it.

    ``info`` is the model's ``data_info`` (fs, length, leads, r_index, classes, subjects,
    normalizer, class_counts); ``use_class`` / ``use_subject`` say what it conditions on.
    """

    model: Sampler
    info: dict[str, Any]
    name: str
    kind: str
    version: str
    source: str
    use_class: bool = True
    use_subject: bool = False
    hparams: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return list(self.info.get("classes", AAMI_CLASSES))

    @property
    def makes_rr(self) -> bool:
        """The model generates each beat's RR (previous, next, local mean) with it."""
        return bool(getattr(self.model, "makes_rr", False))

    @property
    def subjects(self) -> list[str]:
        return [str(s) for s in self.info.get("subjects", [])]

    @property
    def class_counts(self) -> np.ndarray:
        """Training segments per class, in ``classes`` order (dict or list in data_info)."""
        counts = self.info.get("class_counts")
        if counts is None:
            return np.ones(len(self.classes))
        if isinstance(counts, dict):
            return np.array([float(counts.get(c, 0)) for c in self.classes])
        return np.asarray(counts, dtype=float)

    @property
    def hparams_hash(self) -> str:
        return config_hash(self.hparams)

    def describe(self) -> dict[str, Any]:
        """JSON-able summary (``GET /models``, ``meta.json``)."""
        info = self.info
        return {
            "name": self.name,
            "kind": self.kind,
            "version": self.version,
            "classes": self.classes,
            "subjects": self.subjects,
            "conditions": {"class": self.use_class, "subject": self.use_subject},
            "makes_rr": self.makes_rr,
            "fs": float(info["fs"]),
            "length": int(info["length"]),
            "r_index": None if info.get("r_index") is None else int(info["r_index"]),
            "leads": list(info["leads"]),
            "window_s": float(info["length"]) / float(info["fs"]),
            "hparams_hash": self.hparams_hash,
            "class_counts": dict(
                zip(self.classes, self.class_counts.astype(int).tolist(), strict=True)
            ),
        }


def config_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys), first 16 hex digits."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Plan:
    """Per-segment conditions: ``labels [n]`` int64 (AAMI index, or -1 when the model does
    not take a class) and ``subjects [n]`` int64 index into the model's subjects, or None."""

    labels: np.ndarray
    subjects: np.ndarray | None
    seed: int

    def __len__(self) -> int:
        return len(self.labels)


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise GenerationError(f"seed={seed!r} must be an integer in [0, {MAX_SEED}]", "seed")
    if not 0 <= int(seed) <= MAX_SEED:
        raise GenerationError(f"seed={seed} is outside [0, {MAX_SEED}]", "seed")
    return int(seed)


def _as_list(x: str | Sequence[str] | None, field: str) -> list[str] | None:
    """A class or subject request as a list of names: one name or a non-empty list of them.
    An empty list or a mapping (per-name counts) is refused rather than drawn from: an empty
    draw would have fallen back to index 0, and a mapping's counts would have been ignored."""
    if x is None:
        return None
    if isinstance(x, (str, int)) and not isinstance(x, bool):
        return [str(x)]
    if isinstance(x, Mapping) or not isinstance(x, Sequence) or isinstance(x, bytes):
        raise GenerationError(
            f"{field}={x!r}: give one name or a list of names (equal shares of those); "
            "for other counts per name, generate once per name",
            field,
        )
    if len(x) == 0:
        raise GenerationError(
            f"{field}=[] selects nothing: give one name or a list of names, or leave it out "
            "(null) for the training data's mix",
            field,
        )
    return [str(v) for v in x]


def _even_draw(choices: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` values from ``choices`` in (near-)equal numbers, in random order."""
    return rng.permutation(np.resize(choices, n)).astype(np.int64)


def plan(
    handle: GeneratorHandle,
    n: int,
    classes: str | Sequence[str] | None = None,
    subjects: str | Sequence[str] | None = None,
    seed: int = 0,
) -> Plan:
    """Choose the class and subject of every segment.

    classes: None -> the training data's class proportions (``class_counts``); names ->
    equal shares of those classes. subjects: None -> equal shares of the training subjects
    (subject-conditioned models only); names -> equal shares of those.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise GenerationError(f"n={n!r}: the number of segments must be a positive integer", "n")
    seed = check_seed(seed)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    wanted_classes, wanted_subjects = _as_list(classes, "class"), _as_list(subjects, "subject")

    if wanted_classes is not None and not handle.use_class:
        raise GenerationError(
            f"model {handle.name!r} ({handle.kind}) is not class-conditioned; "
            f"it cannot generate class={wanted_classes}",
            "class",
        )
    if wanted_subjects is not None and not handle.use_subject:
        raise GenerationError(
            f"model {handle.name!r} ({handle.kind}) is not subject-conditioned;"
            f" it cannot generate subject={wanted_subjects}",
            "subject",
        )
    counts = handle.class_counts
    if not handle.use_class:
        labels = np.full(n, UNKNOWN_LABEL, dtype=np.int64)
    elif wanted_classes is None:
        if counts.sum() <= 0:
            raise GenerationError(
                f"model {handle.name!r} records no training class counts", "class"
            )
        labels = rng.choice(len(counts), size=n, p=counts / counts.sum()).astype(np.int64)
    else:
        idx = []
        for c in wanted_classes:
            if c not in handle.classes:
                raise GenerationError(
                    f"unknown class {c!r}; model {handle.name!r} knows {handle.classes}", "class"
                )
            if counts[handle.classes.index(c)] <= 0:
                raise GenerationError(
                    f"class {c!r} had no training segments for model "
                    f"{handle.name!r} (class counts "
                    f"{counts.astype(int).tolist()})",
                    "class",
                )
            idx.append(handle.classes.index(c))
        labels = _even_draw(np.array(idx), n, rng)

    subj = None
    if handle.use_subject:
        known = handle.subjects
        if wanted_subjects is None:
            subj = _even_draw(np.arange(len(known)), n, rng)
        else:
            bad = [s for s in wanted_subjects if s not in known]
            if bad:
                raise GenerationError(
                    f"unknown subject {bad[0]!r}; model {handle.name!r} knows {known}", "subject"
                )
            subj = _even_draw(np.array([known.index(s) for s in wanted_subjects]), n, rng)
    return Plan(labels, subj, seed)


def chunk_seed(seed: int, k: int) -> int:
    """The ``sample`` seed of chunk ``k`` (63 bits, valid for ``torch.manual_seed``)."""
    state = np.random.SeedSequence(seed, spawn_key=(1, k)).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def iter_chunks(
    handle: GeneratorHandle, p: Plan, batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """Yield ``(start, signals [b, C, L] float32 mV, rr)`` chunk by chunk; ``rr [b, 3]``
    float32 seconds when the model ``makes_rr``, else None."""
    if batch_size <= 0:
        raise GenerationError(f"batch_size={batch_size} must be positive")
    n = len(p)
    for k, start in enumerate(range(0, n, batch_size)):
        stop = min(start + batch_size, n)
        labels = torch.from_numpy(p.labels[start:stop]) if handle.use_class else None
        subjects = torch.from_numpy(p.subjects[start:stop]) if p.subjects is not None else None
        with torch.inference_mode():
            out = handle.model.sample(
                stop - start,
                labels=labels,
                subjects=subjects,
                seed=chunk_seed(p.seed, k),
                batch_size=batch_size,
                with_rr=handle.makes_rr,
            )
        x, rr = out if handle.makes_rr else (out, None)
        as_np = lambda t: t.detach().to("cpu", torch.float32).numpy()  # noqa: E731
        yield start, as_np(x), None if rr is None else as_np(rr)


def collect(
    handle: GeneratorHandle,
    p: Plan,
    batch_size: int = DEFAULT_BATCH_SIZE,
    out: np.ndarray | None = None,
    on_chunk: Callable[[int], object] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """A plan's segments: ``signals [n, C, L]`` float32 mV, filled into ``out`` when given (a
    memory-mapped ``signals.npy``), and, when the model ``makes_rr``, their ``rr [n, 3]``
    float32 seconds (else None). ``on_chunk(size)`` is called after each chunk (progress)."""
    n = len(p)
    if out is None:
        out = np.empty((n, len(handle.info["leads"]), int(handle.info["length"])), np.float32)
    rr = np.empty((n, 3), np.float32) if handle.makes_rr else None
    for start, x, x_rr in iter_chunks(handle, p, batch_size):
        out[start : start + len(x)] = x
        if rr is not None:
            rr[start : start + len(x)] = x_rr
        if on_chunk is not None:
            on_chunk(len(x))
    return out, rr


def generate_arrays(
    handle: GeneratorHandle,
    n: int,
    classes=None,
    subjects=None,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> tuple[np.ndarray, Plan, np.ndarray | None]:
    """In-memory generation: ``signals [n, C, L]`` float32 mV, the plan (labels/subjects)
    and, when the model ``makes_rr``, each segment's ``rr [n, 3]`` float32 seconds (previous,
    next, local mean RR; else None)."""
    p = plan(handle, n, classes, subjects, seed)
    signals, rr = collect(handle, p, batch_size)
    return signals, p, rr
