"""Shared fixtures: tiny WFDB records written with ``wfdb.wrsamp``/``wfdb.wrann``, and the
real MIT-BIH folder in ``../shared`` when present."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import wfdb

FS = 360
REPO = Path(__file__).resolve().parents[1]
SHARED_MITDB = REPO.parent / "shared" / "data" / "mitdb"


def pytest_configure(config: pytest.Config) -> None:
    # wfdb 4.3 calls pandas with `inplace=`, deprecated in recent pandas: not our code.
    config.addinivalue_line("filterwarnings", "ignore:The inplace keyword:Warning:wfdb")


# One beat train reused by every synthetic record: RR intervals (s) cycle through this
# pattern and symbols through BEAT_CYCLE, so every AAMI class appears in 20 s.
RR_CYCLE_S = (0.80, 0.92, 0.70, 1.05, 0.86)
BEAT_CYCLE = ("N", "A", "N", "V", "F", "L", "/", "N", "j", "E", "a", "N", "R", "Q", "f", "S")


@dataclass
class SynthRecord:
    """What a test needs to know about a record it wrote."""

    name: str
    root: Path
    fs: float
    leads: list[str]
    n_samples: int
    ann_samples: np.ndarray  # every annotation, time order
    ann_symbols: list[str]

    @property
    def path(self) -> Path:
        return self.root / self.name

    @property
    def beat_mask(self) -> np.ndarray:
        return np.array([s not in NON_BEATS for s in self.ann_symbols])

    @property
    def beat_samples(self) -> np.ndarray:
        return self.ann_samples[self.beat_mask]

    @property
    def beat_symbols(self) -> list[str]:
        return [s for s, b in zip(self.ann_symbols, self.beat_mask, strict=True) if b]


NON_BEATS = {"+", "~", "|", '"', "x", "[", "]", "!"}


def beat_train(n_samples: int, fs: float, first: int = 40, shift: int = 0) -> np.ndarray:
    """R-peak samples: the first one ``first`` samples in (too close to the edge for a
    0.25 s pre-window), then the RR cycle, the last one a few samples before the end."""
    rr = np.round(np.array(RR_CYCLE_S) * fs).astype(int)
    peaks = [first]
    k = shift
    while peaks[-1] + rr[k % len(rr)] < n_samples - 30:
        peaks.append(peaks[-1] + rr[k % len(rr)])
        k += 1
    peaks.append(n_samples - 20)
    return np.array(peaks, dtype=np.int64)


def synth_signal(n_samples: int, peaks: np.ndarray, n_leads: int, fs: float) -> np.ndarray:
    """``[n_samples, n_leads]`` mV: narrow Gaussian QRS at each peak on a slow wander."""
    t = np.arange(n_samples)
    x = 0.15 * np.sin(2 * np.pi * 0.3 * t / fs)[:, None] * np.ones(n_leads)
    for p in peaks:
        lo, hi = max(p - 40, 0), min(p + 40, n_samples)
        qrs = np.exp(-0.5 * ((t[lo:hi] - p) / 4.0) ** 2)
        x[lo:hi] += qrs[:, None] * np.linspace(1.2, 0.6, n_leads)
    return x


MakeRecord = Callable[..., SynthRecord]


def _writer(default_root: Path) -> MakeRecord:
    def make(
        name: str = "100",
        root: Path | None = None,
        leads: Sequence[str] = ("MLII", "V1"),
        duration_s: float = 20.0,
        fs: float = FS,
        shift: int = 0,
        fmt: str = "212",
        non_beats: bool = True,
    ) -> SynthRecord:
        root = Path(root or default_root)
        root.mkdir(parents=True, exist_ok=True)
        n = int(duration_s * fs)
        peaks = beat_train(n, fs, shift=shift)
        symbols = [BEAT_CYCLE[(i + shift) % len(BEAT_CYCLE)] for i in range(len(peaks))]
        samples = list(peaks)
        if non_beats:  # rhythm change at 0, noise and comment annotations between beats
            wanted = ((0, 0, "+"), (3, 30, "~"), (6, -25, "+"), (8, 10, '"'), (10, 50, "|"))
            extra = {int(peaks[i] + d) if i else 0: sym for i, d, sym in wanted if i < len(peaks)}
            samples += list(extra)
            symbols += list(extra.values())
        order = np.argsort(samples, kind="stable")
        samples = np.asarray(samples, dtype=np.int64)[order]
        symbols = [symbols[i] for i in order]
        sig = synth_signal(n, peaks, len(leads), fs)
        wfdb.wrsamp(
            name,
            fs=fs,
            units=["mV"] * len(leads),
            sig_name=list(leads),
            p_signal=sig,
            fmt=[fmt] * len(leads),
            adc_gain=[200.0] * len(leads),
            baseline=[1024 if fmt == "212" else 0] * len(leads),
            write_dir=str(root),
        )
        wfdb.wrann(name, "atr", sample=samples, symbol=symbols, write_dir=str(root))
        return SynthRecord(name, root, float(fs), list(leads), n, samples, symbols)

    return make


@pytest.fixture
def make_record(tmp_path: Path) -> MakeRecord:
    """Factory writing one tiny WFDB record into ``tmp_path/db`` (or ``root``)."""
    return _writer(tmp_path / "db")


TINY_NAMES = ("100", "101", "103", "105", "106", "108", "109", "112")


@pytest.fixture(scope="session")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only folder of 8 records (MLII, V1; 20 s each) plus ``900`` with V1/V2 only."""
    root = tmp_path_factory.mktemp("tinydb")
    make = _writer(root)
    for i, name in enumerate(TINY_NAMES):
        make(name, shift=i)
    make("900", leads=("V1", "V2"))
    return root


@pytest.fixture(scope="session")
def shared_mitdb() -> Path:
    """The real MIT-BIH records (``ECG_SYNTH_MITDB`` or ``../shared/data/mitdb``)."""
    root = Path(os.environ.get("ECG_SYNTH_MITDB", SHARED_MITDB))
    if not (root / "101.hea").is_file():
        pytest.skip(f"real MIT-BIH records not found at {root} (set ECG_SYNTH_MITDB)")
    return root
