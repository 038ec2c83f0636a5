"""Generate into a folder: ``signals.npy``, ``labels.npy``, ``meta.json`` and the optional
CSV, WFDB records, figure and rhythm strips (the folder contract: ``writers``' docstring)."""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from ecg_synth import __version__
from ecg_synth.generation import writers
from ecg_synth.generation.core import (
    DEFAULT_BATCH_SIZE,
    GenerationError,
    GeneratorHandle,
    Plan,
    collect,
    config_hash,
    plan,
)

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # for the annotation only: rhythm is imported where strips are written
    from ecg_synth.generation.rhythm import RRModel

FORMAT_VERSION = 1


@dataclass
class Request:
    """What to generate and which files to write."""

    n: int
    classes: list[str] | None = None
    subjects: list[str] | None = None
    seed: int = 0
    batch_size: int = DEFAULT_BATCH_SIZE
    csv: bool = False
    wfdb: bool = False
    wfdb_per_record: int = 10_000
    figure: bool = True
    figure_panels: int = 24
    rhythm: dict[str, Any] | None = None  # {n_strips, beats, taper, rr: {...}} or None
    progress: bool = True

    def check(self) -> None:
        """The output settings, checked before anything is generated or written: a value out
        of range would otherwise fail after the signals (a traceback and no meta.json) or
        quietly write nothing (``wfdb_per_record=-2`` made an empty wfdb/ folder)."""
        for name in ("wfdb_per_record", "figure_panels", "batch_size"):
            count(getattr(self, name), name)

    def key(self) -> dict[str, Any]:
        """The fields that decide the signals (hashed into ``meta.json``)."""
        return {
            "n": self.n,
            "classes": self.classes,
            "subjects": self.subjects,
            "seed": self.seed,
            "batch_size": self.batch_size,
        }


@dataclass
class Result:
    out: Path
    meta: dict[str, Any]
    files: list[str] = field(default_factory=list)


