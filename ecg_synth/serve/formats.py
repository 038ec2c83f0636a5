"""Generate and encode one API answer (runs in a worker thread, never on the event loop).

Every format comes from ``ecg_synth.generation``'s one path (``core.generate_arrays`` or
``output.generate_to_folder``), so the same seed gives exactly ``generate.py``'s signals:
``npy`` is byte for byte its ``signals.npy``, ``csv`` its ``signals.csv``, ``wfdb-zip`` its
output folder (``meta.json``, ``.npy`` files, ``wfdb/`` records) zipped. A model that
generates RR gives it in ``json`` (``rr``, the rows of ``rr.npy``) and in ``wfdb-zip``
(``rr.npy``); ``npy`` and ``csv`` carry the signals alone.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import numpy as np

from ecg_synth.data.segment import RR_COLUMNS
from ecg_synth.generation.core import GeneratorHandle, generate_arrays
from ecg_synth.generation.output import Request, generate_to_folder, zip_folder
from ecg_synth.generation.writers import CLASS_NAMES
from ecg_synth.serve.schemas import FILENAMES, MEDIA, ServeSettings


def encode(
    handle: GeneratorHandle,
    fmt: str,
    n: int,
    classes,
    subjects,
    seed: int,
    settings: ServeSettings,
    preview: int | None = None,
) -> tuple[bytes, str, dict[str, str]]:
    """``(body, media type, headers)`` of a ``POST /generate`` answer (``preview``: json
    carries the signals of the first ``preview`` segments only)."""
    headers = {"X-ECG-Model": handle.name, "X-ECG-Version": handle.version, "X-ECG-Seed": str(seed)}
    if fmt in FILENAMES:
        headers["Content-Disposition"] = f'attachment; filename="{FILENAMES[fmt]}"'
    if fmt in ("json", "npy"):
        signals, p, rr = generate_arrays(handle, n, classes, subjects, seed, settings.batch_size)
        headers["X-ECG-Shape"] = ",".join(map(str, signals.shape))
        if fmt == "npy":
            buf = io.BytesIO()
            np.save(buf, signals)
            return buf.getvalue(), MEDIA[fmt], headers
        body = {
            "model": handle.name,
            "kind": handle.kind,
            "version": handle.version,
            "seed": seed,
            "batch_size": settings.batch_size,
            "n": n,
            "fs": float(handle.info["fs"]),
            "length": int(handle.info["length"]),
            "r_index": handle.info.get("r_index"),
            "leads": list(handle.info["leads"]),
            "units": "mV",
            "labels": p.labels.tolist(),
            "label_names": [CLASS_NAMES[i] for i in p.labels.tolist()],
            "subjects": (
                None if p.subjects is None else np.asarray(handle.subjects)[p.subjects].tolist()
            ),
            # float32 -> Python float is exact, so np.float32(value) gives the bits back.
            "signals": signals[:preview].tolist(),
            # All n, like the labels: generate.py's rr.npy rows (None: the model makes none).
            "rr": None if rr is None else rr.tolist(),
            "rr_columns": None if rr is None else list(RR_COLUMNS),
        }
        return json.dumps(body, separators=(",", ":")).encode(), MEDIA[fmt], headers
    with tempfile.TemporaryDirectory(prefix="ecg_synth_serve_") as tmp:
        req = Request(
            n=n,
            classes=classes,
            subjects=subjects,
            seed=seed,
            batch_size=settings.batch_size,
            csv=fmt == "csv",
            wfdb=fmt == "wfdb-zip",
            wfdb_per_record=settings.wfdb_per_record,
            figure=False,
            progress=False,
        )
        result = generate_to_folder(handle, tmp, req)
        if fmt == "csv":
            return (Path(tmp) / "signals.csv").read_bytes(), MEDIA[fmt], headers
        return zip_folder(Path(tmp), result.files), MEDIA[fmt], headers
