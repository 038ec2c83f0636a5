"""Run folders as versioned models, and references to them by name and version.

A run is a folder holding ``.hydra/config.yaml`` and ``run_info.json`` (written by every
training run), with ``checkpoints/`` and ``metrics.json`` (``RunMetrics``) when it got that
far. Each run carries its config, code version (git commit, dirty flag), data fingerprint
(records, preprocessing, cache key), metrics and checkpoints.

- name: ``<model>-<dataset>``, the config choices of the run (``.hydra/hydra.yaml``), else
  the parent folder's name (``outputs/train/<model>-<dataset>/<time>``).
- version: the run folder's name (its start time) for ``outputs/train/<name>/<time>``; for a
  sweep job ``<sweep time>/<job number>``. ``list`` also numbers each name's versions 1, 2,
  ... oldest first.

References (``resolve``): ``<name>:<version>``, ``<name>:<n>`` (the n-th version),
``<name>:latest``, ``<name>:best`` (lowest best value of the run's checkpoint monitor,
``val/fd`` for the GANs; refused when the runs were kept by different monitors) and
``<name>:best@<metric>`` (lowest final ``<metric>``). They resolve to the run's best
checkpoint (else ``last.ckpt``); ``generate.py model_path=``, ``evaluate.py checkpoint=`` and
the server's ``models`` accept them wherever a path is expected.

CLI: ``python -m ecg_synth.registry list|show|resolve`` (``--help``). The registry reads
``$ECG_SYNTH_ROOT/outputs`` (default ``./outputs``), or ``--root``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

log = logging.getLogger(__name__)

RUN_INFO = "run_info.json"
METRICS_FILE = "metrics.json"  # written by ecg_synth.callbacks.RunMetrics
EVALUATION_DIR = "evaluation"  # evaluate.py's output after training (train's evaluate_after)
REF = re.compile(r"^(?P<name>[A-Za-z0-9_.+-]+):(?P<version>[^:\s]+)$")
# ModelCheckpoint file names of conf/callbacks and the experiments: best-epoch012-fd0.1234.ckpt
BEST_NAME = re.compile(r"best-epoch(?P<epoch>\d+)-[a-z_]+(?P<value>-?[\d.]+(?:e-?\d+)?)\.ckpt$")


class RegistryError(LookupError):
    """An unknown name or version, or a run without checkpoint; the message lists what
    exists."""


@dataclass
class RunRecord:
    """One training run folder."""

    name: str
    version: str
    path: Path
    created: str = ""
    commit: str = "unknown"
    dirty: bool | None = None
    data_key: str | None = None
    status: str = "unknown"
    tags: list[str] = field(default_factory=list)
    monitor: str = "val/fd"
    best: float | None = None  # best value of ``monitor`` (the best checkpoint's)
    epochs: int | None = None
    checkpoint: Path | None = None  # best checkpoint, else last.ckpt
    final: dict[str, float] = field(default_factory=dict)
    index: int = 0  # 1-based position among the versions of ``name``, oldest first

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"], d["checkpoint"] = str(self.path), self.checkpoint and str(self.checkpoint)
        return d | {"ref": self.ref}


def read_metrics(run_dir: str | Path) -> dict | None:
    """A run folder's ``metrics.json``, or None when it has none (or a torn write)."""
    try:
        return json.loads((Path(run_dir) / METRICS_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def eval_metrics(evaluation: dict) -> dict[str, float]:
    """An evaluate.py ``metrics.json``'s generated-set numbers as ``eval/<name>``."""
    return {
        f"eval/{k}": float(v)
        for k, v in evaluation["generated"].items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def read_evaluation(run_dir: str | Path) -> dict[str, float]:
    """``eval_metrics`` of the evaluation written into a run folder after training, or {}
    when it has none."""
    try:
        doc = json.loads((Path(run_dir) / EVALUATION_DIR / METRICS_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return eval_metrics(doc)


def default_root() -> Path:
    """``$ECG_SYNTH_ROOT/outputs``, as ``paths.log_dir`` of the configs."""
    return Path(os.environ.get("ECG_SYNTH_ROOT", ".")) / "outputs"


def is_reference(value: str | os.PathLike) -> bool:
    """Whether ``value`` has the form ``name:version`` (not a Windows drive path)."""
    return bool(REF.match(str(value))) and not re.match(r"^[A-Za-z]:[\\/]", str(value))


# ------------------------------------------------------------------------------ reading
def configured_name(run: Path) -> str | None:
    """``<model>-<dataset>`` from the run folder's recorded Hydra choices (a sweep's jobs
    included), or None for a folder Hydra did not write."""
    hydra_yaml = Path(run) / ".hydra" / "hydra.yaml"
    if hydra_yaml.is_file():
        choices = OmegaConf.load(hydra_yaml).hydra.runtime.get("choices") or {}
        if choices.get("model") and choices.get("dataset"):
            return f"{choices['model']}-{choices['dataset']}"
    return None


def _name(run: Path) -> str:
    return configured_name(run) or run.parent.name


def _version(run: Path, name: str) -> str:
    if run.parent.name == name:
        return run.name
    job = run.name[: -len(name) - 1] if run.name.endswith(f"-{name}") else run.name
    return f"{run.parent.name}/{job}"


def _checkpoint(run: Path, doc: dict) -> tuple[Path | None, float | None, int | None]:
    """(checkpoint, best value, best epoch): metrics.json's, else from the file name."""
    ckpt = run_checkpoint(run)
    best = doc.get("best") or {}
    if ckpt is not None and best.get("checkpoint") and ckpt == run / best["checkpoint"]:
        return ckpt, best.get("value"), best.get("epoch")
    m = BEST_NAME.search(ckpt.name) if ckpt is not None else None
    if m:
        return ckpt, float(m["value"].rstrip(".")), int(m["epoch"])
    return ckpt, best.get("value"), None


def run_checkpoint(run: Path) -> Path | None:
    """A run folder's best checkpoint, else ``checkpoints/last.ckpt``, else None. The one rule
    for generate, evaluate, serve and the registry. The best is the one metrics.json names;
    without it (a run still training, or stopped hard) the ``best-*.ckpt`` with the lowest value
    in its name, as every model's monitor is minimised. Not the newest file: with
    ``save_top_k`` above 1 the newest is the latest of the kept ones, not the best."""
    run = Path(run)
    named = ((read_metrics(run) or {}).get("best") or {}).get("checkpoint")
    if named and (run / named).is_file():
        return run / named
    ckpts = run / "checkpoints"
    best = sorted(ckpts.glob("best-*.ckpt"), key=lambda p: p.stat().st_mtime)
    valued = [(float(m["value"].rstrip(".")), p) for p in best if (m := BEST_NAME.search(p.name))]
    if valued:
        return min(valued)[1]
    if best:
        return best[-1]
    last = ckpts / "last.ckpt"
    return last if last.is_file() else None


def read_run(run: str | Path) -> RunRecord:
    """The record of one run folder (``.hydra/config.yaml`` + ``run_info.json``)."""
    run = Path(run)
    info_path = run / RUN_INFO
    if not info_path.is_file() or not (run / ".hydra" / "config.yaml").is_file():
        raise RegistryError(f"{run} is not a run folder (needs {RUN_INFO} and .hydra/config.yaml)")
    info = json.loads(info_path.read_text())
    doc = read_metrics(run) or {}
    name = _name(run)
    ckpt, best, best_epoch = _checkpoint(run, doc)
    code = info.get("code") or {}
    epochs = doc.get("epochs")
    if epochs is None and best_epoch is not None:
        epochs = best_epoch + 1  # at least; the true count is in metrics.json
    return RunRecord(
        name=name,
        version=_version(run, name),
        path=run,
        created=str(info.get("created", "")),
        commit=str(code.get("commit", "unknown")),
        dirty=code.get("dirty"),
        data_key=(info.get("data") or {}).get("cache_key"),
        status=doc.get("status", "unknown"),
        tags=[str(t) for t in info.get("tags") or []],
        monitor=doc.get("monitor", "val/fd"),
        best=best,
        epochs=epochs,
        checkpoint=ckpt,
        final=doc.get("final") or {},
    )


def discover(root: str | Path | None = None) -> list[RunRecord]:
    """Every run folder under ``root`` (default ``default_root()``), by name then age."""
    root = Path(root) if root is not None else default_root()
    if not root.is_dir():
        return []
    runs = []
    for p in root.rglob(RUN_INFO):
        if not (p.parent / ".hydra" / "config.yaml").is_file():
            continue
        try:
            runs.append(read_run(p.parent))
        except (OSError, ValueError) as e:  # a torn or hand-edited file: skip, say so
            log.warning("registry: skipping %s: %s", p.parent, e)
    runs.sort(key=lambda r: (r.name, r.created, r.version))
    counts: dict[str, int] = {}
    for r in runs:
        counts[r.name] = r.index = counts.get(r.name, 0) + 1
    return runs


# ---------------------------------------------------------------------------- resolving
def _known(runs: list[RunRecord], name: str | None = None) -> str:
    if not runs:
        return "no runs"
    if name is None:
        return "names: " + ", ".join(sorted({r.name for r in runs}))
    versions = ", ".join(r.version for r in runs)
    return f"versions: {versions} (and latest, best, 1..{len(runs)})"


def find(ref: str, root: str | Path | None = None) -> RunRecord:
    """The run a reference names (module docstring); RegistryError lists what exists."""
    m = REF.match(ref)
    if not m:
        raise RegistryError(f"{ref!r} is not a model reference <name>:<version|latest|best>")
    name, version = m["name"], m["version"]
    root = Path(root) if root is not None else default_root()
    everything = discover(root)
    runs = [r for r in everything if r.name == name]
    if not runs:
        raise RegistryError(f"no model named {name!r} under {root}; {_known(everything)}")
    if version == "latest":
        return runs[-1]
    if version == "best" or version.startswith("best@"):
        metric = version.partition("@")[2]
        scored = [
            (r.best if not metric or metric == r.monitor else r.final.get(metric), r) for r in runs
        ]
        scored = [(v, r) for v, r in scored if v is not None]
        monitors = Counter(r.monitor for _, r in scored)
        if not metric and len(monitors) > 1:
            raise RegistryError(
                f"the runs of {name!r} keep their best checkpoints by different metrics "
                f"({dict(monitors)}), whose values do not compare; name one: "
                f"{name}:best@{monitors.most_common(1)[0][0]}"
            )
        if not scored:
            raise RegistryError(
                f"no run of {name!r} has a value of {metric or 'its monitor'} "
                f"(metrics.json or best-*.ckpt); {_known(runs, name)}"
            )
        return min(scored, key=lambda vr: vr[0])[1]
    if version.isdigit() and 1 <= int(version) <= len(runs):
        return runs[int(version) - 1]
    hits = [r for r in runs if version in (r.version, r.path.name)]
    if len(hits) == 1:
        return hits[0]
    what = "is ambiguous" if hits else "does not exist"
    raise RegistryError(
        f"version {version!r} of {name!r} {what} under {root}; {_known(runs, name)}"
    )


def resolve(ref: str, root: str | Path | None = None) -> Path:
    """The checkpoint a reference names (best checkpoint of the run, else ``last.ckpt``)."""
    run = find(ref, root)
    if run.checkpoint is None:
        raise RegistryError(
            f"{ref} is the run {run.path}, which has no checkpoint (status {run.status})"
        )
    return run.checkpoint


def locate(value: str | os.PathLike, root: str | Path | None = None) -> Path:
    """``value`` itself when it exists, else the checkpoint of the reference it is.
    FileNotFoundError when it is neither."""
    path = Path(value)
    if path.exists():
        return path
    if is_reference(value):
        try:
            return resolve(str(value), root)
        except RegistryError as e:
            raise FileNotFoundError(
                f"{str(value)!r} is not a path, and as a model reference: {e}"
            ) from e
    raise FileNotFoundError(
        f"{str(value)!r}: no such file or folder, and not a model "
        "reference <name>:<version|latest|best>"
    )


# ---------------------------------------------------------------------------------- CLI
def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def table(runs: list[RunRecord], root: Path) -> str:
    """The ``list`` table, one line per run."""
    head = ("name", "#", "version", "created", "commit", "status", "best", "epochs", "checkpoint")
    rows = [head]
    for r in runs:
        commit = r.commit[:8] + ("*" if r.dirty else "") if r.commit != "unknown" else "unknown"
        ckpt = "-"
        if r.checkpoint is not None:
            ckpt = os.path.relpath(r.checkpoint, root)
        rows.append(
            (
                r.name,
                str(r.index),
                r.version,
                r.created.replace("+00:00", "Z"),
                commit,
                r.status,
                f"{r.monitor}={_fmt(r.best)}",
                str(r.epochs or "-"),
                ckpt,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ecg_synth.registry", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--root",
        default=None,
        help="folder to scan (default: $ECG_SYNTH_ROOT/outputs, else ./outputs)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="every run with its key metrics (* after a commit: dirty)")
    ls.add_argument("name", nargs="?", help="only this <model>-<dataset>")
    ls.add_argument("--json", action="store_true", help="JSON instead of a table")
    show = sub.add_parser("show", help="everything recorded about one run")
    show.add_argument("ref", help="<name>:<version|n|latest|best|best@metric>")
    res = sub.add_parser("resolve", help="print the checkpoint path a reference names")
    res.add_argument("ref")
    args = parser.parse_args(argv)
    root = Path(args.root) if args.root else default_root()
    try:
        if args.command == "list":
            runs = [r for r in discover(root) if args.name in (None, r.name)]
            if args.json:
                print(json.dumps([r.to_dict() for r in runs], indent=2))
            elif not runs:
                print(f"no runs under {root}" + (f" named {args.name!r}" if args.name else ""))
            else:
                print(table(runs, root))
        elif args.command == "show":
            run = find(args.ref, root)
            info = json.loads((run.path / RUN_INFO).read_text())
            print(
                json.dumps(
                    run.to_dict() | {"run_info": info, "metrics": read_metrics(run.path)},
                    indent=2,
                    default=str,
                )
            )
        else:
            print(resolve(args.ref, root))
    except RegistryError as e:
        print(f"registry: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
