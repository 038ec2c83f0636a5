"""Rhythm strips: consecutive generated beats joined into one continuous record.

How beats are joined:

1. RR intervals. Beat ``k``'s R peak follows beat ``k-1``'s by
   ``RR_k = base_k * pre[class_k] * post[class_{k-1}]`` seconds, where ``base_k`` is the
   sinus RR drawn from a normal distribution (``mean_s``, ``std_s``; the model's
   ``data_info["rr_stats"]`` when it records one, else the config), ``pre`` shortens the
   interval before a premature beat (S, V) and ``post`` lengthens the one after it (the
   compensatory pause after a V beat). Intervals are clipped to [``min_s``, ``max_s``].
   A model that generates each beat's RR gives both factors itself: ``pre`` is beat ``k``'s
   generated previous RR over its local mean RR (its prematurity) and ``post`` is beat
   ``k-1``'s next RR over its local mean (its pause). The beats are generated independently,
   each at its own heart rate, so only these ratios are taken from them; the strip keeps one
   sinus rhythm, ``base_k``.
2. Placement. Each segment is put so that its R peak (``r_index`` in the window) lands on its
   beat time. Only ``keep_s = (before, after)`` seconds of a window around its R peak are
   kept: a longer window (the RR-context preset's 1.25 s before, 0.75 s after) holds the
   previous beat, and at a fast rate the next one, which would otherwise be crossfaded in
   where the strip's own neighbours are not.
3. Overlap-add. Segments are weighted by a Tukey window (cosine tapers over ``taper`` of the
   window, half at each edge) and the weighted sum is divided by the summed weights. Where
   one window covers a sample its middle is the segment unchanged; where two windows overlap
   (short RR) the result is a crossfade between them.
   Over its tapers each segment fades into its own baseline (the line between the medians
   of its first and last ``edge`` samples), so every window starts and ends on a level, not
   on a noisy sample.
4. Gaps. Where no window reaches (RR longer than the window), the record is bridged linearly
   from one window's end level to the next one's start level: the isoelectric TP segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal.windows import tukey

from ecg_synth.data.types import AAMI_CLASSES


@dataclass
class RRModel:
    """RR interval model in seconds (see the module docstring)."""

    mean_s: float = 0.8
    std_s: float = 0.04
    min_s: float = 0.3
    max_s: float = 2.0
    pre: dict[str, float] = field(default_factory=lambda: {"S": 0.7, "V": 0.65, "F": 0.9})
    post: dict[str, float] = field(default_factory=lambda: {"S": 1.1, "V": 1.35})

    @classmethod
    def from_config(cls, cfg: dict | None, info: dict | None = None) -> RRModel:
        """Config values, with the training RR statistics (``info["rr_stats"]``:
        ``{"mean_s", "std_s"}``) taking precedence for the sinus rhythm when present."""
        kw = dict(cfg or {})
        stats = (info or {}).get("rr_stats") or {}
        for key in ("mean_s", "std_s"):
            if key in stats:
                kw[key] = float(stats[key])
        model = cls(**kw)
        if not 0 < model.min_s <= model.mean_s <= model.max_s or model.std_s < 0:
            raise ValueError(
                f"rhythm RR model needs 0 < min_s <= mean_s <= max_s and std_s >= 0, got {model}"
            )
        return model

    def intervals(
        self, labels: np.ndarray, rng: np.random.Generator, beat_rr: np.ndarray | None = None
    ) -> np.ndarray:
        """RR before each beat ``[B]`` (seconds; entry 0 is unused) for class labels ``[B]``;
        ``beat_rr [B, 3]``: the beats' generated RR (previous, next, local mean; seconds),
        whose ratios replace the ``pre``/``post`` tables (module docstring, step 1)."""
        base = rng.normal(self.mean_s, self.std_s, size=len(labels))
        if beat_rr is None:
            pre, post = _by_class(self.pre, labels), _by_class(self.post, labels)
        else:
            beat_rr = np.asarray(beat_rr, np.float64)
            if beat_rr.shape != (len(labels), 3) or not (beat_rr > 0).all():
                raise ValueError(
                    f"beat_rr must be {len(labels)} rows of 3 positive seconds (previous, next, "
                    f"local mean RR), got shape {beat_rr.shape}"
                )
            pre, post = beat_rr[:, 0] / beat_rr[:, 2], beat_rr[:, 1] / beat_rr[:, 2]
        rr = base * pre
        rr[1:] *= post[:-1]
        return np.clip(rr, self.min_s, self.max_s)


def check_beat_windows(r_index: int | None) -> None:
    """Strips are joined at R peaks: a model of rhythm windows (no ``r_index``) has none."""
    if r_index is None:
        raise ValueError(
            "rhythm strips need beat windows with an R peak (r_index); this "
            "model makes rhythm windows"
        )


def check_keep_s(keep_s) -> tuple[float, float] | None:
    """``rhythm.keep_s`` as ``(before, after)`` seconds around the R peak; None keeps the
    whole window."""
    if keep_s is None:
        return None
    try:
        before, after = (float(v) for v in keep_s)
    except (TypeError, ValueError):
        before = after = float("nan")
    if not (before > 0 and after > 0):
        raise ValueError(
            f"rhythm.keep_s={keep_s!r} must be two positive seconds [before, after] the R peak"
        )
    return before, after


def _by_class(table: dict[str, float], labels: np.ndarray) -> np.ndarray:
    """Each label's factor from a ``{class: factor}`` table (1 for absent classes and for
    the label -1 of an unconditional model)."""
    return np.array([table.get(c, 1.0) for c in AAMI_CLASSES] + [1.0])[labels]


def join_beats(
    segments: np.ndarray,
    peaks: np.ndarray,
    r_index: int,
    total: int,
    taper: float = 0.2,
    edge: int = 10,
) -> np.ndarray:
    """Overlap-add ``segments [B, C, L]`` with R peaks at samples ``peaks [B]`` into one
    record ``[C, total]`` (steps 3 and 4 of the module docstring):

    1. each segment fades, over its Tukey tapers, into its own baseline: the straight line
       from its start level to its end level (medians of its first / last ``edge`` samples);
    2. the faded segments are averaged with the Tukey weights (kept > 0, so a sample covered
       by one window is that window's value; overlaps crossfade);
    3. samples no window covers are interpolated linearly between the neighbouring window
       ends, i.e. between their edge levels: a straight TP segment.
    """
    b, c, length = segments.shape
    w = tukey(length, taper)
    k = min(edge, length)
    start_level = np.median(segments[:, :, :k], axis=2, keepdims=True)  # [B, C, 1]
    end_level = np.median(segments[:, :, -k:], axis=2, keepdims=True)
    baseline = start_level + (end_level - start_level) * np.linspace(0.0, 1.0, length)
    faded = w * segments + (1.0 - w) * baseline
    v = np.maximum(w, 1e-3)  # crossfade weights
    idx = (np.asarray(peaks) - r_index)[:, None] + np.arange(length)[None, :]  # [B, L]
    inside = (idx >= 0) & (idx < total)
    den = np.zeros(total)
    np.add.at(den, idx[inside], np.broadcast_to(v, idx.shape)[inside])
    num = np.zeros((c, total))
    for ch in range(c):  # leads: 1-2, not a hot loop
        np.add.at(num[ch], idx[inside], (faded[:, ch, :] * v)[inside])
    covered = den > 0
    out = np.zeros((c, total))
    out[:, covered] = num[:, covered] / den[covered]
    if not covered.all():
        t = np.arange(total)
        for ch in range(c):
            out[ch, ~covered] = np.interp(t[~covered], t[covered], out[ch, covered])
    return out.astype(np.float32)


def make_strip(
    segments: np.ndarray,
    labels: np.ndarray,
    fs: float,
    r_index: int,
    rr: RRModel,
    rng: np.random.Generator,
    taper: float = 0.2,
    beat_rr: np.ndarray | None = None,
    keep_s: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One strip from consecutive beats ``segments [B, C, L]`` with ``labels [B]`` (and
    ``beat_rr [B, 3]`` seconds when the model generated each beat's RR).
    Returns ``(signal [C, T] mV, R-peak samples [B], labels [B])``; the record starts at the
    first window's first sample and ends at the last window's last sample."""
    check_beat_windows(r_index)
    keep_s = check_keep_s(keep_s)
    if keep_s is not None:  # step 2: the beat's own P wave to T wave, no neighbour
        before, after = keep_s
        start = max(0, int(r_index) - round(before * fs))
        stop = min(segments.shape[-1], int(r_index) + round(after * fs) + 1)
        segments, r_index = segments[..., start:stop], int(r_index) - start
    length = segments.shape[-1]
    steps = np.round(rr.intervals(labels, rng, beat_rr) * fs).astype(np.int64)
    steps[0] = 0
    peaks = int(r_index) + np.cumsum(steps)
    total = int(peaks[-1] + length - r_index)
    return join_beats(segments, peaks, int(r_index), total, taper), peaks, labels
