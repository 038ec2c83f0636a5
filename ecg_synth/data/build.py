"""Build (or load from cache) the segments of a database: read -> preprocess -> segment.

Cache: one ``segments-<key>.npz`` (``SegmentSet.to_arrays`` plus a JSON ``_meta``) per
configuration, ``key`` = sha256 of the canonical JSON of the record files' identity (name,
size and mtime of every ``<record>.*`` file plus a content hash of ``.hea`` and ``.atr``),
the lead choice, the preprocessing and the segmentation settings. Any change there gives
a new key, so a stale cache is never reused. Writes go to a temporary file renamed into
place (``os.replace``) under an exclusive ``fcntl.flock``, so DDP ranks (and nodes sharing
the folder: Linux NFS maps ``flock`` to POSIX locks) can all call :func:`build_segments`:
the first builds, the others wait and then load.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, ListConfig, OmegaConf

from ecg_synth.data.filters import PREPROCESS_KEYS, preprocess_record
from ecg_synth.data.segment import SEGMENT_KEYS, SEGMENT_KINDS, segment_record
from ecg_synth.data.types import SegmentSet
from ecg_synth.data.wfdb_io import DataError, ensure_downloaded, list_records, read_record

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when the code changes what a configuration produces
SOURCE_KINDS = ("wfdb", "simulated")
SOURCE_KEYS = (
    "kind",
    "root",
    "records",
    "exclude",
    "download",
    "physionet_db",
    "leads",
    "missing_lead",
    "simulator",
)


def plain(cfg: Any) -> Any:
    """OmegaConf nodes -> plain dicts/lists (resolved); other values unchanged."""
    if isinstance(cfg, DictConfig | ListConfig):
        return OmegaConf.to_container(cfg, resolve=True)
    return cfg


def check_keys(cfg: Mapping, allowed: tuple[str, ...], group: str) -> None:
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        raise DataError(f"{group}: unknown keys {unknown}; expected some of {list(allowed)}")


def resolve_path(path: str | os.PathLike) -> Path:
    """Relative paths are taken from Hydra's original working directory when Hydra runs
    (``hydra.utils.to_absolute_path``), else from the current directory."""
    return Path(os.path.normpath(to_absolute_path(str(path))))


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``path`` (created if needed), released on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def prepare_source(source: Mapping) -> tuple[Path, list[str]]:
    """Make sure the records exist (PhysioNet download or simulation) and list them."""
    kind = source.get("kind", "wfdb")
    if "root" not in source:
        raise DataError("source.root is required (the folder of the WFDB records)")
    root = resolve_path(source["root"])
    records, exclude = source.get("records"), source.get("exclude") or ()
    if kind == "simulated":
        sim = dict(source.get("simulator") or {})
        missing = [k for k in ("n_subjects", "duration_s", "fs", "seed") if k not in sim]
        if missing:
            raise DataError(f"source.simulator lacks {missing} (source.kind=simulated)")
        from ecg_synth.data.simulator import ensure_database

        names = ensure_database(root, **sim)
        return root, list_records(root, records if records is not None else names, exclude)
    if kind != "wfdb":
        raise DataError(f"source.kind={kind!r}: expected one of {SOURCE_KINDS}")
    if source.get("download", False):
        with file_lock(root.parent / f".{root.name}.download.lock"):
            ensure_downloaded(root, source.get("physionet_db") or "mitdb", records)
    return root, list_records(root, records, exclude)


def file_identity(root: Path, name: str) -> dict[str, Any]:
    """What identifies a record's files: size and mtime of each, content hash of the small
    header and annotation files (the ``.dat`` is covered by size+mtime: hashing 2 MB per
    record would dominate the warm load)."""
    out: dict[str, Any] = {}
    digest = hashlib.sha256()
    for path in sorted(root.glob(f"{name}.*")):
        st = path.stat()
        out[path.suffix] = [st.st_size, st.st_mtime_ns]
        if path.suffix in (".hea", ".atr"):
            digest.update(path.read_bytes())
    out["sha256"] = digest.hexdigest()
    return out


def _build(
    root: Path, names: list[str], source: Mapping, preprocess: Mapping, segment: Mapping
) -> tuple[SegmentSet, dict[str, Any]]:
    parts, counts, skipped = [], {}, {}
    for name in names:
        rec = read_record(
            root, name, source.get("leads") or ["MLII"], source.get("missing_lead", "skip")
        )
        if rec is None:
            skipped[name] = "missing lead"
            continue
        rec = preprocess_record(rec, preprocess)
        try:
            seg, counts[name] = segment_record(rec, segment)
        except DataError as e:
            raise DataError(f"{root / name}.hea: {e}") from e
        parts.append(seg)
    if not parts:
        raise DataError(
            f"{root}: none of the records {names} has the leads {source.get('leads') or ['MLII']}"
        )
    return SegmentSet.concat(parts), {"counts": counts, "skipped": skipped}


def _save(path: Path, segs: SegmentSet, meta: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **segs.to_arrays(), _meta=np.asarray(json.dumps(meta)))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # readers see the old state or the whole new file
    finally:
        tmp.unlink(missing_ok=True)


def _load(path: Path) -> tuple[SegmentSet, dict]:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    return SegmentSet.from_arrays(arrays), json.loads(str(arrays["_meta"]))


def build_segments(
    source: Mapping, preprocess: Mapping, segment: Mapping, cache_dir: str | os.PathLike | None
) -> tuple[SegmentSet, dict[str, Any]]:
    """Segments of every usable record (signals ``[N, C, L]`` float32 mV) and the
    fingerprint a run folder records: records used/skipped, file identities, settings,
    cache key/file and per-record counts (kept / dropped at the edges / filtered)."""
    source, preprocess, segment = plain(source), plain(preprocess or {}), plain(segment)
    check_keys(source, SOURCE_KEYS, "source")
    check_keys(preprocess, PREPROCESS_KEYS, "preprocess")
    check_keys(segment, SEGMENT_KEYS, "segment")
    if segment.get("kind", "beat") not in SEGMENT_KINDS:
        raise DataError(f"segment.kind={segment.get('kind')!r}: expected one of {SEGMENT_KINDS}")
    root, names = prepare_source(source)
    settings = {
        "version": CACHE_VERSION,
        "files": {n: file_identity(root, n) for n in names},
        "leads": list(source.get("leads") or ["MLII"]),
        "missing_lead": source.get("missing_lead", "skip"),
        "preprocess": preprocess,
        "segment": segment,
    }
    key = hashlib.sha256(
        json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()
    fingerprint = {
        "cache_key": key,
        "kind": source.get("kind", "wfdb"),
        "root": str(root),
        "records": names,
        **settings,
    }
    t0 = time.perf_counter()
    if cache_dir is None:
        segs, meta = _build(root, names, source, preprocess, segment)
        fingerprint.update(cache_file=None, cache_hit=False)
    else:
        path = resolve_path(cache_dir) / f"segments-{key[:24]}.npz"
        hit = path.exists()
        if not hit:
            with file_lock(path.with_suffix(".lock")):
                hit = path.exists()  # another rank may have built it while we waited
                if not hit:
                    segs, meta = _build(root, names, source, preprocess, segment)
                    _save(path, segs, meta)
        if hit:
            segs, meta = _load(path)
            if meta["skipped"]:  # the reader warned when it built; say it again for this run
                log.warning(
                    "records skipped (no lead %s): %s", settings["leads"], " ".join(meta["skipped"])
                )
        fingerprint.update(cache_file=str(path), cache_hit=hit)
    log.info(
        "segments: %d from %d records (%s, %.2f s)",
        len(segs),
        len(meta["counts"]),
        "cache hit" if fingerprint["cache_hit"] else "built",
        time.perf_counter() - t0,
    )
    fingerprint.update(meta)
    return segs, fingerprint