def count(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an integer >= ``minimum``, else a ``GenerationError`` naming ``name``
    (2.5 is refused, not truncated)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise GenerationError(f"{name}={value!r} must be an integer >= {minimum}", name)
    return int(value)


def build_meta(handle: GeneratorHandle, req: Request, p: Plan) -> dict[str, Any]:
    info = handle.info
    labels = p.labels
    counts = {c: int((labels == i).sum()) for i, c in enumerate(handle.classes)}
    return {
        "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ecg_synth": __version__,
        "n": req.n,
        "shape": [req.n, len(info["leads"]), int(info["length"])],
        "fs": float(info["fs"]),
        "length": int(info["length"]),
        "r_index": None if info.get("r_index") is None else int(info["r_index"]),
        "leads": list(info["leads"]),
        "units": "mV",
        "dtype": "float32",
        "rr": "rr.npy: seconds (previous, next, local mean RR), generated with each beat"
        if handle.makes_rr
        else None,
        "classes": handle.classes,
        "label_meaning": "index into classes; -1 = not chosen (model is not class-conditioned)",
        "class_counts_generated": counts,
        "subjects": handle.subjects if p.subjects is not None else None,
        "model": {
            "name": handle.name,
            "kind": handle.kind,
            "version": handle.version,
            "source": handle.source,
            "hparams_hash": handle.hparams_hash,
            "conditions": {"class": handle.use_class, "subject": handle.use_subject},
        },
        "request": req.key(),
        "seed": p.seed,
        "batch_size": req.batch_size,
        "config_hash": config_hash({"model": handle.version, **req.key()}),
    }


def generate_to_folder(handle: GeneratorHandle, out: str | Path, req: Request) -> Result:
    """Generate ``req.n`` segments into ``out`` chunk by chunk (bounded memory) and write the
    requested files. Returns the folder, its ``meta.json`` content and the files written."""
    # Checked before any segment is generated: a bad request costs nothing.
    req.check()
    rhythm = rhythm_settings(req.rhythm, req.n, handle.info) if req.rhythm else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    p = plan(handle, req.n, req.classes, req.subjects, req.seed)
    info = handle.info
    shape = (req.n, len(info["leads"]), int(info["length"]))
    signals = writers.open_signals(out / "signals.npy", *shape)
    bar = tqdm(
        total=req.n,
        unit="seg",
        desc="generating",
        disable=not req.progress or req.n <= req.batch_size,
    )
    _, rr = collect(handle, p, req.batch_size, out=signals, on_chunk=bar.update)
    bar.close()
    signals.flush()
    files = ["signals.npy", "labels.npy"]
    np.save(out / "labels.npy", p.labels)
    if rr is not None:
        np.save(out / "rr.npy", rr)
        files.append("rr.npy")
    if p.subjects is not None:
        np.save(out / "subjects.npy", p.subjects)
        files.append("subjects.npy")
    fs, leads, r_index = float(info["fs"]), list(info["leads"]), info.get("r_index")
    if req.csv:
        writers.write_csv(
            out / "signals.csv", signals, p.labels, p.subjects, handle.subjects, leads
        )
        files.append("signals.csv")
    if req.wfdb:
        names = writers.write_wfdb_segments(
            out / "wfdb", signals, p.labels, fs, leads, r_index, req.wfdb_per_record
        )
        files += [f"wfdb/{n}" for n in names]
    if req.figure:
        from ecg_synth.generation.plotting import plot_segment_grid

        subj = (
            np.asarray(handle.subjects)[p.subjects[: req.figure_panels]]
            if p.subjects is not None
            else None
        )
        plot_segment_grid(
            signals[: req.figure_panels],
            p.labels,
            fs,
            subj,
            lead_name=leads[0],
            max_panels=req.figure_panels,
            path=out / "samples.png",
        )
        files.append("samples.png")
    meta = build_meta(handle, req, p)
    if rhythm is not None:
        files += write_rhythm(out, handle, signals, rr, p, rhythm, meta)
    meta["files"] = files
    writers.write_meta(out, meta)
    del signals  # close the memory map
    return Result(out, meta, ["meta.json", *files])


@dataclass
class RhythmSettings:
    """A checked ``rhythm`` config (``conf/generate.yaml``) for a number of segments."""

    beats: int
    n_strips: int
    taper: float
    keep_s: tuple[float, float] | None
    rr: RRModel


def rhythm_settings(cfg: dict[str, Any], n: int, info: dict[str, Any]) -> RhythmSettings:
    """The ``rhythm`` config for ``n`` segments of a model with ``data_info`` ``info``,
    checked before any segment is generated; a bad value is a ``GenerationError``."""
    from ecg_synth.generation.rhythm import RRModel, check_beat_windows, check_keep_s

    try:
        beats = count(cfg.get("beats", 12), "rhythm.beats", minimum=2)
        wanted = count(cfg.get("n_strips", 1), "rhythm.n_strips")
        if beats > n:
            raise ValueError(f"rhythm.beats={beats} is more than the {n} generated segments")
        n_strips = min(wanted, n // beats)
        if n_strips < wanted:
            log.warning(
                "rhythm.n_strips=%d strips of %d beats need %d segments; %d generated make %d",
                wanted,
                beats,
                wanted * beats,
                n,
                n_strips,
            )
        taper = float(cfg.get("taper", 0.2))
        if not 0.0 <= taper <= 1.0:
            raise ValueError(f"rhythm.taper={taper}: the Tukey taper fraction lies in [0, 1]")
        check_beat_windows(info.get("r_index"))
        return RhythmSettings(
            beats,
            n_strips,
            taper,
            check_keep_s(cfg.get("keep_s")),
            RRModel.from_config(cfg.get("rr"), info),
        )
    except (TypeError, ValueError) as e:
        raise GenerationError(str(e), "rhythm") from e


def write_rhythm(
    out: Path,
    handle: GeneratorHandle,
    signals: np.ndarray,
    beat_rr: np.ndarray | None,
    p: Plan,
    rhythm: RhythmSettings,
    meta: dict[str, Any],
) -> list[str]:
    """Strips of ``beats`` consecutive generated beats (``n_strips`` of them, as many as the
    segments allow) as WFDB records ``wfdb/rhythm_XXXX`` plus ``rhythm.png`` of the first.
    ``beat_rr``: the RR generated with each beat, which then sets the beats' prematurity and
    pauses instead of the config's ``pre``/``post`` tables."""
    from ecg_synth.generation.plotting import plot_strip
    from ecg_synth.generation.rhythm import make_strip

    info = handle.info
    beats = rhythm.beats
    rng = np.random.default_rng(np.random.SeedSequence(p.seed, spawn_key=(2,)))
    fs, leads = float(info["fs"]), list(info["leads"])
    files = []
    for k in range(rhythm.n_strips):
        sl = slice(k * beats, (k + 1) * beats)
        sig, peaks, labels = make_strip(
            np.asarray(signals[sl]),
            p.labels[sl],
            fs,
            info.get("r_index"),
            rhythm.rr,
            rng,
            rhythm.taper,
            None if beat_rr is None else beat_rr[sl],
            rhythm.keep_s,
        )
        files.append(
            "wfdb/"
            + writers.write_wfdb_record(
                out / "wfdb",
                f"rhythm_{k:04d}",
                sig,
                fs,
                leads,
                peaks,
                labels,
                comments=[f"ecg_synth rhythm strip of segments {sl.start}..{sl.stop - 1}"],
            )
        )
        if k == 0:
            plot_strip(sig, fs, peaks, labels, leads, path=out / "rhythm.png")
            files.append("rhythm.png")
    meta["rhythm"] = {
        "n_strips": rhythm.n_strips,
        "beats": beats,
        "taper": rhythm.taper,
        "keep_s": None if rhythm.keep_s is None else list(rhythm.keep_s),
        "rr": vars(rhythm.rr),
        "prematurity": "each beat's generated RR (previous / local mean before it, next / "
        "local mean after it)"
        if beat_rr is not None
        else "the rr.pre / rr.post tables, by class",
        "joining": "R peaks placed at RR intervals; Tukey-weighted "
        "overlap-add (crossfade where windows overlap); gaps bridged linearly",
    }
    return files


def zip_folder(folder: Path, members: list[str]) -> bytes:
    """The listed files (WFDB records expand to their .hea/.dat/.atr) as zip bytes."""
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for m in members:
            matches = sorted(folder.glob(m + ".*")) if not (folder / m).is_file() else [folder / m]
            for f in matches:
                z.write(f, f.relative_to(folder).as_posix())
    return buf.getvalue()
