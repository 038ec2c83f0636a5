"""Lightning callbacks: sample figures, reproducible resume, throughput and memory."""

from ecg_synth.callbacks.figures import SampleFigures
from ecg_synth.callbacks.monitoring import Throughput
from ecg_synth.callbacks.rng import RNGState

__all__ = ["RNGState", "SampleFigures", "Throughput"]
