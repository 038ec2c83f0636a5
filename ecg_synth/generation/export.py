"""Export a trained generator as a self-contained folder, and load it back.

    generator.json      format, name, kind, version; the network recipe and its constructor
                        hyperparameters; data_info (fs, window, leads, r_index, classes,
                        subjects, normaliser = the mV inverse, class counts); class and subject
                        maps; the weights file's sha256; ``config_sha256`` over all the rest
    model.safetensors   the generation network's weights (EMA weights when trained with EMA)
    MODEL_CARD.md       training data, config, metrics (run's ``metrics.json``), intended use

Loading needs neither Lightning nor unpickling: JSON, safetensors and the plain-torch network
of ``networks.py``. A weights file of another model, or an edited file, fails the hash check
with an error naming the file.

CLI: ``python -m ecg_synth.generation.export <checkpoint | run folder> <out folder> [--name N]``
(also ``python generate.py export=true model_path=... export_dir=...``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from ecg_synth.generation.core import GenerationError, GeneratorHandle
from ecg_synth.generation.loading import EXPORT_CONFIG, file_sha256

FORMAT = "ecg_synth.generator"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CARD = "MODEL_CARD.md"
log = logging.getLogger(__name__)


def _config_sha256(config: dict[str, Any]) -> str:
    body = {k: v for k, v in config.items() if k != "config_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _check_export_folder(out: Path, handle: GeneratorHandle) -> None:
    """An export goes into an empty folder or replaces an earlier export: a non-empty folder
    without ``generator.json`` is refused (its files are not ours to mix with), and replacing
    another model's export is logged."""
    if not out.is_dir() or not any(out.iterdir()):
        return
    config = out / EXPORT_CONFIG
    if not config.is_file():
        raise GenerationError(
            f"export_dir={str(out)!r} is a non-empty folder that holds no export "
            f"({EXPORT_CONFIG}); choose an empty or new folder",
            "export_dir",
        )
    try:
        old = json.loads(config.read_text())
    except (OSError, ValueError):
        old = {}
    if (old.get("name"), old.get("version")) != (handle.name, handle.version):
        log.warning(
            "%s held the export of %s (version %s); replaced by %s (version %s)",
            out,
            old.get("name"),
            old.get("version"),
            handle.name,
            handle.version,
        )


def export_generator(
    source: str | Path | GeneratorHandle, out: str | Path, name: str | None = None
) -> Path:
    """Write ``out/generator.json``, ``out/model.safetensors`` and ``out/MODEL_CARD.md`` for
    the checkpoint or run folder ``source`` (or a handle loaded from one). Returns ``out``."""
    from safetensors.torch import save_file

    from ecg_synth.generation.ensemble import EnsembleSampler
    from ecg_synth.generation.loading import load_generator, run_folder_of
    from ecg_synth.generation.model_card import write_model_card
    from ecg_synth.generation.networks import ExportedGenerator, build_network, generation_state

    handle = source if isinstance(source, GeneratorHandle) else load_generator(source, name=name)
    if isinstance(handle.model, ExportedGenerator):
        raise GenerationError(
            f"{source} is already an exported model; export a checkpoint or a run folder"
        )
    if isinstance(handle.model, EnsembleSampler):
        raise GenerationError(
            f"{handle.source} is an ensemble: export each member, then serve or generate "
            "with the list of exported folders",
            "model",
        )
    out = Path(out)
    _check_export_folder(out, handle)
    out.mkdir(parents=True, exist_ok=True)
    state = generation_state(handle.model)
    # Fail here, not at load time, if the recipe and the trained model disagree.
    build_network(handle.kind, handle.hparams, handle.info).load_state_dict(state, strict=True)
    save_file(
        state,
        str(out / WEIGHTS),
        metadata={"format": FORMAT, "kind": handle.kind, "name": handle.name},
    )
    info = handle.info
    config: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": handle.name,
        "kind": handle.kind,
        "version": handle.version,
        "source": {"checkpoint": handle.source, "sha256": file_sha256(Path(handle.source))},
        "network": {
            "recipe": handle.kind,
            "module": "ecg_synth.generation.networks",
            "hparams": handle.hparams,
        },
        "data_info": info,
        "fs": float(info["fs"]),
        "length": int(info["length"]),
        "window_s": float(info["length"]) / float(info["fs"]),
        "r_index": info.get("r_index"),
        "leads": list(info["leads"]),
        "units": "mV",
        "normalizer": info["normalizer"],
        "class_map": {c: i for i, c in enumerate(handle.classes)},
        "subject_map": {s: i for i, s in enumerate(handle.subjects)},
        "conditions": {"class": handle.use_class, "subject": handle.use_subject},
        "weights": {"file": WEIGHTS, "sha256": file_sha256(out / WEIGHTS)},
    }
    config["config_sha256"] = _config_sha256(config)
    (out / EXPORT_CONFIG).write_text(json.dumps(config, indent=2))
    write_model_card(out / CARD, config, run_folder_of(Path(handle.source)))
    return out


