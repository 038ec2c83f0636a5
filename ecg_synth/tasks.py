"""Train / generate / evaluate as importable functions of a composed Hydra config.

The top-level scripts (`train.py`, ...) are thin `@hydra.main` wrappers around these, so
tests compose the real configs and call the same code.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import hydra
import lightning.pytorch as pl
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from ecg_synth.cli import CONFIG_DIR
from ecg_synth.numerics import set_torch_threads
from ecg_synth.registry import EVALUATION_DIR, eval_metrics
from ecg_synth.run_info import write_run_info

log = logging.getLogger(__name__)


def instantiate_group(group: DictConfig | None) -> list:
    """Instantiate every node of a config group such as ``callbacks`` or ``logger``."""
    if not group:
        return []
    return [
        hydra.utils.instantiate(node, _convert_="all")
        for node in group.values()
        if isinstance(node, DictConfig) and "_target_" in node
    ]


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """The checkpoint to resume from: ``ckpt_path``, or with ``resume=true`` the ``last.ckpt``
    of ``run_dir`` or of the newest earlier run folder of the same model and dataset."""
    if cfg.get("ckpt_path"):
        path = Path(cfg.ckpt_path)
        if not path.is_file():
            raise FileNotFoundError(f"ckpt_path={cfg.ckpt_path!r}: no such checkpoint file")
        return str(path)
    if not cfg.get("resume"):
        return None
    if cfg.get("run_dir"):
        candidates = [Path(cfg.run_dir)]
    elif _in_sweep():
        # The newest sibling of a sweep job is another job of the same sweep, with other
        # settings: resuming from it would train (and report) someone else's run.
        raise ValueError(
            "resume=true finds the newest run folder next to this one, which in a sweep (-m) "
            "is another job of the sweep, with other settings; resume a job on its own with "
            "resume=true run_dir=<its folder> (or ckpt_path=<file>)"
        )
    else:
        here = Path(cfg.paths.output_dir).resolve()
        siblings = here.parent.iterdir() if here.parent.is_dir() else []
        candidates = sorted(
            (p for p in siblings if p.is_dir() and p != here), key=lambda p: p.name, reverse=True
        )
    for run in candidates:
        last = run / "checkpoints" / "last.ckpt"
        if last.is_file():
            log.info("Resuming from %s", last)
            return str(last)
    where = cfg.get("run_dir") or Path(cfg.paths.output_dir).resolve().parent
    raise FileNotFoundError(f"resume=true: no checkpoints/last.ckpt found in {where}")


# What a resumed model must share with the checkpoint's: its windows, classes and normaliser
# (the map from model units to millivolts). The class counts and RR statistics may differ.
RESUME_DATA_KEYS = ("fs", "length", "leads", "r_index", "classes", "normalizer")


def check_resume(ckpt_path: str, model) -> None:
    """A checkpoint to resume must hold this kind of model, trained on these windows with this
    normaliser. Otherwise Lightning fails on hundreds of state-dict keys (another kind), or,
    with other data, goes on training weights that now map to millivolts through another
    scale. Raises ValueError naming the checkpoint and what differs."""
    from ecg_synth.models.registry import read_checkpoint

    _, ckpt = read_checkpoint(ckpt_path, expected=model.model_kind)
    saved = ckpt["hyper_parameters"].get("data_info") or {}
    differ = [k for k in RESUME_DATA_KEYS if not _same(saved.get(k), model.data_info.get(k))]
    if differ:
        raise ValueError(
            f"checkpoint {ckpt_path} was trained on other data: "
            + "; ".join(f"{k} {saved.get(k)!r}, now {model.data_info.get(k)!r}" for k in differ)
            + ". Resume with the dataset config it was trained on, or start a new run."
        )


def _same(a, b) -> bool:
    """Equal, with floats compared to a relative 1e-6 (JSON round trips)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, (int, float))
            and isinstance(b, (int, float))
            and (math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12))
        )
    return a == b


