"""Shared data types of the segmentation pipeline.

Shape contract: signals are ``[n_segments, n_leads, length]`` float32. Before
normalisation they are in millivolts; after it, in model units (see
``ecg_synth.data.preprocess``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

# AAMI EC57 beat classes, in the order every label array, figure and report uses.
AAMI_CLASSES: tuple[str, ...] = ("N", "S", "V", "F", "Q")


@dataclass
class Record:
    """One ECG recording as read from WFDB files.

    signal: ``[n_leads, n_samples]`` float64 in millivolts.
    ann_samples / ann_symbols: every annotation of the ``.atr`` file (beats and non-beats).
    """

    name: str
    fs: float
    leads: list[str]
    signal: np.ndarray
    ann_samples: np.ndarray
    ann_symbols: np.ndarray


@dataclass
class SegmentSet:
    """Segments cut from one or more records, with per-segment labels and features.

    All arrays share the first axis (one row per segment).

    signals:  [N, C, L] float32, mV (or model units once normalised)
    labels:   [N] int64, index into AAMI_CLASSES
    symbols:  [N] str, the annotation symbol (beat segments) or the dominant beat symbol
    records:  [N] str, record (= subject) name
    centers:  [N] int64, sample index in the (resampled) record of the window's R peak
              (beats) or of the window start (rhythm windows)
    rr:       [N, 3] float32, seconds: previous RR, next RR, local mean RR
    stats:    [N, 4] float32: mean, variance, skewness, kurtosis of the segment (lead 0)
    fs:       sampling rate of ``signals`` in Hz
    leads:    lead names, in channel order
    r_index:  sample of the R peak inside a beat window (None for rhythm windows)
    beat_offsets / beat_positions / beat_labels: for rhythm windows, the beats inside
              window i are ``beat_positions[beat_offsets[i]:beat_offsets[i+1]]`` (sample
              inside the window) with their AAMI ``beat_labels``; for beat windows
              ``beat_offsets`` is all zeros (length N + 1) and the others are empty.
    """

    signals: np.ndarray
    labels: np.ndarray
    symbols: np.ndarray
    records: np.ndarray
    centers: np.ndarray
    rr: np.ndarray
    stats: np.ndarray
    fs: float
    leads: list[str]
    r_index: int | None = None
    beat_offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    beat_positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    beat_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    _PER_SEGMENT = ("signals", "labels", "symbols", "records", "centers", "rr", "stats")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> SegmentSet:
        """Rows ``index`` (a boolean mask or integer indices), rhythm-window beats included."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        kw = {name: getattr(self, name)[index] for name in self._PER_SEGMENT}
        starts, ends = self.beat_offsets[:-1][index], self.beat_offsets[1:][index]
        counts = ends - starts
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        # Beat rows of the kept windows, in order, without a Python loop per window.
        take = (np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1])).astype(np.int64)
        return SegmentSet(
            **kw,
            fs=self.fs,
            leads=list(self.leads),
            r_index=self.r_index,
            beat_offsets=offsets,
            beat_positions=self.beat_positions[take],
            beat_labels=self.beat_labels[take],
        )

    @staticmethod
    def concat(parts: list[SegmentSet]) -> SegmentSet:
        """Join segment sets cut with the same settings (same fs, leads, window)."""
        if not parts:
            raise ValueError("SegmentSet.concat needs at least one part")
        first = parts[0]
        for p in parts[1:]:
            if p.fs != first.fs or p.leads != first.leads or p.r_index != first.r_index:
                raise ValueError("SegmentSet.concat: parts differ in fs, leads or r_index")
        kw = {
            name: np.concatenate([getattr(p, name) for p in parts]) for name in first._PER_SEGMENT
        }
        counts = np.concatenate([np.diff(p.beat_offsets) for p in parts])
        return SegmentSet(
            **kw,
            fs=first.fs,
            leads=list(first.leads),
            r_index=first.r_index,
            beat_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            beat_positions=np.concatenate([p.beat_positions for p in parts]).astype(np.int64),
            beat_labels=np.concatenate([p.beat_labels for p in parts]).astype(np.int64),
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for ``np.savez`` (the cache format)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["fs"] = np.asarray(self.fs)
        out["leads"] = np.asarray(self.leads)
        out["r_index"] = np.asarray(-1 if self.r_index is None else self.r_index)
        return out

    @classmethod
    def from_arrays(cls, arrays) -> SegmentSet:
        kw = {f.name: arrays[f.name] for f in fields(cls)}
        kw["fs"] = float(kw["fs"])
        kw["leads"] = [str(x) for x in kw["leads"]]
        r = int(kw["r_index"])
        kw["r_index"] = None if r < 0 else r
        return cls(**kw)
