"""Real vs generated figures from the model's fixed, checkpointed noise."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import matplotlib

matplotlib.use("Agg")  # no display on servers; must come before pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402
from lightning.pytorch.utilities import rank_zero_only  # noqa: E402

from ecg_synth.data.types import AAMI_CLASSES  # noqa: E402


def plot_real_vs_generated(
    real: np.ndarray,
    real_labels: np.ndarray,
    fake: np.ndarray,
    fake_labels: np.ndarray,
    fs: float,
    n: int = 8,
    title: str = "",
):
    """One column per class present in ``fake_labels`` (one "all" column when the model is
    not class-conditional and its labels are -1); real segments (grey) above generated ones
    (colour), lead 0, in mV against milliseconds. Returns the matplotlib figure."""
    columns = [
        (AAMI_CLASSES[c], real_labels == c, fake_labels == c)
        for c in range(len(AAMI_CLASSES))
        if (fake_labels == c).any()
    ]
    if not columns:
        columns = [("all", np.ones(len(real), bool), np.ones(len(fake), bool))]
    fig, axes = plt.subplots(
        2, len(columns), figsize=(3.2 * len(columns), 5), squeeze=False, sharex=True, sharey=True
    )
    t_ms = np.arange(fake.shape[-1]) / fs * 1000
    for col, (name, real_mask, fake_mask) in enumerate(columns):
        for row, (x, color, kind) in enumerate(
            [(real[real_mask], "0.4", "real"), (fake[fake_mask], "C0", "generated")]
        ):
            ax = axes[row, col]
            for seg in x[:n]:
                ax.plot(t_ms, seg[0], color=color, lw=0.8, alpha=0.7)
            ax.set_title(f"{kind} {name}", fontsize=9)
            ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("ms")
    for ax in axes[:, 0]:
        ax.set_ylabel("mV")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


class SampleFigures(pl.Callback):
    """Every ``every_n_epochs`` validation epochs: draw real validation segments beside segments
    generated from the model's fixed noise (``generate_fixed()``), per class; write
    ``<run>/figures/epoch_XXX.png`` and ``samples_latest.png`` and add the figure to TensorBoard."""

    def __init__(self, every_n_epochs: int = 1, n_real: int = 8) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"SampleFigures.every_n_epochs must be >= 1, got {every_n_epochs}")
        self.every_n_epochs = every_n_epochs
        self.n_real = n_real
        self.latest_path: Path | None = None

    @rank_zero_only
    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        dm = trainer.datamodule
        if dm is None or not hasattr(pl_module, "generate_fixed"):
            return
        real = dm.segments["val"] if len(dm.segments["val"]) else dm.segments["train"]
        fake, fake_labels = pl_module.generate_fixed()
        fig = plot_real_vs_generated(
            real.signals,
            real.labels,
            fake.cpu().numpy(),
            fake_labels.cpu().numpy(),
            dm.fs,
            self.n_real,
            title=f"epoch {trainer.current_epoch}",
        )
        out = Path(trainer.default_root_dir) / "figures"
        out.mkdir(parents=True, exist_ok=True)
        fig.savefig(out / f"epoch_{trainer.current_epoch:03d}.png", dpi=80)
        self.latest_path = out / "samples_latest.png"
        fig.savefig(self.latest_path, dpi=80)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_figure("samples/real_vs_generated", fig, trainer.global_step)
        plt.close(fig)