def _in_sweep() -> bool:
    """Whether this job is one of a Hydra multirun's (``-m``)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def check_conditioning(cfg: DictConfig, datamodule) -> None:
    """A subject-conditioned model can only be validated/tested on subjects it trained on."""
    condition = str(cfg.model.get("condition", "") or "")
    if "subject" not in condition:
        return
    known = set(datamodule.subjects)
    unseen = sorted(
        {str(r) for split in ("val", "test") for r in datamodule.segments[split].records} - known
    )
    if unseen:
        raise ValueError(
            f"model.condition={condition!r} conditions on subjects, but split mode "
            f"{cfg.dataset.split.mode!r} puts records {unseen} outside the training split; "
            "use dataset.split.mode=within_record (each record split by time)"
        )


class RecordRunInfo(pl.Callback):
    """Writes ``run_info.json`` (rank zero) as the fit sets up, after Lightning's launcher has
    set each process's torch thread count (cores / processes under CPU DDP when
    ``num_threads`` is not given), so ``torch_threads`` is the count the run trains with."""

    def __init__(self, run_dir: Path, data_fingerprint: dict, extra: dict) -> None:
        self.run_dir, self.data_fingerprint, self.extra = run_dir, data_fingerprint, extra

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if trainer.is_global_zero:
            write_run_info(self.run_dir, self.data_fingerprint, self.extra)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the configured model on the configured dataset; return the final metrics."""
    set_torch_threads(cfg.get("num_threads"), "num_threads")
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    ckpt_path = resolve_ckpt_path(cfg)
    eval_cfg = evaluation_config(cfg)  # a wrong key fails here, not after training

    datamodule = hydra.utils.instantiate(cfg.dataset, _convert_="all")
    # Shapes, class/subject maps and the normaliser come from the data, so the data is set up
    # before the model is built; setup() is idempotent when the Trainer calls it again.
    datamodule.prepare_data()
    datamodule.setup("fit")
    log.info("Dataset summary\n%s", datamodule.summary())
    check_conditioning(cfg, datamodule)

    model = hydra.utils.instantiate(cfg.model, data_info=datamodule.data_info(), _convert_="all")
    if ckpt_path is not None:
        check_resume(ckpt_path, model)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    extra = {}
    if cfg.trainer.get("enable_checkpointing") is None and not any(
        isinstance(c, pl.callbacks.ModelCheckpoint) for c in callbacks
    ):
        # Lightning would add its own checkpoint under the logger's folder, where generate,
        # evaluate, the registry and resume=true never look.
        log.warning(
            "callbacks has no model_checkpoint: this run keeps no checkpoint (generate.py, "
            "evaluate.py and resume need one; callbacks=default keeps them)"
        )
        extra["enable_checkpointing"] = False
    run_dir = Path(cfg.paths.output_dir)
    run_info = RecordRunInfo(
        run_dir,
        datamodule.fingerprint,
        {"resumed_from": ckpt_path, "tags": list(cfg.get("tags") or [])},
    )
    trainer: pl.Trainer = hydra.utils.instantiate(
        cfg.trainer,
        callbacks=[*callbacks, run_info],
        logger=loggers or False,
        _convert_="all",
        **extra,
    )
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)

    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    checkpoint = next((c for c in callbacks if isinstance(c, pl.callbacks.ModelCheckpoint)), None)
    if checkpoint is not None and checkpoint.best_model_score is not None:
        metrics[f"best/{checkpoint.monitor}"] = float(checkpoint.best_model_score)
    if trainer.is_global_zero and eval_cfg is not None:
        kept = checkpoint.best_model_path if checkpoint is not None else ""
        eval_cfg.checkpoint = kept or str(run_dir)
        metrics |= evaluation_metrics(eval_cfg)
    if trainer.is_global_zero:
        _log_hparams_with_metrics(cfg, loggers, metrics)
        _print_where(run_dir, checkpoint, callbacks, loggers)
    return metrics


