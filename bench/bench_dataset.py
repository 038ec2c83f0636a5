"""Time the beat dataset build on the real MIT-BIH records: cold, warm, and wfdb alone.

    python bench/bench_dataset.py [--root DIR] [--repeats 3]

Uses the preprocessing and segmentation of conf/dataset/mitdb.yaml on every record of the
folder (none excluded; records without MLII are skipped as in training). The bare read is
``wfdb.rdrecord`` + ``wfdb.rdann`` of the same records, run first once untimed so all three
timings see the files in the OS page cache. Targets: cold <= 5x bare read, warm < 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import wfdb
from omegaconf import OmegaConf

from ecg_synth.data.build import build_segments
from ecg_synth.data.wfdb_io import list_records

REPO = Path(__file__).resolve().parents[1]


def bare_read(root: Path, names: list[str]) -> float:
    t = time.perf_counter()
    for name in names:
        wfdb.rdrecord(str(root / name))
        wfdb.rdann(str(root / name), "atr")
    return time.perf_counter() - t


def warm_in_new_process(source: dict, preprocess: dict, segment: dict, cache: str) -> float:
    """A training run's view: a fresh interpreter (cold allocator) loading the cache.
    Imports are not timed."""
    code = (
        "import json, sys, time\n"
        "from ecg_synth.data.build import build_segments\n"
        "a = json.loads(sys.argv[1])\n"
        "t = time.perf_counter()\n"
        "_, fp = build_segments(a['source'], a['preprocess'], a['segment'], a['cache'])\n"
        "assert fp['cache_hit']\n"
        "print(time.perf_counter() - t)\n"
    )
    arg = json.dumps(
        {"source": source, "preprocess": preprocess, "segment": segment, "cache": cache}
    )
    out = subprocess.run(
        [sys.executable, "-c", code, arg], check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_root = os.environ.get("ECG_SYNTH_MITDB", REPO.parent / "shared" / "data" / "mitdb")
    parser.add_argument("--root", type=Path, default=Path(default_root))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the two records without MLII warn otherwise

    cfg = OmegaConf.load(REPO / "conf" / "dataset" / "mitdb.yaml")
    preprocess = OmegaConf.to_container(cfg.preprocess)
    segment = OmegaConf.to_container(cfg.segment)
    source = {"kind": "wfdb", "root": str(args.root), "exclude": [], "leads": ["MLII"]}
    names = list_records(args.root)

    bare_read(args.root, names)  # page cache warm-up, untimed
    bare = min(bare_read(args.root, names) for _ in range(args.repeats))
    colds, warms, fresh = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            t = time.perf_counter()
            segs, fp = build_segments(source, preprocess, segment, cache)
            colds.append(time.perf_counter() - t)
            assert not fp["cache_hit"]
            for _ in range(args.repeats):
                t = time.perf_counter()
                _, fp = build_segments(source, preprocess, segment, cache)
                warms.append(time.perf_counter() - t)
                assert fp["cache_hit"]
            fresh.append(warm_in_new_process(source, preprocess, segment, cache))
    cold, warm, new = (statistics.median(x) for x in (colds, warms, fresh))

    used = len(fp["counts"])
    print(
        f"MIT-BIH beat dataset: {len(names)} records in {args.root} ({used} with MLII), "
        f"{len(segs)} beats x {segs.signals.shape[-1]} samples, "
        f"{segs.signals.nbytes / 2**20:.0f} MiB; median of {args.repeats} runs"
    )
    print(f"{'step':<34}{'seconds':>9}{'x bare':>8}  target")
    print(f"{'bare read (rdrecord + rdann)':<34}{bare:>9.3f}{1:>8.2f}")
    print(
        f"{'cold build (read+filter+cut+save)':<34}{cold:>9.3f}{cold / bare:>8.2f}  "
        f"<= 5x bare: {'ok' if cold <= 5 * bare else 'MISSED'}"
    )
    print(
        f"{'warm build (cache hit)':<34}{warm:>9.3f}{warm / bare:>8.2f}  "
        f"< 0.5 s: {'ok' if warm < 0.5 else 'MISSED'}"
    )
    print(
        f"{'warm build, new process':<34}{new:>9.3f}{new / bare:>8.2f}  "
        f"< 0.5 s: {'ok' if new < 0.5 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
