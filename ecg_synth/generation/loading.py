"""Find and load a generator: a checkpoint file, a run folder, or an exported model folder."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ecg_synth.generation.core import GenerationError, GeneratorHandle
from ecg_synth.registry import configured_name, is_reference, locate
from ecg_synth.registry import run_checkpoint as registry_run_checkpoint

EXPORT_CONFIG = "generator.json"


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def run_checkpoint(run_dir: Path) -> Path:
    """A run folder's checkpoint (``ecg_synth.registry.run_checkpoint``: best, else last)."""
    ckpt = registry_run_checkpoint(run_dir)
    if ckpt is None:
        raise GenerationError(
            f"run folder {run_dir} has no checkpoints/best-*.ckpt or checkpoints/last.ckpt",
            "model",
        )
    return ckpt


def model_name(ckpt: Path) -> str:
    """A checkpoint's model name, as the registry names its run: ``<model>-<dataset>`` from
    the run's recorded config (sweep jobs included), else for a run folder named by its time
    (``<model>-<dataset>/<time>/checkpoints/x.ckpt``) its parent's name, the run folder's own
    name for other run folders, and the file's stem outside one."""
    if ckpt.parent.name != "checkpoints":
        return ckpt.stem
    run = ckpt.parent.parent
    if configured := configured_name(run):
        return configured
    timestamped = re.fullmatch(r"[\d_:.T-]+", run.name) is not None
    if timestamped and run.parent.name not in ("", ".", "multirun"):
        return run.parent.name
    return run.name


def run_folder_of(source: Path) -> Path | None:
    """The run folder a checkpoint came from, if it sits in one."""
    if source.parent.name == "checkpoints":
        return source.parent.parent
    return None


def handle_from_model(model, source: Path, name: str | None = None) -> GeneratorHandle:
    """Wrap a LightningModule (``sample``, ``hparams["data_info"]``, ``model_kind``)."""
    from ecg_synth.models.components.conditioning import parse_condition

    hparams = dict(model.hparams)
    use_class, use_subject = parse_condition(str(hparams.get("condition", "none") or "none"))
    model.eval()
    return GeneratorHandle(
        model=model,
        info=dict(hparams["data_info"]),
        name=name or model_name(source),
        kind=str(model.model_kind),
        version=f"{source.stem}-{file_sha256(source)[:12]}",
        source=str(source),
        use_class=use_class,
        use_subject=use_subject,
        hparams={k: v for k, v in hparams.items() if k != "data_info"},
    )


def load_generator(
    path: str | Path | Sequence[str | Path],
    expected_kind: str | None = None,
    name: str | None = None,
) -> GeneratorHandle:
    """Load ``path``: a ``.ckpt`` file, a run folder (best else last checkpoint) or an exported
    folder (``generator.json`` + safetensors, no Lightning, no unpickling); a list of them is
    one ensemble (``ecg_synth.generation.ensemble``), each segment drawn from one member.

    ``expected_kind`` (e.g. ``"wgan_gp"``) makes a model of another kind an error.
    """
    if not isinstance(path, str | Path):
        from ecg_synth.generation.ensemble import ensemble_handle

        handles = [load_generator(p, expected_kind) for p in path]
        handle = handles[0] if len(handles) == 1 else ensemble_handle(handles)
        return replace(handle, name=name) if name else handle
    if not Path(path).exists() and is_reference(path):  # "<name>:<version|latest|best>"
        path = locate(path)  # the run's best checkpoint; FileNotFoundError lists what exists
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"model path {str(path)!r} does not exist (expected a .ckpt file,"
            " a run folder, an exported model folder or a registry "
            "reference <name>:<version|latest|best>)"
        )
    if path.is_dir() and (path / EXPORT_CONFIG).is_file():
        from ecg_synth.generation.export import load_exported

        handle = load_exported(path, name=name)
    else:
        ckpt = run_checkpoint(path) if path.is_dir() else path
        from ecg_synth.models import load_model

        try:
            model = load_model(ckpt)
        except (KeyError, ValueError, RuntimeError, TypeError) as e:
            raise GenerationError(f"cannot load a generator from {ckpt}: {e}", "model") from e
        if not callable(getattr(model, "sample", None)):
            raise GenerationError(
                f"{ckpt} holds a {model.model_kind!r} model, which does not "
                "generate (an autoencoder is stage one of latent_cgan; "
                "generate from the latent_cgan checkpoint)",
                "model",
            )
        handle = handle_from_model(model, ckpt, name)
    if expected_kind and handle.kind != expected_kind:
        raise GenerationError(
            f"{path} holds a {handle.kind!r} model, expected {expected_kind!r}", "model"
        )
    return handle
