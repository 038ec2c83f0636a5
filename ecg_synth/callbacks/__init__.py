"""Lightning callbacks: checkpoints whose last.ckpt is the newest state, sample figures,
reproducible resume, throughput and memory, run metrics, mode-collapse monitoring and
sweep-trial pruning."""

import ecg_synth.numerics  # noqa: F401  (warms up MKL VML: see the module)
from ecg_synth.callbacks.checkpoint import ModelCheckpoint
from ecg_synth.callbacks.collapse import CollapseMonitor, ModeCollapseWarning
from ecg_synth.callbacks.figures import SampleFigures
from ecg_synth.callbacks.monitoring import Throughput
from ecg_synth.callbacks.pruning import TrialPruner
from ecg_synth.callbacks.rng import RNGState
from ecg_synth.callbacks.run_metrics import RunMetrics

__all__ = [
    "CollapseMonitor",
    "ModeCollapseWarning",
    "ModelCheckpoint",
    "RNGState",
    "RunMetrics",
    "SampleFigures",
    "Throughput",
    "TrialPruner",
]
