"""The sets that the detector diagnostics (detector_features.py, detector_regions.py) score:
runs named on the command line, and real data cut in the first run's window, as evaluate.py
cuts and samples them."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from ecg_synth.cli import compose_config
from ecg_synth.data.types import SegmentSet
from ecg_synth.evaluation import baselines as bl
from ecg_synth.evaluation.inputs import EvalSet, WindowSpec, generate_from_checkpoint
from ecg_synth.evaluation.pipeline import load_real_in_model_window, mix_labels


def add_run_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--split", default="test", choices=["test", "val"])
    ap.add_argument("--seed", type=int, default=0, help="evaluation seed")
    ap.add_argument("--n", type=int, default=4000, help="segments per set")
    ap.add_argument("--set", nargs="*", default=[], help="evaluate.yaml overrides, key=value")


@dataclass
class Sets:
    cfg: DictConfig  # the composed evaluate.yaml
    spec: WindowSpec
    heldout: SegmentSet
    ref_index: np.ndarray  # evaluate.py's reference half of ``heldout``
    floor: EvalSet  # real training segments with the held-out class mix
    generated: dict[str, EvalSet]  # run folder name -> its beats, held-out class mix


def load_sets(args: argparse.Namespace) -> Sets:
    overrides = [f"split={args.split}", f"checkpoint={args.runs[0]}", *args.set]
    cfg = compose_config("evaluate", ["dataset=mitdb_shared", *overrides])
    _, train, heldout, spec = load_real_in_model_window(cfg)  # the first run's window
    ref_index, _ = bl.split_heldout(heldout, float(cfg.reference_fraction), args.seed)
    floor = bl.floor_set(train, mix_labels(heldout.labels, args.n, args.seed + 1), args.seed)
    generated = {
        run.name: generate_from_checkpoint(run, spec, heldout.labels, args.n, args.seed)
        for run in args.runs
    }
    return Sets(cfg, spec, heldout, ref_index, floor, generated)
