"""Process-wide numerical safeguard, applied on import by every subpackage that computes with
torch (``data``, ``models``, ``generation``, ``evaluation``, ``metrics``, ``callbacks``).

ATen computes contiguous float unary ops (``exp``, ``log``, ``tanh``, ``sqrt``, ...) with MKL
VML, each OpenMP thread on its own chunk. oneMKL 2024.2, the one in the torch 2.13 wheels,
picks each VML function's kernel on that function's first call; when that first call runs on
several threads at once, one thread can take a low-accuracy kernel for its whole chunk
(pytorch/pytorch#188792, open). Here that was the generator's output ``tanh``: about 1 process
in 15 to 60 computed half of its first batch with errors near 1e-4 instead of 3e-8, so the
same model and seed gave other signals (``bench/generation_determinism.py``). One serial call
of each function in each precision, before any parallel one, settles the choice.

``set_torch_threads`` is where a run sets torch's CPU thread count from its config, and
``check_thread_count`` is what every thread-count setting is checked with.
"""

from __future__ import annotations

import os

import torch

# The float unary ops that ATen sends to VML when MKL is present (aten/src/ATen/cpu/vml.h and
# the kernels that call it); an op that is not VML-backed here costs a microsecond, no more.
VML_OPS = (
    torch.abs, torch.acos, torch.asin, torch.atan, torch.ceil, torch.cos, torch.cosh,
    torch.erf, torch.erfc, torch.erfinv, torch.exp, torch.expm1, torch.floor, torch.lgamma,
    torch.log, torch.log10, torch.log1p, torch.log2, torch.neg, torch.reciprocal, torch.round,
    torch.rsqrt, torch.sigmoid, torch.sin, torch.sinh, torch.sqrt, torch.tan, torch.tanh,
    torch.trunc,
)  # fmt: skip


def warm_up_vml() -> None:
    """Call every VML-backed op once on one element (never split across threads), in float32
    and float64. Idempotent and about a millisecond."""
    for dtype in (torch.float32, torch.float64):
        x = torch.full((1,), 0.5, dtype=dtype)
        for op in VML_OPS:
            op(x)


def check_thread_count(n: object, field: str) -> int | None:
    """``n`` if it is a thread count (an integer >= 1) or ``None`` (torch's default); else a
    ``ValueError`` that names ``field``, the config key it came from."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"{field}={n!r} must be an integer >= 1, or null for torch's default")
    return n


def set_torch_threads(n: int | None, field: str) -> None:
    """Give torch ``n`` CPU threads for the rest of the process; ``None`` leaves its default
    (one per core). Runs that share a machine's cores should share them out: two trainings
    with two threads each on 2 cores ran 4.85x slower than with one each (bench/RESULTS.md,
    "Runs sharing the cores"). ``OMP_NUM_THREADS`` is set too, so processes started from this
    one (DDP's workers) get the same, and Lightning keeps it instead of cores / processes."""
    if check_thread_count(n, field) is None:
        return
    torch.set_num_threads(n)
    os.environ["OMP_NUM_THREADS"] = str(n)


warm_up_vml()
