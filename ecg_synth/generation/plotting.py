"""Generated ECG drawn on standard ECG paper.

Scale: 25 mm/s and 10 mm/mV, so one small (1 mm) square is 40 ms by 0.1 mV and one large
(5 mm) square 200 ms by 0.5 mV; grid lines in red. The figure is sized in millimetres, so it
prints at true scale at 100 %. Everything is drawn in millimetre data coordinates with an
equal aspect ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers; must come before pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from ecg_synth.generation.writers import CLASS_NAMES  # noqa: E402

MM_PER_S = 25.0
MM_PER_MV = 10.0
MM_PER_INCH = 25.4
MINOR_COLOR = "#f4b6b6"
MAJOR_COLOR = "#e06666"
TRACE_COLOR = "#111111"


def ecg_paper(ax: plt.Axes, width_mm: float, height_mm: float) -> None:
    """Red 1 mm / 5 mm grid over ``[0, width_mm] x [0, height_mm]`` on ``ax``."""

    def lines(step: float) -> list:
        xs = np.arange(0.0, width_mm + 1e-6, step)
        ys = np.arange(0.0, height_mm + 1e-6, step)
        return [[(x, 0.0), (x, height_mm)] for x in xs] + [[(0.0, y), (width_mm, y)] for y in ys]

    ax.add_collection(LineCollection(lines(1.0), colors=MINOR_COLOR, linewidths=0.3, zorder=0))
    ax.add_collection(LineCollection(lines(5.0), colors=MAJOR_COLOR, linewidths=0.7, zorder=1))
    ax.set_xlim(0, width_mm)
    ax.set_ylim(0, height_mm)
    ax.set_aspect("equal")
    ax.set_axis_off()


def _figure(width_mm: float, height_mm: float, dpi: int) -> tuple[plt.Figure, plt.Axes]:
    fig = plt.figure(figsize=(width_mm / MM_PER_INCH, height_mm / MM_PER_INCH), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    fig.patch.set_facecolor("white")
    return fig, ax


def _calibration(ax: plt.Axes, x0: float, base: float) -> None:
    """The standard 1 mV, 200 ms calibration pulse (10 mm high, 5 mm wide)."""
    ax.plot(
        [x0, x0 + 1, x0 + 1, x0 + 6, x0 + 6, x0 + 7],
        [base, base, base + 10, base + 10, base, base],
        color=TRACE_COLOR,
        lw=0.8,
    )


def plot_segment_grid(
    signals: np.ndarray,
    labels: np.ndarray,
    fs: float,
    subjects: Sequence[str] | None = None,
    lead: int = 0,
    lead_name: str = "",
    ncols: int = 6,
    max_panels: int = 24,
    path: Path | None = None,
    dpi: int = 150,
) -> plt.Figure:
    """Up to ``max_panels`` segments ``signals [N, C, L]`` (mV, lead ``lead``) tiled on one
    sheet of ECG paper, each labelled with its index, class and subject. Vertical room is the
    data's range rounded up to whole 5 mm squares. Saved to ``path`` when given."""
    x = np.asarray(signals[:max_panels, lead], dtype=np.float64)
    n, length = x.shape
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    seg_w = length / fs * MM_PER_S
    cell_w = 5.0 * np.ceil((seg_w + 4.0) / 5.0)  # whole large squares, >= 2 mm margins
    lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
    cell_h = 5.0 * np.ceil(((hi - lo) * MM_PER_MV + 8.0) / 5.0)  # room for the label too
    left = 10.0  # calibration pulse column
    width, height = left + ncols * cell_w, nrows * cell_h
    fig, ax = _figure(width, height, dpi)
    ecg_paper(ax, width, height)

    t = np.arange(length) / fs * MM_PER_S
    row, col = np.divmod(np.arange(n), ncols)
    x0 = left + col * cell_w + (cell_w - seg_w) / 2
    base = height - (row + 1) * cell_h + 2.0 - lo * MM_PER_MV  # y of 0 mV in each cell
    traces = np.stack([x0[:, None] + t[None, :], base[:, None] + x * MM_PER_MV], axis=-1)
    ax.add_collection(LineCollection(traces, colors=TRACE_COLOR, linewidths=0.8, zorder=3))
    for i in range(n):
        text = f"#{i} {CLASS_NAMES[int(labels[i])]}"
        if subjects is not None:
            text += f" subj {subjects[i]}"
        ax.text(
            left + col[i] * cell_w + 1.0,
            height - row[i] * cell_h - 1.0,
            text,
            fontsize=5,
            va="top",
            ha="left",
            zorder=4,
        )
    _calibration(ax, 1.5, height - cell_h + 2.0)
    ax.text(1.0, 0.8, f"25 mm/s  10 mm/mV  {lead_name}", fontsize=4, zorder=4)
    if path is not None:
        fig.savefig(path, dpi=dpi, facecolor="white")
        plt.close(fig)
    return fig


def plot_strip(
    signal: np.ndarray,
    fs: float,
    peaks: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    lead_names: Sequence[str] = (),
    path: Path | None = None,
    dpi: int = 150,
) -> plt.Figure:
    """A continuous record ``signal [C, T]`` (mV) on ECG paper, one row per lead, with each
    annotated beat's class letter above its R peak."""
    c, n = signal.shape
    width = 10.0 + n / fs * MM_PER_S
    spans = [(float(s.min()), float(s.max())) for s in signal]
    rows_h = [5.0 * np.ceil(((hi - lo) * MM_PER_MV + 8.0) / 5.0) for lo, hi in spans]
    height = float(sum(rows_h))
    fig, ax = _figure(width, height, dpi)
    ecg_paper(ax, width, height)
    t = 10.0 + np.arange(n) / fs * MM_PER_S
    top = height
    for lead, ((lo, _), h) in enumerate(zip(spans, rows_h, strict=True)):
        base = top - h + 2.0 - lo * MM_PER_MV
        ax.plot(t, base + signal[lead] * MM_PER_MV, color=TRACE_COLOR, lw=0.7, zorder=3)
        _calibration(ax, 1.5, top - h + 2.0)
        name = lead_names[lead] if lead < len(lead_names) else f"lead {lead}"
        ax.text(1.0, top - 1.0, name, fontsize=5, va="top", zorder=4)
        if peaks is not None and lead == 0:
            marks = labels if labels is not None else [-1] * len(peaks)
            for p, lab in zip(peaks, marks, strict=True):
                ax.text(
                    t[int(p)],
                    top - 1.0,
                    CLASS_NAMES[int(lab)],
                    fontsize=5,
                    ha="center",
                    va="top",
                    color="#1f4e9a",
                    zorder=4,
                )
        top -= h
    if path is not None:
        fig.savefig(path, dpi=dpi, facecolor="white")
        plt.close(fig)
    return fig