def evaluation_config(cfg: DictConfig) -> DictConfig | None:
    """evaluate.py's config for scoring this run once it is trained (``cfg.evaluate_after``:
    evaluate.yaml keys, e.g. ``{split: val, quick: true}``; None: no evaluation), on the run's
    own data, seed and thread count (``num_threads``, when the run sets one: parallel sweep
    jobs keep their share of the cores), written to ``<run>/evaluation``."""
    settings = cfg.get("evaluate_after")
    if settings is None:
        return None
    from ecg_synth.evaluation.pipeline import EvaluationError, check_settings

    if GlobalHydra.instance().is_initialized():  # inside train.py (@hydra.main)
        eval_cfg = compose("evaluate")
    else:  # called from Python, as the tests do
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            eval_cfg = compose("evaluate")
    with open_dict(eval_cfg):
        # Copies (interpolations kept): the run's own data, paths and output folder.
        eval_cfg.dataset = OmegaConf.to_container(cfg.dataset)
        eval_cfg.paths = OmegaConf.to_container(cfg.paths)
        eval_cfg.paths.output_dir = str(Path(cfg.paths.output_dir) / EVALUATION_DIR)
        if cfg.get("seed") is not None:
            eval_cfg.seed = cfg.seed
        if cfg.get("num_threads") is not None:
            eval_cfg.num_threads = cfg.num_threads
    for key, value in OmegaConf.to_container(settings).items():
        if OmegaConf.select(eval_cfg, key, default="<missing>") == "<missing>":
            raise KeyError(f"evaluate_after.{key}: evaluate.yaml has no key {key!r}")
        OmegaConf.update(eval_cfg, key, value, merge=True)
    try:
        check_settings(eval_cfg)
    except EvaluationError as e:
        raise EvaluationError(f"evaluate_after: {e}") from None
    return eval_cfg


def evaluation_metrics(eval_cfg: DictConfig) -> dict[str, float]:
    """Run evaluate.py's pipeline; the generated set's numbers as ``eval/<name>``, e.g.
    ``eval/fd``: a search objective nearer the quality targets than the training's
    ``val/fd``, which rewards memorising (bench/RESULTS.md, "A hyperparameter search")."""
    from ecg_synth.evaluation.pipeline import run

    return eval_metrics(run(eval_cfg))


def _log_hparams_with_metrics(cfg: DictConfig, loggers: list, metrics: dict[str, float]) -> None:
    """TensorBoard's HPARAMS view: the run's choices beside its final metrics."""
    # Resolve on the whole config: the dataset's paths interpolate ``paths.*``.
    without_hydra = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    resolved = OmegaConf.to_container(without_hydra, resolve=True)
    params = {key: resolved.get(key) for key in ("model", "dataset", "seed")}
    final = {
        f"hp/{k.replace('/', '_')}": v
        for k, v in metrics.items()
        if k.startswith(("val/", "best/", "eval/"))
    }
    for logger in loggers:
        if isinstance(logger, pl.loggers.TensorBoardLogger) and final:
            logger.log_hyperparams(params, final)  # the HPARAMS view pairs them
        else:
            logger.log_hyperparams(params)
            logger.log_metrics(final)
        logger.save()


def _print_where(run_dir: Path, checkpoint, callbacks: list, loggers: list) -> None:
    lines = [f"Run folder:   {run_dir}"]
    for logger in loggers:
        if isinstance(logger, pl.loggers.TensorBoardLogger):
            lines.append(f"TensorBoard:  tensorboard --logdir {logger.log_dir}")
    if checkpoint is not None:
        if checkpoint.best_model_path:
            lines.append(f"Best ckpt:    {checkpoint.best_model_path}")
        if checkpoint.last_model_path:
            lines.append(f"Last ckpt:    {checkpoint.last_model_path}")
    figure = next((c.latest_path for c in callbacks if getattr(c, "latest_path", None)), None)
    if figure is not None:
        lines.append(f"Figure:       {figure}")
    print("\n".join(lines), flush=True)
