"""AAMI EC57 beat classes from MIT-BIH annotation symbols.

Only beat annotations map to a class; every other symbol (rhythm changes ``+``, noise
``~``, signal quality ``|``, comments ``"``, ``x`` non-conducted P waves, flutter
boundaries ``[ ] !`` ...) is a non-beat and gets label ``-1``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ecg_synth.data.types import AAMI_CLASSES

# AAMI EC57: N = normal and bundle-branch-block beats plus nodal/atrial escape beats,
# S = supraventricular ectopic, V = ventricular ectopic, F = fusion of V and N,
# Q = paced, paced fusion and unclassifiable beats.
AAMI_GROUPS: dict[str, tuple[str, ...]] = {
    "N": ("N", "L", "R", "e", "j"),
    "S": ("A", "a", "J", "S"),
    "V": ("V", "E"),
    "F": ("F",),
    "Q": ("/", "f", "Q"),
}
SYMBOL_TO_CLASS: dict[str, str] = {s: c for c, syms in AAMI_GROUPS.items() for s in syms}
BEAT_SYMBOLS: frozenset[str] = frozenset(SYMBOL_TO_CLASS)

# Rule for the label of a rhythm window that holds several classes: the class that is
# rarest in MIT-BIH wins (F ~0.8k beats < S ~2.8k < V ~7k < Q ~8k < N ~90k), so a window
# with one fusion or supraventricular beat among normal ones is an F or S window. Ranks
# below index this tuple (0 = wins).
WINDOW_PRIORITY: tuple[str, ...] = ("F", "S", "V", "Q", "N")


def symbols_to_labels(symbols: Sequence[str] | np.ndarray) -> np.ndarray:
    """Annotation symbols ``[n]`` -> AAMI indices ``[n]`` int64 (``-1`` for non-beats)."""
    symbols = np.asarray(symbols, dtype=str)
    if symbols.size == 0:
        return np.zeros(0, dtype=np.int64)
    # A record has a handful of distinct symbols: map those, then broadcast back.
    uniq, inverse = np.unique(symbols, return_inverse=True)
    table = np.array(
        [AAMI_CLASSES.index(SYMBOL_TO_CLASS[s]) if s in SYMBOL_TO_CLASS else -1 for s in uniq],
        dtype=np.int64,
    )
    return table[inverse.reshape(-1)]


def class_indices(classes: Iterable[str] | None) -> np.ndarray:
    """Validated AAMI indices of a ``classes`` filter (``None`` = all classes)."""
    if classes is None:
        return np.arange(len(AAMI_CLASSES), dtype=np.int64)
    if isinstance(classes, str):
        classes = [classes]
    classes = list(classes)
    unknown = [c for c in classes if c not in AAMI_CLASSES]
    if unknown or not classes:
        raise ValueError(
            f"segment.classes={classes!r}: expected a non-empty list drawn from {AAMI_CLASSES}"
            + (f"; unknown: {unknown}" if unknown else "")
        )
    return np.array(sorted({AAMI_CLASSES.index(c) for c in classes}), dtype=np.int64)


def priority_rank(labels: np.ndarray) -> np.ndarray:
    """AAMI indices -> rank in ``WINDOW_PRIORITY`` (0 = the class that labels a window)."""
    rank_of_class = np.array([WINDOW_PRIORITY.index(c) for c in AAMI_CLASSES], dtype=np.int64)
    return rank_of_class[labels]
