"""The models a server offers, loaded once at start from a model folder.

Each entry of the model folder becomes one model, named after it:

- ``<name>/generator.json``           an exported model (preferred: no Lightning, no pickle)
- ``<name>/checkpoints/*.ckpt``       a run folder (its best, else last checkpoint)
- ``<name>/<time>/checkpoints/...``   a folder of runs (``outputs/train/<model>-<dataset>``):
                                      the newest run that has a checkpoint
- ``<name>.ckpt``                     a checkpoint file

``models={name: path}`` adds entries by hand; a list of paths there is one ensemble model
(``ecg_synth.generation.ensemble``).

Entries that fail to load, or that are none of the above (a sweep's ``multirun/``: name its
jobs in ``models``), are logged and reported by ``GET /health`` instead of stopping the
server; a server with no model at all does not start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ecg_synth.generation.core import GenerationError, GeneratorHandle
from ecg_synth.generation.loading import EXPORT_CONFIG, load_generator

log = logging.getLogger(__name__)


@dataclass
class Registry:
    models: dict[str, GeneratorHandle] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # path -> why it was not loaded

    def add(self, name: str, path: Path | list[Path]) -> None:
        if name in self.models:
            self.skipped[str(path)] = f"a model named {name!r} is already loaded"
            return
        try:
            self.models[name] = load_generator(path, name=name)
            shown = f"[{', '.join(map(str, path))}]" if isinstance(path, list) else path
            log.info("model %s: %s (%s)", name, shown, self.models[name].kind)
        except (GenerationError, FileNotFoundError, ValueError) as e:
            log.error("model folder entry %s not loaded: %s", path, e)
            self.skipped[str(path)] = str(e)


def _newest_run(folder: Path) -> Path | None:
    runs = sorted(
        (p for p in folder.iterdir() if (p / "checkpoints").is_dir()), key=lambda p: p.name
    )
    return runs[-1] if runs else None


def discover(
    model_dir: str | Path | None, extra: dict[str, str | list[str]] | None = None
) -> Registry:
    """Load every model of ``model_dir`` (see the module docstring) and the ``extra``
    ``{name: path}`` entries (a list of paths: one ensemble). Raises GenerationError if
    nothing could be loaded."""
    reg = Registry()
    if model_dir is not None:
        root = Path(model_dir)
        if not root.is_dir():
            raise GenerationError(f"model_dir={str(root)!r} is not a folder")
        for entry in sorted(root.iterdir()):
            if entry.is_file() and entry.suffix == ".ckpt":
                reg.add(entry.stem, entry)
            elif entry.is_dir() and (
                (entry / EXPORT_CONFIG).is_file() or (entry / "checkpoints").is_dir()
            ):
                reg.add(entry.name, entry)
            elif entry.is_dir() and (run := _newest_run(entry)) is not None:
                reg.add(entry.name, run)
            else:  # e.g. outputs/train/multirun: its jobs sit one level deeper
                why = "not a model: no generator.json, checkpoints/ or run folders inside"
                log.info("model folder entry %s skipped: %s", entry, why)
                reg.skipped[str(entry)] = why
    for name, path in (extra or {}).items():
        reg.add(str(name), Path(path) if isinstance(path, str) else [Path(p) for p in path])
    if not reg.models:
        raise GenerationError(
            f"no loadable model in model_dir={model_dir!r} or models="
            f"{extra or {}}; skipped: {reg.skipped or 'nothing found'}"
        )
    return reg
