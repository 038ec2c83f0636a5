"""Retrain the documented experiments on a stated CPU budget, evaluate them, and rebuild the
results table and figures (``results/RESULTS.md``, ``results/figures/``):

    python -m ecg_synth.reproduce                         # budget=10m per training, eval=full
    python -m ecg_synth.reproduce budget=2m eval=quick datasets=[simulated]

Options (``key=value``, OmegaConf dotlist syntax; fields of ``ReproduceConfig``):

- ``budget``: wall-clock cap of each training run (``trainer.max_time``), e.g. ``30s``,
  ``10m``, ``1h``; the experiment's own ``max_epochs`` caps it too, whichever comes first.
- ``eval``: ``full`` | ``quick`` | ``none`` (``evaluate.py quick=...``).
- ``methods``: of ``gan``, ``wgan_gp``, ``wgan_gp_context`` (MIT-BIH only: 2 s windows with
  the previous beat) and ``latent_cgan`` (trains its autoencoder first); ``EXPERIMENTS`` names
  each one's preset per dataset, and a method without one for a dataset is skipped, noted.
- ``datasets``: ``simulated`` (offline, ``experiment=<method>_sim``) and ``mitdb``
  (``experiment=<method>_mitdb``: ``data/mitdb`` when it holds records, else the 26-record
  copy in ``../shared/data/mitdb`` through ``dataset=mitdb_shared``; skipped when neither).
  A method whose windows differ from the first method's gets its own floor row: a floor is
  only comparable on the same windows.
- ``train_overrides`` / ``eval_overrides``: extra Hydra overrides (``[debug=tiny]``).
- ``seeds``: one run of every step per seed (``seeds=[0,1,2]``): the table shows the mean
  and, with several seeds, ``± sd`` (sample standard deviation) of every number. Each seed
  fixes the split-independent randomness of training and of the evaluation (its classifiers
  and detectors); the split itself is fixed by the dataset config.
- ``out`` (``results``), ``runs`` (``$ECG_SYNTH_ROOT/outputs/reproduce``).
- ``readme`` (``auto``; a path; ``readme=`` for none): the file's block between
  ``<!-- reproduce:table -->`` and ``<!-- /reproduce:table -->`` is replaced by the MIT-BIH
  table (else the first dataset's) with the command, date, hardware and time, so the
  README's table is always this command's. ``auto`` writes ``README.md`` only for a complete
  run (MIT-BIH trained, every method, full evaluation, no overrides): a smoke or partial run
  must not replace the published table, which the README's text describes.

Every step runs in this process through the same configs and functions as ``train.py`` and
``evaluate.py`` (composed with Hydra's compose API, ``.hydra/`` written as Hydra would), so
its run folders are ordinary runs that ``python -m ecg_synth.registry list`` shows; the
equivalent command line of each step is in RESULTS.md. A failed step is reported in the
table and the exit status, and the others still run.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from ecg_synth.run_info import REPO_ROOT, code_version

log = logging.getLogger("ecg_synth.reproduce")

METHODS = ("gan", "wgan_gp", "wgan_gp_context", "latent_cgan")
DATASETS = ("simulated", "mitdb")
# The experiment preset of every (method, dataset); "autoencoder" is latent_cgan's first stage.
EXPERIMENTS = {
    "gan": {"simulated": "gan_sim", "mitdb": "gan_mitdb"},
    "wgan_gp": {"simulated": "wgan_gp_sim", "mitdb": "wgan_gp_mitdb"},
    "wgan_gp_context": {"mitdb": "wgan_gp_mitdb_context"},
    "latent_cgan": {"simulated": "latent_cgan_sim", "mitdb": "latent_cgan_mitdb"},
    "autoencoder": {"simulated": "autoencoder_sim", "mitdb": "autoencoder_mitdb"},
}
# (metrics.json key of evaluate.py, column title): the quality issue's lines, each beside
# its real-vs-real floor row.
EVAL_COLUMNS = [
    ("fd", "FD emb. ↓"),
    ("recall", "recall ↑"),
    ("coverage", "coverage ↑"),
    ("modes_ratio", "modes / real ↑"),
    ("cnn_auc", "CNN detector AUC ↓"),
    ("svm_shape_auc", "SVM shape AUC ↓"),
    ("svm_amplitude_auc", "SVM mV AUC ↓"),
    ("nn_ratio", "NN ratio ↑"),
    ("copy_share", "copies ↓"),
    ("plausible_gen", "plausible ↑"),
    ("tstr_macro_f1", "TSTR macro-F1 ↑"),
    ("aug_gain_macro_f1", "aug. gain ↑"),
]


@dataclass
class ReproduceConfig:
    budget: str = "10m"
    eval: str = "full"
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    datasets: list[str] = field(default_factory=lambda: list(DATASETS))
    train_overrides: list[str] = field(default_factory=list)
    eval_overrides: list[str] = field(default_factory=list)
    out: str = "results"
    runs: str | None = None
    readme: str | None = "auto"
    seeds: list[int] = field(default_factory=lambda: [42])


@dataclass
class Step:
    """One training (and its evaluation) of the results table."""

    dataset: str
    method: str
    seed: int = 0
    command: str = ""
    run_dir: Path | None = None
    train_s: float = 0.0
    cpu_s: float = 0.0
    train_metrics: dict = field(default_factory=dict)
    eval_command: str = ""
    eval_dir: Path | None = None
    eval_s: float = 0.0
    eval_doc: dict | None = None
    error: str | None = None
    figures: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------ options
def parse_budget(budget: str | float) -> int:
    """``"30s"`` / ``"10m"`` / ``"1.5h"`` / seconds -> whole seconds (>= 1)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(budget))
    if not m:
        raise ValueError(f"budget={budget!r}: expected a duration such as 30s, 10m or 1h")
    seconds = float(m[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[m[2]]
    if seconds < 1:
        raise ValueError(f"budget={budget!r}: at least one second")
    return int(round(seconds))


def max_time(seconds: int) -> str:
    """Lightning's ``max_time`` string ``DD:HH:MM:SS``."""
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"{d:02d}:{h:02d}:{m:02d}:{s:02d}"


def load_config(argv: list[str]) -> ReproduceConfig:
    """``key=value`` arguments over the defaults, type-checked by OmegaConf."""
    base = OmegaConf.structured(ReproduceConfig)
    cfg = OmegaConf.merge(base, OmegaConf.from_dotlist(list(argv)))
    out: ReproduceConfig = OmegaConf.to_object(cfg)
    bad = sorted(set(out.methods) - set(METHODS)) + sorted(set(out.datasets) - set(DATASETS))
    if bad:
        raise ValueError(
            f"unknown methods/datasets {bad}; methods: {list(METHODS)}, datasets: {list(DATASETS)}"
        )
    if not out.seeds or len(set(out.seeds)) != len(out.seeds):
        raise ValueError(f"seeds={out.seeds}: expected one or more distinct seeds")
    if out.eval not in ("full", "quick", "none"):
        raise ValueError(f"eval={out.eval!r}: expected full, quick or none")
    parse_budget(out.budget)
    return out


def mitdb_choice(root: Path) -> tuple[str | None, str]:
    """The dataset option for MIT-BIH: ``mitdb`` (``<root>/data/mitdb`` has records),
    ``mitdb_shared`` (``$ECG_SYNTH_MITDB`` or ``../shared/data/mitdb``), or None; and why."""
    local = root / "data" / "mitdb"
    if any(local.glob("*.hea")):
        return "mitdb", f"{local} (dataset=mitdb)"
    shared = Path(os.environ.get("ECG_SYNTH_MITDB", REPO_ROOT.parent / "shared/data/mitdb"))
    if any(shared.glob("*.hea")):
        return "mitdb_shared", f"{shared} (dataset=mitdb_shared, 26 records)"
    return None, f"neither {local} nor {shared} holds WFDB records"


# ------------------------------------------------------------------------------ hydra
def compose_at(config_name: str, overrides: list[str], out_dir: Path) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` as the entry script would, with its output
    folder ``out_dir``, and write ``.hydra/`` (config, hydra, overrides) there."""
    from ecg_synth.cli import compose_run

    cfg = compose_run(config_name, overrides, out_dir)
    meta = out_dir / ".hydra"
    meta.mkdir(parents=True, exist_ok=True)
    task = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    OmegaConf.save(task, meta / "config.yaml")
    OmegaConf.save(OmegaConf.create({"hydra": cfg.hydra}), meta / "hydra.yaml")
    OmegaConf.save(OmegaConf.create(list(overrides)), meta / "overrides.yaml")
    return cfg


class _LogFile:
    """Also log to ``path`` while a step runs (Hydra's job logging does that for the CLI)."""

    def __init__(self, path: Path) -> None:
        self.handler = logging.FileHandler(path)
        self.handler.setFormatter(
            logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
        )

    def __enter__(self) -> None:
        logging.getLogger().addHandler(self.handler)

    def __exit__(self, *exc: Any) -> None:
        logging.getLogger().removeHandler(self.handler)
        self.handler.close()


def _command(script: str, overrides: list[str]) -> str:
    return " ".join(
        ["python", script, *(f"'{o}'" if re.search(r"[\[\]{}, ]", o) else o for o in overrides)]
    )


# ------------------------------------------------------------------------------ steps
def train_step(step: Step, overrides: list[str], run_dir: Path) -> DictConfig:
    """Train in-process; fills the step's timing and metrics; returns the composed config."""
    from ecg_synth import tasks
    from ecg_synth.registry import read_metrics

    step.command = _command("train.py", [*overrides, f"hydra.run.dir={run_dir}"])
    step.run_dir = run_dir
    cfg = compose_at("train", overrides, run_dir)
    t0, c0 = time.perf_counter(), time.process_time()
    with _LogFile(run_dir / "train.log"):
        log.info("training %s / %s: %s", step.dataset, step.method, step.command)
        tasks.train(cfg)
    step.train_s, step.cpu_s = time.perf_counter() - t0, time.process_time() - c0
    step.train_metrics = read_metrics(run_dir) or {}
    return cfg


def best_checkpoint(run_dir: Path) -> Path:
    from ecg_synth.registry import read_run

    ckpt = read_run(run_dir).checkpoint
    if ckpt is None:
        raise RuntimeError(f"{run_dir} produced no checkpoint")
    return ckpt


def eval_step(step: Step, train_cfg: DictConfig, rc: ReproduceConfig, eval_dir: Path) -> None:
    """Evaluate the step's run with the dataset it was trained on."""
    from ecg_synth.evaluation.pipeline import run as evaluate

    # The training config's dataset node, resolved while its Hydra context is current:
    # the evaluation must see the very split and window the model was trained on.
    dataset = OmegaConf.create(OmegaConf.to_container(train_cfg.dataset, resolve=True))
    overrides = [
        f"checkpoint={step.run_dir}",
        f"quick={str(rc.eval == 'quick').lower()}",
        f"dataset={train_cfg.hydra.runtime.choices.dataset}",
        f"seed={step.seed}",
        *rc.eval_overrides,
    ]
    step.eval_command = _command("evaluate.py", [*overrides, f"hydra.run.dir={eval_dir}"])
    step.eval_dir = eval_dir
    cfg = compose_at("evaluate", overrides, eval_dir)
    with open_dict(cfg):
        cfg.dataset = dataset
    t0 = time.perf_counter()
    with _LogFile(eval_dir / "evaluate.log"):
        step.eval_doc = evaluate(cfg)
    step.eval_s = time.perf_counter() - t0


def copy_figures(step: Step, fig_dir: Path) -> None:
    """The step's training and evaluation figures, as ``<dataset>_<method>_<name>.png``."""
    stem = f"{step.dataset}_{step.method}"
    found = {"samples": step.run_dir / "figures" / "samples_latest.png"} if step.run_dir else {}
    if step.eval_dir is not None:
        found |= {p.stem: p for p in sorted((step.eval_dir / "figures").glob("*.png"))}
    for name, src in found.items():
        if src.is_file():
            shutil.copyfile(src, fig_dir / f"{stem}_{name}.png")
            step.figures[name] = f"figures/{stem}_{name}.png"


def curves_figure(steps: list[Step], dataset: str, path: Path) -> bool:
    """val/fd against epoch for every method of ``dataset`` (from metrics.json histories)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    drawn = False
    for s in steps:
        rows = [r for r in s.train_metrics.get("history", []) if "val/fd" in r]
        if s.dataset == dataset and rows:
            ax.plot(
                [r["epoch"] for r in rows],
                [r["val/fd"] for r in rows],
                marker="o",
                ms=3,
                label=s.method,
            )
            drawn = True
    if drawn:
        ax.set(
            xlabel="epoch",
            ylabel="val/fd (waveform features)",
            yscale="log",
            title=f"validation distance during training, {dataset}",
        )
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=90)
    plt.close(fig)
    return drawn


# ------------------------------------------------------------------------------ report
def hardware() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        names = re.findall(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = names[0].strip() if names else cpu
    except OSError:
        pass
    ram = (
        os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        if hasattr(os, "sysconf")
        else float("nan")
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(ram, 1),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "**yes**" if v else "no"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _agg(values: list[Any]) -> str:
    """One cell over seeds: the value itself for one seed; ``mean ± sd`` of the numbers
    (``k/n`` for flags: how many seeds raised it) for several."""
    if len(values) == 1:
        return _fmt(values[0])
    present = [v for v in values if v is not None]
    if not present:
        return "–"
    if all(isinstance(v, bool) for v in present):
        return f"{sum(present)}/{len(present)}"
    nums = np.asarray([float(v) for v in present if isinstance(v, int | float)])
    nums = nums[np.isfinite(nums)]
    if len(nums) == 0:
        return "–"
    sd = f" ± {nums.std(ddof=1):.2g}" if len(nums) > 1 else ""
    return f"{nums.mean():.3g}{sd}" + ("" if len(nums) == len(values) else f" (n={len(nums)})")


def _cells(docs: list[dict]) -> list[str]:
    return [
        *[_agg([d.get(k) for d in docs]) for k, _ in EVAL_COLUMNS],
        _agg([d.get("collapsed") for d in docs]),
        _agg([d.get("memorizing") for d in docs]),
    ]


def results_table(steps: list[Step]) -> list[str]:
    """One row per method (over its seeds), then evaluate.py's baselines and the floor."""
    cols = [
        "method",
        "epochs",
        "train (s)",
        "best val ↓",
        *[t for _, t in EVAL_COLUMNS],
        "collapsed",
        "memorizing",
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for method in dict.fromkeys(s.method for s in steps):
        runs = [s for s in steps if s.method == method]
        failed = [s for s in runs if s.error is not None]
        name = method
        if failed:
            name += f" (failed: {failed[0].error}" + (
                f"; {len(failed)} of {len(runs)} seeds)" if len(runs) > 1 else ")"
            )
        best = _agg([(s.train_metrics.get("best") or {}).get("value") for s in runs])
        monitor = runs[0].train_metrics.get("monitor", "val/fd")
        best += "" if monitor == "val/fd" or best == "–" else f" ({monitor})"
        cells = [
            name,
            _agg([s.train_metrics.get("epochs") for s in runs]),
            _agg([round(s.train_s) for s in runs]),
            best,
            *_cells([(s.eval_doc or {}).get("generated", {}) for s in runs]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    # Reference rows: what evaluate.py scored beside the models (same held-out reference),
    # from the first method's evaluation of every seed; then the floor of every method that
    # cuts other windows (the context preset's 2 s at 128 Hz), as its numbers compare to that.
    evaluated = list(dict.fromkeys(s.method for s in steps if s.eval_doc))
    docs_of = {m: [s.eval_doc for s in steps if s.method == m and s.eval_doc] for m in evaluated}
    docs = docs_of[evaluated[0]] if evaluated else []
    references = {}
    for name in docs[0].get("baselines", {}) if docs else ():
        references[f"*baseline: {name}*"] = [d["baselines"].get(name, {}) for d in docs]
    if docs and "floor" in docs[0]:
        references["*floor: real train vs held-out*"] = [d["floor"] for d in docs]
    for method in evaluated[1:]:
        own = docs_of[method]
        if _window(own[0]) != _window(docs[0]) and "floor" in own[0]:
            fs, length, _ = _window(own[0])
            name = f"*floor on {method}'s windows ({length} samples at {_fmt(fs)} Hz)*"
            references[name] = [d["floor"] for d in own]
    for name, scores in references.items():
        lines.append("| " + " | ".join([name, "", "", "", *_cells(scores)]) + " |")
    return lines


def _window(doc: dict) -> tuple:
    meta = doc.get("meta", {})
    return meta.get("fs"), meta.get("length"), meta.get("r_index")


def write_results(
    rc: ReproduceConfig,
    argv: list[str],
    steps: list[Step],
    notes: list[str],
    wall_s: float,
    out: Path,
) -> Path:
    hw, code = hardware(), code_version()
    seconds = parse_budget(rc.budget)
    command = " ".join(["python -m ecg_synth.reproduce", *argv])
    lines = [
        "# Results",
        "",
        f"Rebuilt by `{command}` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; do not edit by hand.",
        "",
        f"- Hardware: {hw['cpu']}, {hw['cores']} cores, {hw['ram_gb']} GiB RAM, no GPU used; "
        f"torch {hw['torch']} with {hw['torch_threads']} threads; {hw['os']}.",
        f"- Budget: at most {seconds} s of wall-clock training per run (`trainer.max_time="
        f"{max_time(seconds)}`) and the experiment's `max_epochs`; evaluation `{rc.eval}`.",
        f"- Seeds: {', '.join(map(str, rc.seeds))}"
        + (" (cells: mean ± sample sd over seeds)." if len(rc.seeds) > 1 else "."),
        f"- Total wall time: {wall_s / 60:.1f} min. Code: {code['commit'][:12]}"
        + (" (uncommitted changes)" if code["dirty"] else "")
        + ".",
        "- Metrics: `best val` is the training-time validation value of the kept checkpoint "
        "(`val/fd` on waveform features; `val/rmse` for the autoencoder); the other "
        "columns come from `evaluate.py` on the held-out test split (learned embedding; "
        "see its report.md for every metric). The floor row scores real training beats "
        "against the same reference.",
    ]
    for note in notes:
        lines.append(f"- {note}")
    for dataset in dict.fromkeys(s.dataset for s in steps):
        rows = [s for s in steps if s.dataset == dataset]
        lines += ["", f"## {dataset}", "", *results_table(rows)]
        curve = f"figures/{dataset}_val_fd.png"
        if curves_figure([s for s in rows if s.seed == rc.seeds[0]], dataset, out / curve):
            lines += ["", f"![validation distance during training, {dataset}]({curve})"]
        for s in rows:
            shown = [n for n in ("samples", "overlays", "class_bands") if n in s.figures]
            if shown:
                lines += [
                    "",
                    f"**{s.method}**: "
                    + " ".join(f"![{s.method} {n}]({s.figures[n]})" for n in shown),
                ]
    lines += [
        "",
        "## Steps",
        "",
        "| step | wall time (s) | CPU time (s) | command |",
        "|---|---|---|---|",
    ]
    for s in steps:
        lines.append(
            f"| train {s.dataset}/{s.method} | {s.train_s:.0f} | {s.cpu_s:.0f} | `{s.command}` |"
        )
        if s.eval_command:
            lines.append(
                f"| evaluate {s.dataset}/{s.method} | {s.eval_s:.0f} | | `{s.eval_command}` |"
            )
    path = out / "RESULTS.md"
    path.write_text("\n".join(lines) + "\n")
    readme = readme_target(rc, steps)
    if readme is not None and steps:
        dataset = "mitdb" if any(s.dataset == "mitdb" for s in steps) else steps[0].dataset
        block = [
            f"{dataset}, rebuilt by `{command}` on {datetime.now(timezone.utc):%Y-%m-%d}: "
            f"{hw['cpu']}, {hw['cores']} cores, "
            f"no GPU, {wall_s / 60:.1f} min in all; code {code['commit'][:12]}.",
            "",
            *results_table([s for s in steps if s.dataset == dataset]),
        ]
        update_readme(readme, block)
    return path


def readme_target(rc: ReproduceConfig, steps: list[Step]) -> Path | None:
    """The README whose table this run rewrites: ``rc.readme`` as given, or with ``auto``
    ``README.md`` when the run is complete, else None (logged with what made it partial)."""
    if rc.readme != "auto":
        return Path(rc.readme) if rc.readme else None
    partial = [
        why
        for why, bad in (
            ("no MIT-BIH step", not any(s.dataset == "mitdb" for s in steps)),
            (f"methods={rc.methods}", sorted(rc.methods) != sorted(METHODS)),
            (f"eval={rc.eval}", rc.eval != "full"),
            (f"train_overrides={rc.train_overrides}", bool(rc.train_overrides)),
            (f"eval_overrides={rc.eval_overrides}", bool(rc.eval_overrides)),
        )
        if bad
    ]
    if partial:
        log.info(
            "README.md's table left alone: a partial run (%s); readme=README.md writes it anyway",
            "; ".join(partial),
        )
        return None
    return Path("README.md")


README_START, README_END = "<!-- reproduce:table -->", "<!-- /reproduce:table -->"


def update_readme(path: Path, block: list[str]) -> bool:
    """Replace the text between the README markers with ``block``; False (and a warning) when
    the file or its markers are missing, so a copy without them is left alone."""
    text = path.read_text() if path.is_file() else ""
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        log.warning(
            "%s has no %s ... %s block: README table not updated", path, README_START, README_END
        )
        return False
    head = text[: start + len(README_START)]
    path.write_text(head + "\n" + "\n".join(block) + "\n" + text[end:])
    return True


# ------------------------------------------------------------------------------ main
def run_method(
    rc: ReproduceConfig,
    dataset: str,
    method: str,
    seed: int,
    base: list[str],
    runs: Path,
    version: str,
) -> list[Step]:
    """Train (latent_cgan: its autoencoder first) and evaluate one method for one seed; a
    failure is recorded in the step, not raised, so the other steps still run."""
    step, done = Step(dataset, method, seed), []
    try:
        overrides = [f"experiment={EXPERIMENTS[method][dataset]}", *base]
        if method == "latent_cgan":  # stage one first, its best checkpoint feeds two
            ae = Step(dataset, "autoencoder", seed)
            done.append(ae)
            train_step(
                ae,
                [f"experiment={EXPERIMENTS['autoencoder'][dataset]}", *base],
                runs / "train" / f"autoencoder-{dataset}" / version,
            )
            overrides.append(f"model.autoencoder_ckpt={best_checkpoint(ae.run_dir)}")
        train_cfg = train_step(step, overrides, runs / "train" / f"{method}-{dataset}" / version)
        if rc.eval != "none":
            eval_step(step, train_cfg, rc, runs / "evaluate" / f"{method}-{dataset}" / version)
    except Exception as e:  # report it, run the rest
        step.error = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        log.error("%s / %s (seed %d) failed:\n%s", dataset, method, seed, traceback.format_exc())
    return [*done, step]


def reproduce(rc: ReproduceConfig, argv: list[str] = ()) -> tuple[Path, list[Step]]:
    """Train, evaluate and report every (dataset, method) of ``rc``; returns RESULTS.md."""
    t_start = time.perf_counter()
    root = Path(os.environ.get("ECG_SYNTH_ROOT", "."))
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    runs = Path(rc.runs) if rc.runs else root / "outputs" / "reproduce"
    out = Path(rc.out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    budget = f"++trainer.max_time={max_time(parse_budget(rc.budget))}"
    notes: list[str] = []
    steps: list[Step] = []
    for dataset in rc.datasets:
        extra: list[str] = []
        if dataset == "mitdb":
            choice, why = mitdb_choice(root)
            notes.append(f"MIT-BIH: {why}" if choice else f"MIT-BIH skipped: {why}")
            if choice is None:
                continue
            extra = [] if choice == "mitdb" else [f"dataset={choice}"]
        methods = [m for m in rc.methods if dataset in EXPERIMENTS[m]]
        if len(methods) < len(rc.methods):
            skipped = [m for m in rc.methods if m not in methods]
            notes.append(f"{dataset}: no experiment preset for {skipped}, skipped")
        for seed in rc.seeds:
            version = stamp if len(rc.seeds) == 1 else f"{stamp}_seed{seed}"
            base = [f"seed={seed}", budget, *extra, *rc.train_overrides]
            for method in methods:
                steps += run_method(rc, dataset, method, seed, base, runs, version)
    first = [s for s in steps if s.seed == rc.seeds[0]]
    for s in first:
        copy_figures(s, out / "figures")
    path = write_results(rc, list(argv), steps, notes, time.perf_counter() - t_start, out)
    print(f"Results: {path} ({(time.perf_counter() - t_start) / 60:.1f} min)", flush=True)
    return path, steps


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s")
    try:
        rc = load_config(argv)
    except Exception as e:  # a bad option: one line, not a traceback
        print(f"reproduce: error: {e}", file=sys.stderr)
        return 2
    _, steps = reproduce(rc, argv)
    failed = [f"{s.dataset}/{s.method}" for s in steps if s.error]
    if failed:
        print(f"reproduce: failed steps: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
