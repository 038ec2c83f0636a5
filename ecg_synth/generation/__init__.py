"""Generate synthetic ECG from a trained model, write it, plot it, export the model.

- ``load_generator(path)``: a checkpoint, a run folder or an exported folder -> handle
- ``generate_arrays(handle, n, classes, subjects, seed)``: in memory, ``[n, C, L]`` mV,
  the plan and the RR ``[n, 3]`` s (None unless the model generates RR)
- ``generate_to_folder(handle, out, Request(...))``: ``signals.npy``, ``labels.npy``,
  ``meta.json`` (``rr.npy`` when the model generates RR) and optional CSV, WFDB, figure,
  rhythm strips (contract: ``writers``)
- ``export_generator(source, out)`` / ``load_exported(folder)``: safetensors + JSON
"""

import ecg_synth.numerics  # noqa: F401  (warms up MKL VML: see the module)
from ecg_synth.generation.core import (
    DEFAULT_BATCH_SIZE,
    GenerationError,
    GeneratorHandle,
    Plan,
    generate_arrays,
    iter_chunks,
    plan,
)
from ecg_synth.generation.export import export_generator, load_exported
from ecg_synth.generation.loading import load_generator
from ecg_synth.generation.output import Request, Result, generate_to_folder

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "GenerationError",
    "GeneratorHandle",
    "Plan",
    "Request",
    "Result",
    "export_generator",
    "generate_arrays",
    "generate_to_folder",
    "iter_chunks",
    "load_exported",
    "load_generator",
    "plan",
]
