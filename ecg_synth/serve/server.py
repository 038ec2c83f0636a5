"""Run the service with uvicorn from ``conf/serve.yaml`` (``python -m ecg_synth.serve``)."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from ecg_synth.serve.app import create_app
from ecg_synth.serve.schemas import ServeSettings


def settings_from_config(cfg: DictConfig) -> ServeSettings:
    models = cfg.get("models") or {}
    if OmegaConf.is_config(models):
        models = OmegaConf.to_container(models, resolve=True)
    return ServeSettings(
        model_dir=cfg.get("model_dir"),
        models={str(k): str(v) for k, v in models.items()},
        max_n=int(cfg.limits.max_n),
        max_body_bytes=int(cfg.limits.max_body_bytes),
        workers=int(cfg.workers),
        batch_size=int(cfg.batch_size),
        wfdb_per_record=int(cfg.wfdb_per_record),
    )


def run(cfg: DictConfig) -> None:
    import torch
    import uvicorn

    if cfg.get("torch_threads"):
        # Requests already run ``workers`` at a time; intra-op threads on top of that
        # oversubscribe the cores and make small requests wait on each other.
        torch.set_num_threads(int(cfg.torch_threads))
    app = create_app(settings_from_config(cfg))
    uvicorn.run(app, host=str(cfg.host), port=int(cfg.port), log_level=str(cfg.log_level))