def read_config(folder: str | Path) -> dict[str, Any]:
    """``generator.json`` of an exported folder, checked for format and integrity."""
    path = Path(folder) / EXPORT_CONFIG
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise GenerationError(f"{path}: not a readable generator config ({e})") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise GenerationError(
            f"{path}: not an ecg_synth exported generator (format "
            f"{config.get('format') if isinstance(config, dict) else None!r})"
        )
    if config.get("format_version") != FORMAT_VERSION:
        raise GenerationError(
            f"{path}: format_version {config.get('format_version')!r}, this "
            f"version of ecg_synth reads {FORMAT_VERSION}"
        )
    if config.get("config_sha256") != _config_sha256(config):
        raise GenerationError(
            f"{path} was modified after export: its content no longer matches its config_sha256"
        )
    return config


def load_exported(folder: str | Path, name: str | None = None) -> GeneratorHandle:
    """An exported folder as a ``GeneratorHandle`` (no Lightning, no pickle)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ecg_synth.generation.networks import ExportedGenerator, build_network

    folder = Path(folder)
    config = read_config(folder)
    weights = folder / config["weights"]["file"]
    if not weights.is_file():
        raise GenerationError(f"{weights}: weights file missing")
    digest = file_sha256(weights)
    if digest != config["weights"]["sha256"]:
        raise GenerationError(
            f"{weights} does not belong to {folder / EXPORT_CONFIG}: sha256 "
            f"{digest[:16]}..., expected {config['weights']['sha256'][:16]}... "
            "(a file of another model, or a modified one)"
        )
    kind, hp, info = config["kind"], config["network"]["hparams"], config["data_info"]
    net = build_network(kind, hp, info)
    try:
        net.load_state_dict(load_file(str(weights)), strict=True)
    except (RuntimeError, SafetensorError) as e:
        raise GenerationError(
            f"{weights} does not fit the {kind} network of {folder / EXPORT_CONFIG}: {e}"
        ) from e
    conditions = config["conditions"]
    return GeneratorHandle(
        model=ExportedGenerator(net, kind, hp, info),
        info=info,
        name=name or config["name"],
        kind=kind,
        version=config["version"],
        source=str(folder),
        use_class=bool(conditions["class"]),
        use_subject=bool(conditions["subject"]),
        hparams=hp,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ecg_synth.generation.export", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("source", help="checkpoint (.ckpt) or run folder")
    parser.add_argument("out", help="folder to write the exported model into")
    parser.add_argument("--name", default=None, help="model name (default: <model>-<dataset>)")
    args = parser.parse_args(argv)
    try:
        out = export_generator(args.source, args.out, args.name)
    except (GenerationError, FileNotFoundError) as e:
        parser.exit(2, f"error: {e}\n")
    print(f"Exported to {out}: {EXPORT_CONFIG}, {WEIGHTS}, {CARD}")


if __name__ == "__main__":
    main()
