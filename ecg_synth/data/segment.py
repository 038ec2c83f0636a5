"""Cut records into beat windows or rhythm windows, with AAMI labels and per-segment features.

Vectorised: windows are views of ``sliding_window_view`` picked with fancy indexing, and
the beats inside rhythm windows are gathered with ``searchsorted`` plus ``reduceat``.
Segments never contain padding: windows that would cross the record's ends are dropped
and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ecg_synth.data.aami import class_indices, priority_rank, symbols_to_labels
from ecg_synth.data.types import Record, SegmentSet
from ecg_synth.data.wfdb_io import DataError

SEGMENT_KINDS = ("beat", "rhythm")
SEGMENT_KEYS = ("kind", "pre_s", "post_s", "length", "window_s", "stride_s", "classes")
RR_COLUMNS = ("previous", "next", "local_mean")  # rr_features' columns, in seconds


def rr_features(beat_samples: np.ndarray, fs: float, n_local: int = 10) -> np.ndarray:
    """R-peak samples ``[n]`` (sorted, beats only) -> ``[n, 3]`` float32 seconds.

    Columns: previous RR, next RR, local mean RR (mean of the ``n_local`` RRs around the
    beat: ``n_local // 2`` before it and as many after, fewer at the record's ends). The
    first beat has no previous RR and the last no next one: their neighbour RR stands in.
    A record with fewer than two beats gets zeros.
    """
    n = len(beat_samples)
    out = np.zeros((n, 3), dtype=np.float32)
    if n < 2:
        return out
    d = np.diff(beat_samples).astype(np.float64) / fs  # [n-1]; d[i] is beat i -> i+1
    out[:, 0] = np.concatenate([d[:1], d])
    out[:, 1] = np.concatenate([d, d[-1:]])
    h = max(n_local // 2, 1)
    csum = np.concatenate([[0.0], np.cumsum(d)])
    i = np.arange(n)
    lo, hi = np.clip(i - h, 0, n - 1), np.clip(i + h, 0, n - 1)  # RRs d[lo:hi], never empty
    out[:, 2] = (csum[hi] - csum[lo]) / (hi - lo)
    return out


def segment_stats(signals: np.ndarray) -> np.ndarray:
    """``[N, C, L]`` -> ``[N, 4]`` float32: mean, variance, skewness, excess kurtosis of
    lead 0 (biased moments, equal to ``scipy.stats.skew``/``kurtosis`` defaults; a flat
    segment gets 0 for both). Computed from central moments directly: scipy.stats takes
    ~20x longer on 50k beats and was a third of the cold build."""
    x = np.asarray(signals[:, 0, :], dtype=np.float64)
    mean = x.mean(axis=-1)
    c = x - mean[:, None]
    c2 = c * c
    m2, m3, m4 = c2.mean(-1), (c2 * c).mean(-1), (c2 * c2).mean(-1)
    flat = m2 <= 1e-12 * np.maximum(mean * mean, 1e-12)
    safe = np.where(flat, 1.0, m2)
    skew = np.where(flat, 0.0, m3 / safe**1.5)
    kurt = np.where(flat, 0.0, m4 / safe**2 - 3.0)
    return np.stack([mean, m2, skew, kurt], axis=1).astype(np.float32)


def _beats(record: Record) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Beat annotations only (non-beats dropped before RR so they never split an RR)."""
    labels = symbols_to_labels(record.ann_symbols)
    is_beat = labels >= 0
    r = record.ann_samples[is_beat].astype(np.int64)
    return r, labels[is_beat], record.ann_symbols[is_beat], rr_features(r, record.fs)


def _cut(record: Record, starts: np.ndarray, length: int) -> np.ndarray:
    """Windows ``[k, C, length]`` float32 starting at ``starts`` (all inside the record)."""
    views = sliding_window_view(record.signal, length, axis=-1)  # [C, n - length + 1, length]
    return np.ascontiguousarray(views[:, starts].transpose(1, 0, 2), dtype=np.float32)


def _check_length(record: Record, length: int, what: str) -> None:
    n = record.signal.shape[1]
    if length > n:
        raise DataError(
            f"record {record.name}: {what} of {length} samples is longer than the "
            f"record ({n} samples at {record.fs:g} Hz)"
        )


def segment_beats(
    record: Record,
    pre_s: float = 0.25,
    post_s: float = 0.45,
    length: int | None = None,
    classes: Iterable[str] | None = None,
) -> tuple[SegmentSet, dict[str, int]]:
    """Beat windows centred on the annotated R peaks.

    The window starts ``pre = round(pre_s * fs)`` samples before the R peak (so the R
    peak sits at ``r_index = pre``) and spans ``length`` samples (default
    ``pre + round(post_s * fs)``): a longer ``length`` takes more real signal after the
    beat, a shorter one truncates the end. Beats whose window would cross the record's
    ends are dropped. Returns the segments (signals ``[N, C, length]``) and counts
    ``{"beats", "kept", "dropped_edge", "dropped_class"}``.
    """
    fs = record.fs
    pre = round(pre_s * fs)
    length = int(length) if length else pre + round(post_s * fs)
    if pre < 0 or length <= pre:
        raise ValueError(
            f"segment: need pre_s >= 0 and length > round(pre_s*fs)={pre} so the "
            f"R peak is inside the window; got pre_s={pre_s}, length={length}"
        )
    _check_length(record, length, "beat window")
    r, labels, symbols, rr = _beats(record)
    starts = r - pre
    inside = (starts >= 0) & (starts + length <= record.signal.shape[1])
    wanted = np.isin(labels, class_indices(classes))
    keep = np.flatnonzero(inside & wanted)
    signals = _cut(record, starts[keep], length)
    seg = SegmentSet(
        signals=signals,
        labels=labels[keep],
        symbols=symbols[keep],
        records=np.full(len(keep), record.name),
        centers=r[keep],
        rr=rr[keep],
        stats=segment_stats(signals),
        fs=float(fs),
        leads=list(record.leads),
        r_index=pre,
        beat_offsets=np.zeros(len(keep) + 1, dtype=np.int64),  # [N + 1]: no beats inside
    )
    counts = {
        "beats": len(r),
        "kept": len(keep),
        "dropped_edge": int((wanted & ~inside).sum()),
        "dropped_class": int((~wanted).sum()),
    }
    return seg, counts


def segment_rhythm(
    record: Record,
    window_s: float = 4.0,
    stride_s: float = 4.0,
    classes: Iterable[str] | None = None,
) -> tuple[SegmentSet, dict[str, int]]:
    """Fixed-length windows every ``stride_s`` seconds, each carrying the beats inside it.

    A window's label is the class of its beats that comes first in
    ``aami.WINDOW_PRIORITY`` (rarest class wins); its ``symbols``/``rr`` are those of the
    first beat of that class. Windows without beats are dropped (counted as
    ``dropped_empty``), and with ``classes`` set, windows whose label is not listed.
    ``centers`` hold window starts; ``beat_positions`` are R peaks relative to them.
    """
    fs = record.fs
    width, stride = round(window_s * fs), round(stride_s * fs)
    if width < 1 or stride < 1:
        raise ValueError(f"segment: window_s={window_s} and stride_s={stride_s} must be > 0")
    _check_length(record, width, "rhythm window")
    r, labels, symbols, rr = _beats(record)
    starts = np.arange(0, record.signal.shape[1] - width + 1, stride, dtype=np.int64)
    lo = np.searchsorted(r, starts, side="left")
    counts = np.searchsorted(r, starts + width, side="left") - lo

    def gather(win: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the beats of windows ``win`` laid end to end, and their offsets."""
        offsets = np.concatenate([[0], np.cumsum(counts[win])]).astype(np.int64)
        take = np.repeat(lo[win] - offsets[:-1], counts[win]) + np.arange(offsets[-1])
        return take, offsets

    nonempty = np.flatnonzero(counts > 0)
    take, offsets = gather(nonempty)
    # One integer per beat orders by (priority rank, beat index); its minimum over a window
    # names the window's label beat.
    key = priority_rank(labels) * max(len(r), 1) + np.arange(len(r))
    label_beat = (
        np.minimum.reduceat(key[take], offsets[:-1]) % max(len(r), 1)
        if len(nonempty)
        else np.zeros(0, dtype=np.int64)
    )
    wanted = np.isin(labels[label_beat], class_indices(classes))
    win, label_beat = nonempty[wanted], label_beat[wanted]
    take, offsets = gather(win)
    signals = _cut(record, starts[win], width)
    seg = SegmentSet(
        signals=signals,
        labels=labels[label_beat],
        symbols=symbols[label_beat],
        records=np.full(len(win), record.name),
        centers=starts[win],
        rr=rr[label_beat],
        stats=segment_stats(signals),
        fs=float(fs),
        leads=list(record.leads),
        r_index=None,
        beat_offsets=offsets,
        beat_positions=r[take] - np.repeat(starts[win], counts[win]),
        beat_labels=labels[take],
    )
    info = {
        "windows": len(starts),
        "kept": len(win),
        "dropped_empty": len(starts) - len(nonempty),
        "dropped_class": int((~wanted).sum()),
    }
    return seg, info


def segment_record(record: Record, cfg: Mapping) -> tuple[SegmentSet, dict[str, int]]:
    """Dispatch on ``cfg["kind"]`` (the ``segment`` config group)."""
    cfg = dict(cfg)
    unknown = set(cfg) - set(SEGMENT_KEYS)
    if unknown:
        raise ValueError(f"segment: unknown keys {sorted(unknown)}; expected {SEGMENT_KEYS}")
    kind = cfg.get("kind", "beat")
    if kind == "beat":
        return segment_beats(
            record,
            cfg.get("pre_s", 0.25),
            cfg.get("post_s", 0.45),
            cfg.get("length"),
            cfg.get("classes"),
        )
    if kind == "rhythm":
        return segment_rhythm(
            record, cfg.get("window_s", 4.0), cfg.get("stride_s", 4.0), cfg.get("classes")
        )
    raise ValueError(f"segment.kind={kind!r}: expected one of {SEGMENT_KINDS}")
