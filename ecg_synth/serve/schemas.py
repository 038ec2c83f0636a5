"""Request and settings models of the HTTP API (pydantic: wrong types are 422s)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ecg_synth.generation.core import DEFAULT_BATCH_SIZE, MAX_SEED

FORMATS = ("json", "npy", "csv", "wfdb-zip")
MEDIA = {
    "json": "application/json",
    "npy": "application/octet-stream",
    "csv": "text/csv; charset=utf-8",
    "wfdb-zip": "application/zip",
}
FILENAMES = {"npy": "signals.npy", "csv": "signals.csv", "wfdb-zip": "ecg_wfdb.zip"}


def _names(v):
    """Subject names may be sent as numbers (MIT-BIH records are "100", ...): as strings."""
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    if isinstance(v, list):
        return [str(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in v]
    return v


Name = Annotated[str, Field(min_length=1, max_length=64)]
Names = Annotated[Name | list[Name] | None, Field(max_length=256)]


class GenerateRequest(BaseModel):
    """``POST /generate`` body. ``class``/``subject``: one name or a list (equal shares);
    omitted: the training class proportions / all training subjects. ``seed`` omitted: a
    random one, returned in the answer so the result can be reproduced."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    model: Name | None = None
    n: Annotated[int, Field(strict=True, ge=1)] = 1
    class_: Names = Field(default=None, alias="class")
    subject: Annotated[Names, BeforeValidator(_names)] = None
    seed: Annotated[int, Field(strict=True, ge=0, le=MAX_SEED)] | None = None
    format: Literal["json", "npy", "csv", "wfdb-zip"] = "json"
    # json only: send the signals of the first ``preview`` segments (labels of all n); the
    # segments are those of the full request, so a page can draw a few and download all.
    preview: Annotated[int, Field(strict=True, ge=0)] | None = None


@dataclass
class ServeSettings:
    """``conf/serve.yaml`` without the host/port: what the app itself needs."""

    model_dir: str | None = None
    models: dict[str, str | list[str]] = field(default_factory=dict)  # {name: path or paths}
    max_n: int = 10_000  # segments per request
    max_body_bytes: int = 16_384  # request bodies are small JSON objects
    workers: int = 2  # generation threads at once (CPU cores)
    batch_size: int = DEFAULT_BATCH_SIZE  # must match generate.py's for identical output
    wfdb_per_record: int = 10_000
