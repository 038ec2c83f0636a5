"""Time ``evaluate.py`` on the real MIT-BIH records: full and quick mode, per stage.

    python bench/bench_evaluate.py [--root ../shared/data/mitdb] [--n 10000] [--threads 2]
                                   [--modes full quick] [--work DIR]

Dataset: ``dataset=mitdb_shared`` (12 train / 4 val / 6 test records). Generated set: a
stand-in of ``--n`` held-out test beats plus white noise at 20 dB SNR, written in the
generated-folder contract (a real checkpoint would only add its sampling time). Every run
is a fresh composition of ``conf/evaluate.yaml`` through Hydra's compose API, in this
process; the data cache, the simulator baseline and the encoders live under ``--work``, so
the first mode listed pays for the encoder training (cold) and the dataset build.
Targets (2 CPU cores): full < 10 min, quick < 1 min for 10,000 generated segments.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

from ecg_synth.cli import compose_run
from ecg_synth.evaluation.pipeline import run
from ecg_synth.metrics.controls import add_noise

REPO = Path(__file__).resolve().parents[1]


def compose_eval(work: Path, run_dir: Path, overrides: list[str]) -> DictConfig:
    """``conf/evaluate.yaml`` composed as ``python evaluate.py`` would, run dir ``run_dir``."""
    return compose_run("evaluate", overrides, run_dir, root_dir=work)


def write_standin(cfg: DictConfig, out: Path, n: int, seed: int = 0) -> Path:
    """``n`` held-out test beats + noise (20 dB) as a generated folder."""
    dm = instantiate(cfg.dataset, _convert_="all")
    dm.prepare_data()
    dm.setup()
    test = dm.segments["test"]
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(test), n, replace=n > len(test))
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "signals.npy", add_noise(test.signals[idx], 20.0, rng))
    np.save(out / "labels.npy", test.labels[idx].astype(np.int64))
    meta = {
        "fs": dm.fs,
        "length": dm.length,
        "r_index": dm.r_index,
        "leads": dm.leads,
        "units": "mV",
        "model": {"name": "held-out + 20 dB noise stand-in"},
    }
    (out / "meta.json").write_text(json.dumps(meta))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--root", default=os.environ.get("ECG_SYNTH_MITDB", str(REPO.parent / "shared/data/mitdb"))
    )
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", nargs="+", default=["full", "quick"], choices=["full", "quick"])
    ap.add_argument("--work", default=None, help="data/cache/output folder (default: a temp dir)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not (Path(args.root) / "101.hea").is_file():
        raise SystemExit(f"MIT-BIH records not found in {args.root} (--root or ECG_SYNTH_MITDB)")
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_evaluate_"))
    base = [
        "dataset=mitdb_shared",
        f"dataset.source.root={Path(args.root).resolve()}",
        f"num_threads={args.threads}",
    ]
    t = time.perf_counter()
    gen = write_standin(compose_eval(work, work / "standin_run", base), work / "generated", args.n)
    print(f"stand-in written in {time.perf_counter() - t:.1f} s (dataset build included)")
    timings = {}
    for mode in args.modes:
        over = base + [f"generated={gen}", f"quick={mode == 'quick'}"]
        doc = run(compose_eval(work, work / f"run_{mode}", over))
        timings[mode] = doc["timings"]
        print(f"{mode}: {doc['timings']['total']:.1f} s; report {work / f'run_{mode}'}/report.md")
    stages = list(dict.fromkeys(k for t in timings.values() for k in t if k != "total"))
    print(
        f"\n{args.n} generated segments, dataset=mitdb_shared, {args.threads} torch threads, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(f"{'stage':<12}" + "".join(f"{m:>10}" for m in timings))
    for s in stages + ["total"]:
        print(f"{s:<12}" + "".join(f"{t.get(s, 0.0):>9.1f}s" for t in timings.values()))


if __name__ == "__main__":
    main()
