"""ecg_synth.numerics: MKL VML's first-call race (pytorch/pytorch#188792) is settled before any
of the package's parallel float ops.

That the warm-up works is measured, not tested: the race hits about 1 fresh process in 15-40 on
this machine, and less when processes compete for the cores, so a test of it would pass by
chance without the fix. ``bench/vml_first_call.py`` counts wrong first calls with and without
it; this test keeps every torch-using module behind it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ecg_synth

PACKAGE = Path(ecg_synth.__file__).parent


def _imports_torch(path: Path) -> bool:
    """A module-level ``import torch`` / ``from torch... import`` (not one inside a function)."""
    for node in ast.parse(path.read_text()).body:
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
        if any(n == "torch" or n.startswith("torch.") for n in names):
            return True
    return False


def test_every_module_that_imports_torch_sits_in_a_subpackage_that_warms_up_vml():
    warmed = {
        init.parent
        for init in PACKAGE.glob("*/__init__.py")
        if "import ecg_synth.numerics" in init.read_text()
    }
    unguarded = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "numerics.py"
        and _imports_torch(path)
        and not any(parent in warmed for parent in path.parents)
    ]
    assert not unguarded, (
        f"{unguarded} import torch at module level outside a subpackage whose __init__ "
        "imports ecg_synth.numerics"
    )
