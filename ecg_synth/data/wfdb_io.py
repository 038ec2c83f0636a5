"""Read WFDB records (MIT-BIH and alike) into :class:`Record`, with errors that name the file.

Every failure of ``wfdb`` (missing or corrupt files, truncated signals) is re-raised as
:class:`DataError`, a ``ValueError`` whose message starts with the offending path.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import wfdb

from ecg_synth.data.types import Record

log = logging.getLogger(__name__)

MISSING_LEAD_MODES = ("skip", "error")
_TO_MV = {"mv": 1.0, "uv": 1e-3, "μv": 1e-3, "µv": 1e-3, "v": 1e3}
# Bytes per stored sample of the common WFDB formats, for the truncated-file check.
_BYTES_PER_SAMPLE = {
    "8": 1,
    "16": 2,
    "24": 3,
    "32": 4,
    "61": 2,
    "80": 1,
    "160": 2,
    "212": 1.5,
    "310": 4 / 3,
    "311": 4 / 3,
}
_INCOMPLETE = ".download-incomplete"


class DataError(ValueError):
    """Bad or missing input data; the message names the file or config field."""


def list_records(
    root: Path | str, records: Iterable[str | int] | None = None, exclude: Iterable[str | int] = ()
) -> list[str]:
    """Record names under ``root``: ``records`` if given, else the ``RECORDS`` file, else
    every ``.hea``; minus ``exclude``. Names listed in ``RECORDS`` but absent are skipped
    with a warning (a subset of a database keeps the full list); explicitly requested
    records must exist."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(
            f"{root}: data folder does not exist (source.root); put the WFDB "
            "files there or set source.download=true"
        )
    excluded = {str(x) for x in exclude}
    if records is not None:
        names = [str(r) for r in records]
        absent = [n for n in names if not (root / f"{n}.hea").is_file()]
        if absent:
            raise DataError(
                f"{root}: source.records lists {absent} but there is no "
                f"{root / (absent[0] + '.hea')}"
            )
    elif (root / "RECORDS").is_file():
        names = (root / "RECORDS").read_text().split()
        absent = [n for n in names if not (root / f"{n}.hea").is_file()]
        if absent:
            log.warning(
                "%s lists %d records without a .hea here (ignored): %s",
                root / "RECORDS",
                len(absent),
                " ".join(absent),
            )
            names = [n for n in names if n not in set(absent)]
    else:
        names = sorted(p.stem for p in root.glob("*.hea"))
    names = [n for n in dict.fromkeys(names) if n not in excluded]
    if not names:
        raise DataError(
            f"{root}: no WFDB records left (no .hea files, or all excluded by "
            f"source.exclude={sorted(excluded)})"
        )
    return names


def ensure_downloaded(root: Path | str, db: str, records: Sequence[str] | None = None) -> None:
    """Fetch PhysioNet database ``db`` into ``root`` unless it already holds records.

    A marker file makes an interrupted download resume on the next call (``dl_database``
    skips complete files) instead of being mistaken for a complete folder."""
    root = Path(root)
    marker = root / _INCOMPLETE
    if root.is_dir() and any(root.glob("*.hea")) and not marker.exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    marker.touch()
    log.info("downloading PhysioNet database %r into %s", db, root)
    try:
        wfdb.dl_database(
            db,
            dl_dir=str(root),
            records="all" if records is None else [str(r) for r in records],
            annotators=["atr"],
        )
    except Exception as e:  # requests/urllib raise many types; all mean "not fetched"
        raise DataError(
            f"{root}: could not download PhysioNet database {db!r} ({type(e).__name__}: {e}). "
            f"Put its WFDB files (.hea/.dat/.atr) in {root} yourself, or check the network "
            "connection (and proxy settings) and run again."
        ) from e
    marker.unlink()


def _check_signal_files(base: Path, header: wfdb.Record) -> None:
    """Missing or truncated ``.dat`` files, caught before wfdb's opaque broadcast errors."""
    if not header.sig_len:
        return
    frame = header.samps_per_frame or [1] * header.n_sig
    offsets = header.byte_offset or [0] * header.n_sig
    per_file: dict[str, list[int]] = {}
    for i, fname in enumerate(header.file_name):
        per_file.setdefault(fname, []).append(i)
    for fname, chans in per_file.items():
        path = base.parent / fname
        if not path.is_file():
            raise DataError(f"{path}: signal file named in {base}.hea not found")
        bps = _BYTES_PER_SAMPLE.get(str(header.fmt[chans[0]]))
        if bps is None:
            continue
        per_frame = sum(frame[c] for c in chans)
        expected = (offsets[chans[0]] or 0) + math.ceil(header.sig_len * per_frame * bps)
        size = path.stat().st_size
        if size < expected:
            raise DataError(
                f"{path}: truncated signal file ({size} bytes; {base}.hea "
                f"implies {expected} for {header.sig_len} samples)"
            )


