"""Run the service with uvicorn from ``conf/serve.yaml`` (``python -m ecg_synth.serve``)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

from omegaconf import DictConfig, OmegaConf

from ecg_synth.serve.app import create_app
from ecg_synth.serve.schemas import ServeSettings


def settings_from_config(cfg: DictConfig) -> ServeSettings:
    models = cfg.get("models") or {}
    if OmegaConf.is_config(models):
        models = OmegaConf.to_container(models, resolve=True)
    return ServeSettings(
        model_dir=cfg.get("model_dir"),
        # a list of paths is one ensemble model (ecg_synth.generation.ensemble)
        models={str(k): v if isinstance(v, list) else str(v) for k, v in models.items()},
        max_n=int(cfg.limits.max_n),
        max_body_bytes=int(cfg.limits.max_body_bytes),
        workers=int(cfg.workers),
        batch_size=int(cfg.batch_size),
        wfdb_per_record=int(cfg.wfdb_per_record),
    )


log = logging.getLogger(__name__)
M_TOP_PAD = -2  # glibc's mallopt parameter number (malloc.h)


def reserve_heap_top(mib: int) -> bool:
    """Ask glibc's malloc to keep ``mib`` MiB spare at the top of a heap when it grows or
    trims it. Returns whether the setting took (False on a libc without ``mallopt``).

    Why: generation runs in worker threads, whose malloc arenas give the freed activations
    back to the kernel after every request and page-fault them in again on the next one;
    with the pad a 100-segment request's generation took 2.8 ms instead of 5.3 ms
    (bench/RESULTS.md). ``MALLOC_TOP_PAD_`` in the environment does the same at start-up.
    """
    if mib <= 0:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return bool(libc.mallopt(M_TOP_PAD, int(mib) << 20))
    except (OSError, AttributeError, TypeError):
        return False


def run(cfg: DictConfig) -> None:
    import uvicorn

    from ecg_synth.numerics import set_torch_threads

    # Requests already run ``workers`` at a time; intra-op threads on top of that
    # oversubscribe the cores and make small requests wait on each other.
    set_torch_threads(cfg.get("torch_threads"), "torch_threads")
    if cfg.get("malloc_top_pad_mib") and not reserve_heap_top(int(cfg.malloc_top_pad_mib)):
        log.warning("malloc_top_pad_mib: this C library has no mallopt; setting ignored")
    app = create_app(settings_from_config(cfg))
    uvicorn.run(app, host=str(cfg.host), port=int(cfg.port), log_level=str(cfg.log_level))
