"""``generate.py`` as a function of its composed Hydra config (``conf/generate.yaml``)."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ecg_synth.generation.export import export_generator
from ecg_synth.generation.loading import load_generator
from ecg_synth.generation.output import Request, Result, generate_to_folder

log = logging.getLogger(__name__)


def _plain(value):
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def request_from_config(cfg: DictConfig) -> Request:
    rhythm = _plain(cfg.get("rhythm")) or {}
    seed = cfg.seed if cfg.seed is not None else secrets.randbelow(2**32)
    return Request(
        n=cfg.n,
        classes=_plain(cfg.classes),
        subjects=_plain(cfg.subjects),
        seed=seed,
        batch_size=cfg.batch_size,
        csv=bool(cfg.csv),
        wfdb=bool(cfg.wfdb),
        wfdb_per_record=cfg.wfdb_per_record,
        figure=bool(cfg.figure),
        figure_panels=cfg.figure_panels,
        rhythm={k: v for k, v in rhythm.items() if k != "enabled"}
        if rhythm.get("enabled")
        else None,
        progress=bool(cfg.progress),
    )


def generate(cfg: DictConfig) -> Result | Path:
    """Generate into ``cfg.out_dir`` (or, with ``export=true``, export the model). Returns
    the generation result, or the export folder."""
    handle = load_generator(cfg.model_path, cfg.get("expected_kind"), cfg.get("export_name"))
    if cfg.get("export"):
        out = Path(cfg.export_dir or Path(cfg.paths.log_dir) / "export" / handle.name)
        export_generator(handle, out)
        print(f"Exported {handle.kind} model {handle.name!r} to {out}", flush=True)
        return out
    req = request_from_config(cfg)
    result = generate_to_folder(handle, cfg.out_dir, req)
    counts = {c: k for c, k in result.meta["class_counts_generated"].items() if k}
    print(
        f"Generated {req.n} segments {tuple(result.meta['shape'])} (mV) with {handle.kind} "
        f"model {handle.name!r}, seed {req.seed}, classes {counts or 'unconditional'}\n"
        f"Output folder: {result.out}\nFiles: {', '.join(result.files)}",
        flush=True,
    )
    return result