def read_header(root: Path | str, name: str) -> wfdb.Record:
    """The parsed ``<root>/<name>.hea``; :class:`DataError` naming it when absent or corrupt."""
    base = Path(root) / name
    hea = base.parent / f"{base.name}.hea"
    if not hea.is_file():
        raise DataError(f"{hea}: header file not found")
    try:
        header = wfdb.rdheader(str(base))
    except Exception as e:  # HeaderSyntaxError, IndexError, ValueError ...
        raise DataError(f"{hea}: corrupt WFDB header ({type(e).__name__}: {e})") from e
    if not header.n_sig or not header.fs:
        raise DataError(f"{hea}: corrupt WFDB header (no signals or no sampling rate)")
    return header


def read_record(
    root: Path | str, name: str, leads: Sequence[str] = ("MLII",), missing_lead: str = "skip"
) -> Record | None:
    """Read record ``name`` with ``leads`` (in this order) as channels, signal in mV.

    Returns ``None`` (after a warning naming the record and the leads it has) when a lead
    is absent and ``missing_lead="skip"``; raises :class:`DataError` with ``"error"``.
    """
    if missing_lead not in MISSING_LEAD_MODES:
        raise DataError(
            f"source.missing_lead={missing_lead!r}: expected one of {MISSING_LEAD_MODES}"
        )
    leads = list(leads)
    if not leads:
        raise DataError("source.leads is empty: name at least one lead, e.g. [MLII]")
    base = Path(root) / name
    header = read_header(root, name)
    have = list(header.sig_name or [])
    absent = [lead for lead in leads if lead not in have]
    if absent:
        msg = f"{base}.hea: record {name} has no lead {absent}; it has {have}"
        if missing_lead == "error":
            raise DataError(msg + " (source.missing_lead=error)")
        log.warning("%s; skipping it (source.missing_lead=skip)", msg)
        return None
    atr = base.parent / f"{base.name}.atr"
    if not atr.is_file():
        raise DataError(f"{atr}: annotation file not found (beat labels are needed)")
    _check_signal_files(base, header)
    try:
        rec = wfdb.rdrecord(str(base), channels=[have.index(lead) for lead in leads])
    except Exception as e:
        raise DataError(f"{base}.dat: unreadable signal ({type(e).__name__}: {e})") from e
    try:
        ann = wfdb.rdann(str(base), "atr")
    except Exception as e:
        raise DataError(f"{atr}: corrupt annotation file ({type(e).__name__}: {e})") from e

    scale = np.array([_TO_MV.get((u or "mV").strip().lower(), np.nan) for u in rec.units])
    if np.isnan(scale).any():
        raise DataError(f"{base}.hea: units {rec.units} are not a voltage (mV, uV or V)")
    signal = rec.p_signal.T * scale[:, None]  # [C, n] mV
    if np.isnan(signal).any():
        # WFDB marks invalid samples as NaN; bridge them so filters do not spread NaN.
        log.warning("%s: %d invalid samples interpolated", base, int(np.isnan(signal).sum()))
        t = np.arange(signal.shape[1])
        for c, x in enumerate(signal):
            bad = np.isnan(x)
            if bad.all():
                raise DataError(f"{base}.dat: lead {leads[c]} holds no valid sample")
            signal[c, bad] = np.interp(t[bad], t[~bad], x[~bad])
    samples = np.asarray(ann.sample, dtype=np.int64)
    symbols = np.asarray(ann.symbol, dtype=str)
    order = np.argsort(samples, kind="stable")  # segmentation relies on time order
    samples, symbols = samples[order], symbols[order]
    keep = (samples >= 0) & (samples < signal.shape[1])
    return Record(
        name=name,
        fs=float(rec.fs),
        leads=leads,
        signal=np.ascontiguousarray(signal, dtype=np.float64),
        ann_samples=samples[keep],
        ann_symbols=symbols[keep],
    )
