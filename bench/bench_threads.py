"""Trainings that share the CPU's cores: what torch's thread count does to them.

    python bench/bench_threads.py [--runs 2] [--batches 150] [--dataset mitdb_shared]

Starts ``train.py`` ``--runs`` times at once (the kept MIT-BIH preset at seeds 0, 1, ...,
``--batches`` training batches each, no validation): first with torch's default thread count
(one per core in every run), then with ``num_threads`` = cores / runs; and one run alone with
the default, for reference. Prints each setting's training time per run (``metrics.json``'s
``wall_time_s``: the fit, not the start-up) and the ratio of the first two, measured in this
one invocation. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def train_at_once(
    work: Path, tag: str, runs: int, threads: int | None, args: argparse.Namespace
) -> list[float]:
    """Start ``runs`` trainings together, wait for all; their fit times in seconds."""
    procs, folders = [], []
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # torch's own default
    for seed in range(runs):
        folder = work / f"{tag}_s{seed}"
        cmd = [
            sys.executable,
            str(REPO / "train.py"),
            f"experiment={args.experiment}",
            f"dataset={args.dataset}",
            f"seed={seed}",
            "trainer.max_epochs=1",  # the trainer group sets no batch limits: add them
            f"+trainer.limit_train_batches={args.batches}",
            "+trainer.limit_val_batches=0",
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={folder}",
        ]
        if threads is not None:
            cmd.append(f"num_threads={threads}")
        log = open(work / f"{tag}_s{seed}.log", "w")  # noqa: SIM115 (closed with the process)
        procs.append((subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=log, env=env), log))
        folders.append(folder)
    for proc, log in procs:
        code = proc.wait()
        log.close()
        if code != 0:
            raise SystemExit(f"{tag}: train.py failed ({code}), see {log.name}")
    return [json.loads((f / "metrics.json").read_text())["wall_time_s"] for f in folders]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="trainings at once")
    parser.add_argument("--batches", type=int, default=150, help="training batches per run")
    parser.add_argument("--experiment", default="wgan_gp_mitdb")
    parser.add_argument("--dataset", default="mitdb_shared")
    parser.add_argument("--work", type=Path, default=None, help="run folders (default: temp)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_threads_"))
    work.mkdir(parents=True, exist_ok=True)
    split = max(1, cores // args.runs)

    alone = train_at_once(work, "alone", 1, None, args)[0]
    shared = train_at_once(work, "default", args.runs, None, args)
    split_times = train_at_once(work, "split", args.runs, split, args)
    mean = statistics.fmean
    rows = [
        ("one run alone, default threads", alone),
        (f"{args.runs} at once, default threads each (per run)", mean(shared)),
        (f"{args.runs} at once, num_threads={split} each (per run)", mean(split_times)),
    ]
    print(f"{cores} cores, {args.runs} runs at once, {args.batches} batches each ({work})")
    for label, seconds in rows:
        print(f"  {label:<45} {seconds:7.1f} s")
    print(f"  default / num_threads={split}: {mean(shared) / mean(split_times):.2f}x")


if __name__ == "__main__":
    main()
