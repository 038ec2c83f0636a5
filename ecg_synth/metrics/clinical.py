"""Clinical validity: R-peak position, QRS width, PR, QT, RR and heart rate, real vs generated.

Measurements (one simple, documented delineation rule applied identically to real and
generated segments, so the comparison is fair even where the rule is approximate):

- R peak (beat windows, ``r_index`` given): the largest |x - median(x)| on lead ``lead``
  within +-``r_search_ms`` of ``r_index``. ``r_offset_ms`` = found - r_index; ``r_ok`` = 1
  when |offset| <= ``r_tol_ms`` and the peak is the dominant deflection (at least
  ``r_dominance`` x the largest |x - median(x)| of the window), i.e. the beat's R is where the
  window says it is, not a P or T wave that happens to sit there.
- QRS onset/offset: on the spatial slope envelope v = sqrt(sum_leads diff(x)^2), moving
  average of ``smooth_ms``. From the steepest slope within ``slope_ms`` before R
  (onset side) and after R (offset side), walk outwards to the first place where v stays
  below ``qrs_frac`` x that peak slope for ``qrs_gap_ms`` (the gap rule steps over the
  zero-slope points at Q/R/S extremes), at most ``qrs_max_ms`` from the steepest slope.
  ``qrs_ms`` = offset - onset.
- P and T waves are measured on lead ``lead`` smoothed by a ``wave_smooth_ms`` moving average.
- Isoelectric level: the median of the lead over the 20 ms before QRS onset (PR segment).
- ``pr_ms``: P-wave peak (largest |x - isoelectric| between 300 and 40 ms before QRS onset)
  to QRS onset. A proxy for the PR interval (which starts at P onset): about half a P
  duration shorter. NaN when the window has less than 150 ms before QRS onset.
- ``qt_ms``: QRS onset to T end; T peak = largest |x - isoelectric| 80-450 ms after QRS
  offset; T end by the tangent method (steepest return slope within 150 ms after the T
  peak, intersected with the isoelectric level). NaN when the window has less than 350 ms
  after QRS offset.
- Rhythm windows (``r_index`` None): R peaks by wfdb's ``XQRS`` on lead ``lead``;
  ``hr_bpm`` = 60 / mean RR, ``rr_ms`` mean RR, ``rr_std_ms``; the beat measurements above
  on every detected beat (median per window). XQRS is a Python loop per window, so at most
  ``max_rhythm`` windows of each set are measured (seeded subsample).

Comparison (``clinical_metrics``), for each measure ``m`` and overall / per AAMI class:
``{m}_wd`` Wasserstein distance between the real and generated value distributions (units
of m; lower is better), ``{m}_in_range`` share of generated values inside real's 1st..99th
percentile (higher is better, about 0.98 for real data), ``{m}_median_real`` /
``{m}_median_gen``; these use the finite values only. Per class the keys end in
``_<class>`` (N, S, V, F, Q) and are NaN where a class is missing. Overall only:
``{m}_missing_real`` / ``{m}_missing_gen``, the share of segments where the measure is NaN
(window too short, or in rhythm windows fewer than 2 beats detected: a generated window
without detectable beats shows up here); ``r_ok_real`` / ``r_ok_gen`` (beat windows) the
share of segments whose R peak is in place (higher is better).
``plausible_gen`` / ``plausible_real``: the share of segments that pass every check at once,
each against the real set's 1st..99th percentile: R peak in place (beat windows) or heart rate
(rhythm windows), QRS width, R amplitude (beat windows) and high-frequency energy (power above
40 Hz). A missing measure fails. ``plausible_real`` scores the real set against its own
ranges (in-sample, so a little optimistic); compare a generator with the same key of real
*training* segments scored against the same reference (the evaluation's floor row).
A full delineator (neurokit2's ``ecg_delineate``) would measure P onset and T end better;
it is not a project dependency, and this rule is enough to rank generators.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.stats import wasserstein_distance
from wfdb.processing import XQRS

from ecg_synth.data.types import AAMI_CLASSES
from ecg_synth.metrics.signal import (
    check_fs,
    check_labels,
    check_pair,
    check_segments,
    smoothness_per_segment,
)

BEAT_MEASURES = ("r_offset_ms", "r_amp_mv", "qrs_ms", "pr_ms", "qt_ms")
RHYTHM_MEASURES = ("hr_bpm", "rr_ms", "rr_std_ms", "qrs_ms", "pr_ms", "qt_ms")
# Measures that must each lie in the real range for a segment to count as plausible.
PLAUSIBLE_RANGED = ("qrs_ms", "r_amp_mv", "hr_bpm", "hf_energy")


@dataclass(frozen=True)
class Delineation:
    """Parameters of the delineation rule (module docstring)."""

    lead: int = 0
    r_search_ms: float = 100.0
    r_tol_ms: float = 25.0
    r_dominance: float = 0.5
    smooth_ms: float = 8.0
    slope_ms: float = 60.0
    qrs_frac: float = 0.2
    qrs_gap_ms: float = 16.0
    qrs_max_ms: float = 120.0
    wave_smooth_ms: float = 20.0  # moving average of the lead before P and T measurements
    rhythm_before_s: float = 0.35  # beat cut around each XQRS peak in rhythm windows
    rhythm_after_s: float = 0.6


def _first(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first True per row, and whether there is one."""
    return mask.argmax(1), mask.any(1)


