"""Writers of the generated-data folder. The folder's contract:

    signals.npy    float32 [N, leads, length], millivolts
    labels.npy     int64 [N], AAMI index N,S,V,F,Q = 0..4 (-1: model takes no class)
    subjects.npy   int64 [N], index into meta["subjects"] (subject-conditioned models only)
    rr.npy         float32 [N, 3], seconds: each beat's previous, next and local mean RR,
                   generated with it (models trained with generate_rr only)
    meta.json      fs, length, r_index, leads, units, model, seed, config hash, files...
    signals.csv    optional: one row per (segment, lead): segment,label,class,subject,lead,s0..
    wfdb/          optional: records ``segments_XXXX`` (segments back to back, ``.atr`` with
                   each R peak and its class symbol) and ``rhythm_XXXX`` (rhythm strips)

Every writer reads its input in slices, so a memory-mapped ``signals.npy`` of any size can
be written out without loading it whole.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import wfdb

from ecg_synth.data.types import AAMI_CLASSES

# 1 uV per ADC unit in 16-bit WFDB: +-32.7 mV of range, far beyond any ECG.
WFDB_ADC_GAIN = 1000.0
WFDB_FMT = "16"
# wfdb symbols for the AAMI classes; "Q" (unclassifiable) also marks beats of an
# unconditional model, whose class is unknown.
CLASS_SYMBOLS = {i: c for i, c in enumerate(AAMI_CLASSES)}


def open_signals(path: Path, n: int, leads: int, length: int) -> np.memmap:
    """A writable ``.npy`` memory map ``[n, leads, length]`` float32 (filled chunk by chunk)."""
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, leads, length))


def write_meta(out: Path, meta: dict) -> Path:
    path = out / "meta.json"
    path.write_text(json.dumps(meta, indent=2, default=str))
    return path


# Class names by label; index -1 (no class chosen) wraps to the last entry, "?".
CLASS_NAMES = (*AAMI_CLASSES, "?")


def write_csv(
    path: Path,
    signals: np.ndarray,
    labels: np.ndarray,
    subjects: np.ndarray | None,
    subject_names: Sequence[str],
    leads: Sequence[str],
    chunk: int = 2048,
) -> Path:
    """One row per (segment, lead): ``segment,label,class,subject,lead,s0,...`` with samples
    in mV to 5 decimals (10 nV, below any ADC step). Written ``chunk`` segments at a time."""
    import pandas as pd  # a wfdb dependency; only this optional writer needs it

    n, c, length = signals.shape
    columns = [f"s{i}" for i in range(length)]
    names = np.asarray(list(subject_names) or [""], dtype=object)
    with open(path, "w", newline="") as f:
        for start in range(0, n, chunk):
            x = np.asarray(signals[start : start + chunk])
            b = len(x)
            lab = np.repeat(labels[start : start + b], c)
            frame = pd.DataFrame(x.reshape(b * c, length), columns=columns)
            frame.insert(0, "lead", np.tile(np.asarray(leads, dtype=object), b))
            frame.insert(
                0,
                "subject",
                np.repeat(names[subjects[start : start + b]], c) if subjects is not None else "",
            )
            frame.insert(0, "class", np.asarray(CLASS_NAMES, dtype=object)[lab])
            frame.insert(0, "label", lab)
            frame.insert(0, "segment", np.repeat(np.arange(start, start + b), c))
            frame.to_csv(f, header=start == 0, index=False, float_format="%.5f")
    return path


def write_wfdb_record(
    out: Path,
    name: str,
    signal: np.ndarray,
    fs: float,
    leads: Sequence[str],
    peaks: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    comments: Sequence[str] = (),
) -> str:
    """One WFDB record ``out/name`` from ``signal [C, T]`` mV (format 16, 1000 adu/mV), and,
    with ``peaks``, an ``.atr`` annotation at each R peak with its class symbol."""
    sig = np.ascontiguousarray(signal.T, dtype=np.float64)
    peak = float(np.abs(sig).max(initial=0.0))
    if peak * WFDB_ADC_GAIN >= 32767:
        raise ValueError(
            f"WFDB record {name}: |signal| reaches {peak:.1f} mV, beyond the "
            f"+-{32767 / WFDB_ADC_GAIN:.1f} mV range of format 16 at "
            f"{WFDB_ADC_GAIN:g} adu/mV"
        )
    c = sig.shape[1]
    out.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(
        name,
        fs=float(fs),
        units=["mV"] * c,
        sig_name=list(leads),
        p_signal=sig,
        fmt=[WFDB_FMT] * c,
        adc_gain=[WFDB_ADC_GAIN] * c,
        baseline=[0] * c,
        comments=list(comments),
        write_dir=str(out),
    )
    if peaks is not None and len(peaks):
        symbols = [CLASS_SYMBOLS.get(int(v), "Q") for v in labels]
        wfdb.wrann(
            name,
            "atr",
            sample=np.asarray(peaks, dtype=np.int64),
            symbol=symbols,
            write_dir=str(out),
        )
    return name


def write_wfdb_segments(
    out: Path,
    signals: np.ndarray,
    labels: np.ndarray,
    fs: float,
    leads: Sequence[str],
    r_index: int | None,
    per_record: int = 10_000,
) -> list[str]:
    """Segments laid back to back into records of at most ``per_record`` segments
    (``segments_0000``, ...). Segment ``i`` of a record starts at sample ``i * length``; its R
    peak (``r_index`` into the window) is annotated with the class symbol. The joins are
    discontinuous: these records store segments, see ``rhythm_*`` for continuous ECG."""
    out.mkdir(parents=True, exist_ok=True)
    n, c, length = signals.shape
    names = []
    for k, start in enumerate(range(0, n, per_record)):
        x = np.asarray(signals[start : start + per_record])
        flat = x.transpose(1, 0, 2).reshape(c, -1)  # [C, b * L]
        peaks = None if r_index is None else np.arange(len(x)) * length + int(r_index)
        names.append(
            write_wfdb_record(
                out,
                f"segments_{k:04d}",
                flat,
                fs,
                leads,
                peaks,
                labels[start : start + len(x)],
                comments=[
                    f"ecg_synth generated segments {start}..{start + len(x) - 1}, "
                    f"{length} samples each, back to back"
                ],
            )
        )
    return names
