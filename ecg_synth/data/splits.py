"""Train/val/test splits of a :class:`SegmentSet` that never leak a patient.

Modes (the ``split`` config group):

- ``inter_patient``: de Chazal et al. (2004). ``test`` = the DS2 records, ``train`` = DS1
  minus ``val_records`` DS1 records (a count, or a fraction if < 1) drawn with ``seed``
  for validation. Listed records that are not present are ignored with a log line (a
  warning for the ``explicit`` lists).
- ``random_records``: records shuffled with ``seed`` and cut by ``fractions``
  ``[train, val, test]``.
- ``explicit``: ``train`` / ``val`` / ``test`` record lists.
- ``within_record``: every record cut in time by ``fractions``: its first part trains,
  the next validates, the last tests (for subject-conditioned models, which must see every
  subject). A segment that straddles a cut is dropped, so no sample is in two splits.

In MIT-BIH one record is one patient, except records 201 and 202 (same patient): de
Chazal's lists put 201 in DS1 and 202 in DS2, a known quirk kept for comparability.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import numpy as np

from ecg_synth.data.types import SegmentSet
from ecg_synth.data.wfdb_io import DataError

log = logging.getLogger(__name__)

SPLIT_MODES = ("inter_patient", "random_records", "explicit", "within_record")
SPLITS = ("train", "val", "test")


def _names(cfg: Mapping, key: str, required: bool = False) -> list[str]:
    """Record names of ``split.<key>`` as strings (YAML reads 101 as an int)."""
    value = cfg.get(key)
    if value is None:
        if required:
            raise DataError(f"split.{key} is required for split.mode={cfg.get('mode')!r}")
        return []
    names = [str(v) for v in value]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(f"split.{key}: record(s) {twice} listed twice")
    return names


def _disjoint_lists(lists: Mapping[str, list[str]]) -> None:
    seen: dict[str, str] = {}
    for key, names in lists.items():
        for n in names:
            if n in seen:
                raise DataError(
                    f"split: record {n} listed twice, in split.{seen[n]} and split.{key}"
                )
            seen[n] = key


def _present(
    names: list[str], available: set[str], what: str, level: int = logging.INFO
) -> list[str]:
    """``names`` that are in ``available``; the others are logged at ``level`` (a warning for
    lists the user wrote, where a missing record is most likely a typo)."""
    missing = [n for n in names if n not in available]
    if missing:
        log.log(
            level,
            "split: %d record(s) of %s not present (ignored): %s",
            len(missing),
            what,
            " ".join(missing),
        )
    return [n for n in names if n in available]


def _fractions(cfg: Mapping) -> np.ndarray:
    f = np.asarray(cfg.get("fractions", (0.7, 0.15, 0.15)), dtype=np.float64)
    if f.shape != (3,) or (f < 0).any() or abs(f.sum() - 1) > 1e-6:
        raise DataError(
            f"split.fractions={cfg.get('fractions')!r}: need three non-negative "
            "numbers [train, val, test] summing to 1"
        )
    return f


def _count(value: float | int, n: int, key: str) -> int:
    """``split.<key>`` as a number of records: a fraction if below 1, else a count."""
    value = float(value)
    if value < 0 or (value >= 1 and not value.is_integer()):
        raise DataError(f"split.{key}={value}: expected a count or a fraction in [0, 1)")
    k = round(value * n) if value < 1 else int(value)
    return max(k, 1) if value > 0 and n > 2 else min(k, n)


def split_records(available: Iterable[str], cfg: Mapping) -> dict[str, list[str]]:
    """Assign the ``available`` record names to train/val/test by ``cfg["mode"]``
    (record-level modes only; ``within_record`` puts every record in every split)."""
    available = sorted(set(available))
    present = set(available)
    mode = cfg.get("mode")
    rng = np.random.default_rng(cfg.get("seed", 0))
    if mode == "inter_patient":
        ds1, ds2 = _names(cfg, "ds1", True), _names(cfg, "ds2", True)
        _disjoint_lists({"ds1": ds1, "ds2": ds2})
        ds1, ds2 = _present(ds1, present, "split.ds1"), _present(ds2, present, "split.ds2")
        other = sorted(present - set(ds1) - set(ds2))
        if other:
            log.info("split: record(s) in neither ds1 nor ds2 (ignored): %s", " ".join(other))
        ds1 = [str(x) for x in rng.permutation(sorted(ds1))]
        n_val = _count(cfg.get("val_records", 0), len(ds1), "val_records")
        out = {"train": sorted(ds1[n_val:]), "val": sorted(ds1[:n_val]), "test": sorted(ds2)}
    elif mode == "random_records":
        f = _fractions(cfg)
        order = [str(x) for x in rng.permutation(available)]
        n_val, n_test = (
            _count(v, len(order), k) if v else 0
            for v, k in ((f[1], "fractions[1]"), (f[2], "fractions[2]"))
        )
        out = {
            "val": sorted(order[:n_val]),
            "test": sorted(order[n_val : n_val + n_test]),
            "train": sorted(order[n_val + n_test :]),
        }
    elif mode == "explicit":
        lists = {s: _names(cfg, s, required=(s == "train")) for s in SPLITS}
        _disjoint_lists(lists)
        out = {s: _present(lists[s], present, f"split.{s}", logging.WARNING) for s in SPLITS}
    elif mode == "within_record":
        _fractions(cfg)
        out = {s: list(available) for s in SPLITS}
    else:
        raise DataError(f"split.mode={mode!r}: expected one of {SPLIT_MODES}")
    if not out["train"]:
        listed = f", split.train lists {_names(cfg, 'train')}" if mode == "explicit" else ""
        raise DataError(
            f"split: the train split is empty (split.mode={mode}{listed}, records present: "
            f"{available})"
        )
    for s in ("val", "test"):
        if not out[s]:
            log.warning("split: the %s split is empty (split.mode=%s)", s, mode)
    return out


def _time_split(segments: SegmentSet, fractions: np.ndarray) -> dict[str, np.ndarray]:
    """Per record, cut the span covered by its segments at the cumulative ``fractions``."""
    length = segments.signals.shape[-1]
    start = segments.centers - (segments.r_index or 0)
    end = start + length
    _, inv = np.unique(segments.records, return_inverse=True)
    inv = inv.reshape(-1)
    lo = np.full(inv.max() + 1, np.iinfo(np.int64).max)
    hi = np.full(inv.max() + 1, np.iinfo(np.int64).min)
    np.minimum.at(lo, inv, start)
    np.maximum.at(hi, inv, end)
    span = (hi - lo)[inv].astype(np.float64)
    cut1 = lo[inv] + fractions[0] * span
    cut2 = lo[inv] + (fractions[0] + fractions[1]) * span
    masks = {"train": end <= cut1, "val": (start >= cut1) & (end <= cut2), "test": start >= cut2}
    dropped = len(start) - sum(int(m.sum()) for m in masks.values())
    if dropped:
        log.info("split: %d segment(s) straddle a within_record cut and are dropped", dropped)
    return {s: np.flatnonzero(m) for s, m in masks.items()}


def split_indices(segments: SegmentSet, cfg: Mapping) -> dict[str, np.ndarray]:
    """``{"train", "val", "test"}`` -> sorted int64 indices into ``segments``, disjoint."""
    cfg = dict(cfg)
    records = segments.records.astype(str)
    assignment = split_records(np.unique(records).tolist(), cfg)
    if cfg["mode"] == "within_record":
        out = _time_split(segments, _fractions(cfg))
    else:
        out = {s: np.flatnonzero(np.isin(records, assignment[s])) for s in SPLITS}
    out = {s: idx.astype(np.int64) for s, idx in out.items()}
    if not len(out["train"]):
        raise DataError(f"split: the train split holds no segment (split.mode={cfg['mode']})")
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        if np.intersect1d(out[a], out[b]).size:  # a bug, never a user error
            raise AssertionError(f"split: {a} and {b} share segments")
    return out
