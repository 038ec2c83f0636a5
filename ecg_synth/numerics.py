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
"""

from __future__ import annotations

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


warm_up_vml()