def _last(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return mask.shape[1] - 1 - mask[:, ::-1].argmax(1), mask.any(1)


def _argmax_in(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per row, index of the max of ``v`` in [lo, hi] (inclusive, clipped)."""
    t = np.arange(v.shape[1])
    inside = (t >= lo[:, None]) & (t <= hi[:, None])
    return np.where(inside, v, -np.inf).argmax(1)


def measure_beats(
    x, fs: float, r_index: int, d: Delineation = Delineation()
) -> dict[str, np.ndarray]:
    """Beat windows ``[N, C, L]`` (mV), R expected at sample ``r_index`` -> per-beat arrays
    ``r_ok`` (0/1), ``r_offset_ms``, ``r_amp_mv``, ``qrs_ms``, ``pr_ms``, ``qt_ms`` (``[N]``)."""
    x = check_segments(x, "x").astype(np.float64)
    fs = check_fs(fs)
    n, _, length = x.shape
    if not 0 <= r_index < length:
        raise ValueError(f"r_index: expected 0 <= r_index < {length}, got {r_index}")
    if not 0 <= d.lead < x.shape[1]:
        raise ValueError(f"lead: {d.lead} but x has {x.shape[1]} lead(s)")
    ms = fs / 1000.0
    rows = np.arange(n)
    y = x[:, d.lead] - np.median(x[:, d.lead], axis=1, keepdims=True)

    w = int(round(d.r_search_ms * ms))
    lo, hi = max(0, r_index - w), min(length - 1, r_index + w)
    r = lo + np.abs(y[:, lo : hi + 1]).argmax(1)
    offset_ms = (r - r_index) / ms
    dominant = np.abs(y[rows, r]) >= d.r_dominance * np.abs(y).max(1)

    # slope envelope v[t] ~ |x[t+1] - x[t]|, length L-1
    v = np.sqrt(np.square(np.diff(x, axis=-1)).sum(1))
    v = uniform_filter1d(v, max(1, int(round(d.smooth_ms * ms))), axis=1, mode="nearest")
    s = int(round(d.slope_ms * ms))
    a = _argmax_in(v, r - s, r)
    b = _argmax_in(v, r, r + s)
    below = v < d.qrs_frac * np.maximum(v[rows, a], v[rows, b])[:, None]
    g = max(1, int(round(d.qrs_gap_ms * ms)))
    c = np.concatenate([np.zeros((n, 1)), np.cumsum(below, axis=1)], axis=1)
    m = v.shape[1]
    run_fwd = np.zeros_like(below)  # below for g samples starting at t
    run_fwd[:, : m - g + 1] = (c[:, g:] - c[:, : m - g + 1]) == g
    run_bwd = np.zeros_like(below)  # below for g samples ending at t
    run_bwd[:, g - 1 :] = run_fwd[:, : m - g + 1]
    t = np.arange(m)
    mx = int(round(d.qrs_max_ms * ms))
    last, found = _last(run_bwd & (t < a[:, None]) & (t >= (a - mx)[:, None]))
    onset = np.where(found, last + 1, np.maximum(a - mx, 0))
    first, found = _first(run_fwd & (t > b[:, None]) & (t <= (b + mx)[:, None]))
    off = np.where(found, first, np.minimum(b + mx, length - 1))

    # P and T are slow waves: measure them on a smoothed lead so noise cannot steer the
    # peak or the tangent slope
    x0 = uniform_filter1d(
        x[:, d.lead], max(1, int(round(d.wave_smooth_ms * ms))), axis=1, mode="nearest"
    )
    # isoelectric level: median of the raw lead over the 20 ms (PR segment) before QRS onset
    pre = np.clip(onset[:, None] - np.arange(max(1, int(round(20 * ms)))), 0, length - 1)
    iso = np.median(x[rows[:, None], d.lead, pre], axis=1)
    dev = np.abs(x0 - iso[:, None])
    samples = np.arange(length)

    p_lo, p_hi = onset - int(round(300 * ms)), onset - int(round(40 * ms))
    p_mask = (samples >= np.maximum(p_lo, 0)[:, None]) & (samples <= p_hi[:, None])
    p_peak = np.where(p_mask, dev, -np.inf).argmax(1)
    pr = np.where(onset >= int(round(150 * ms)), (onset - p_peak) / ms, np.nan)

    t_lo, t_hi = off + int(round(80 * ms)), np.minimum(off + int(round(450 * ms)), length - 2)
    t_mask = (samples >= t_lo[:, None]) & (samples <= t_hi[:, None])
    t_peak = np.where(t_mask, dev, -np.inf).argmax(1)
    sign = np.sign(x0[rows, t_peak] - iso)
    dx = np.diff(x0, axis=1)  # slope at t ~ x[t+1] - x[t]
    after_t = (samples[:-1] > t_peak[:, None]) & (
        samples[:-1] <= (t_peak + int(round(150 * ms)))[:, None]
    )
    ret = np.where(after_t, -sign[:, None] * dx, -np.inf)  # slope back towards the baseline
    st = ret.argmax(1)
    slope = dx[rows, st]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_end = st + (iso - x0[rows, st]) / slope
    # no return slope (T peak at the window end, or flat): T end is the window end
    ok = np.isfinite(t_end) & np.isfinite(ret.max(1)) & (ret.max(1) > 0)
    t_end = np.clip(np.where(ok, t_end, length - 1), st, length - 1)
    qt = np.where(length - off >= int(round(350 * ms)), (t_end - onset) / ms, np.nan)

    return {
        "r_ok": ((np.abs(offset_ms) <= d.r_tol_ms) & dominant).astype(np.float64),
        "r_offset_ms": offset_ms.astype(np.float64),
        "r_amp_mv": y[rows, r],
        "qrs_ms": (off - onset) / ms,
        "pr_ms": pr,
        "qt_ms": qt,
    }


def detect_r_peaks(signal: np.ndarray, fs: float) -> np.ndarray:
    """R-peak samples of one lead ``[L]`` (mV) by wfdb's XQRS; empty when none are found."""
    xq = XQRS(sig=np.asarray(signal, dtype=np.float64), fs=fs)
    try:
        xq.detect(verbose=False)
    except (ValueError, IndexError):  # windows shorter than its filter padding (~0.3 s) raise
        return np.zeros(0, dtype=np.int64)
    return np.asarray(xq.qrs_inds, dtype=np.int64)


def measure_rhythm(x, fs: float, d: Delineation = Delineation()) -> dict[str, np.ndarray]:
    """Rhythm windows ``[N, C, L]`` (mV) -> per-window ``hr_bpm``, ``rr_ms``, ``rr_std_ms``,
    ``n_beats`` and median ``qrs_ms``, ``pr_ms``, ``qt_ms`` of the detected beats (``[N]``;
    NaN where fewer than 2 beats are found). One XQRS run per window (Python loop)."""
    x = check_segments(x, "x")
    fs = check_fs(fs)
    before, after = int(round(d.rhythm_before_s * fs)), int(round(d.rhythm_after_s * fs))
    peaks = [detect_r_peaks(seg[d.lead], fs) for seg in x]
    n_beats = np.array([len(p) for p in peaks], dtype=np.float64)
    rr = [np.diff(p) / fs * 1000 for p in peaks]
    rr_ms = np.array([r.mean() if len(r) else np.nan for r in rr])
    rr_std = np.array([r.std() if len(r) > 1 else np.nan for r in rr])
    out = {"hr_bpm": 60_000.0 / rr_ms, "rr_ms": rr_ms, "rr_std_ms": rr_std, "n_beats": n_beats}
    # cut every detected beat that fits in its window and measure all of them in one batch
    owner, starts = [], []
    for i, p in enumerate(peaks):
        p = p[(p >= before) & (p + after <= x.shape[-1])]
        owner.append(np.full(len(p), i))
        starts.append(p - before)
    owner, starts = np.concatenate(owner).astype(np.int64), np.concatenate(starts).astype(np.int64)
    for key in ("qrs_ms", "pr_ms", "qt_ms"):
        out[key] = np.full(len(x), np.nan)
    if len(owner):
        beats = x[owner[:, None], :, (starts[:, None] + np.arange(before + after))].transpose(
            0, 2, 1
        )
        m = measure_beats(beats, fs, before, d)
        for key in ("qrs_ms", "pr_ms", "qt_ms"):
            for i in np.unique(owner):  # per-window median; windows are few (subsampled)
                vals = m[key][owner == i]
                out[key][i] = np.nanmedian(vals) if np.isfinite(vals).any() else np.nan
    out["hr_bpm"][n_beats < 2] = np.nan
    return out


def _compare(real: np.ndarray, gen: np.ndarray) -> tuple[float, float, float, float]:
    """(wasserstein, in_range share, median real, median gen) over finite values; NaN when
    either side has none."""
    r, g = real[np.isfinite(real)], gen[np.isfinite(gen)]
    if len(r) == 0 or len(g) == 0:
        return (np.nan,) * 4
    lo, hi = np.percentile(r, [1, 99])
    in_range = float(((g >= lo) & (g <= hi)).mean())
    return float(wasserstein_distance(r, g)), in_range, float(np.median(r)), float(np.median(g))


def compare_measures(
    real: dict[str, np.ndarray], gen: dict[str, np.ndarray], real_labels=None, gen_labels=None
) -> dict[str, float]:
    """Distribution comparison of per-segment measures (module docstring for the keys)."""
    out: dict[str, float] = {}
    groups: list[tuple[str, np.ndarray | None, np.ndarray | None]] = [("", None, None)]
    if real_labels is not None and gen_labels is not None:
        groups += [
            (f"_{name}", real_labels == c, gen_labels == c) for c, name in enumerate(AAMI_CLASSES)
        ]
    for key in real:
        if key in ("r_ok", "n_beats"):
            continue
        for suffix, mr, mg in groups:
            r = real[key] if mr is None else real[key][mr]
            g = gen[key] if mg is None else gen[key][mg]
            wd, inr, med_r, med_g = _compare(r, g)
            out |= {
                f"{key}_wd{suffix}": wd,
                f"{key}_in_range{suffix}": inr,
                f"{key}_median_real{suffix}": med_r,
                f"{key}_median_gen{suffix}": med_g,
            }
        out[f"{key}_missing_real"] = float(np.mean(~np.isfinite(real[key])))
        out[f"{key}_missing_gen"] = float(np.mean(~np.isfinite(gen[key])))
    if "r_ok" in real:
        for suffix, mr, mg in groups:
            r = real["r_ok"] if mr is None else real["r_ok"][mr]
            g = gen["r_ok"] if mg is None else gen["r_ok"][mg]
            out[f"r_ok_real{suffix}"] = float(r.mean()) if len(r) else np.nan
            out[f"r_ok_gen{suffix}"] = float(g.mean()) if len(g) else np.nan
    return out


def plausible(
    measures: dict[str, np.ndarray], ranges: dict[str, tuple[float, float]]
) -> np.ndarray:
    """Per segment: passes every check (module docstring). ``ranges``: ``{measure: (lo, hi)}``
    of the real set; ``measures`` must hold ``r_ok`` for beat windows."""
    ok = measures["r_ok"] == 1 if "r_ok" in measures else np.ones(len(measures["qrs_ms"]), bool)
    for key, (lo, hi) in ranges.items():
        v = measures[key]
        ok &= np.isfinite(v) & (v >= lo) & (v <= hi)
    return ok


def plausible_shares(real: dict[str, np.ndarray], gen: dict[str, np.ndarray]) -> dict[str, float]:
    """``plausible_real`` / ``plausible_gen`` against the real set's 1st..99th percentiles."""
    ranges = {}
    for key in PLAUSIBLE_RANGED:
        if key in real and np.isfinite(real[key]).any():
            finite = real[key][np.isfinite(real[key])]
            ranges[key] = tuple(np.percentile(finite, [1, 99]))
    return {
        "plausible_real": float(plausible(real, ranges).mean()),
        "plausible_gen": float(plausible(gen, ranges).mean()),
    }


def clinical_metrics(
    real,
    generated,
    fs: float,
    r_index: int | None,
    real_labels=None,
    gen_labels=None,
    max_rhythm: int = 200,
    seed: int = 0,
    d: Delineation = Delineation(),
) -> dict[str, float]:
    """Clinical measures of ``generated`` vs ``real`` (``[N, C, L]`` mV) as distributions,
    overall and per AAMI class when both label arrays are given. Beat windows when
    ``r_index`` is an int, rhythm windows (XQRS, ``max_rhythm`` seeded subsample) when None."""
    real, generated = check_pair(real, generated, "real", "generated")
    fs = check_fs(fs)
    lr = None if real_labels is None else check_labels(real_labels, len(real), "real_labels")
    lg = None if gen_labels is None else check_labels(gen_labels, len(generated), "gen_labels")
    if r_index is not None:
        mr, mg = measure_beats(real, fs, r_index, d), measure_beats(generated, fs, r_index, d)
        return compare_measures(mr, mg, lr, lg) | _plausible(real, generated, fs, mr, mg)
    rng = np.random.default_rng(seed)

    def pick(x, lab):
        if len(x) <= max_rhythm:
            return x, lab
        i = np.sort(rng.choice(len(x), max_rhythm, replace=False))
        return x[i], None if lab is None else lab[i]

    (real, lr), (generated, lg) = pick(real, lr), pick(generated, lg)
    mr, mg = measure_rhythm(real, fs, d), measure_rhythm(generated, fs, d)
    return compare_measures(mr, mg, lr, lg) | _plausible(real, generated, fs, mr, mg)


def _plausible(real, generated, fs: float, mr: dict, mg: dict) -> dict[str, float]:
    """``plausible_shares`` with the high-frequency energy of each segment added."""
    hf_r = smoothness_per_segment(real, fs)["hf_energy"]
    hf_g = smoothness_per_segment(generated, fs)["hf_energy"]
    return plausible_shares(mr | {"hf_energy": hf_r}, mg | {"hf_energy": hf_g})
