"""Mode-collapse check during training: generated diversity against real diversity.

Every ``every_n_epochs`` validation epochs the monitor samples ``n_samples`` segments from the
model with a fixed seed, maps them and a fixed seeded subset of real validation segments to
``waveform_features`` (``ecg_synth.metrics.features``) and compares their mean pairwise
distances (for a class-conditional model: within-class pairs, the model asked for the real
subset's classes). ``monitor/diversity_ratio`` = generated / real is about 1 for a healthy
generator and near 0 for a collapsed one (every sample alike, or one template per class).
Below ``threshold`` it warns, and with ``stop=true`` it ends the fit.

Sampling uses a private ``torch.Generator`` (``model.sample(seed=...)``), so the check does not
move the global RNG and an interrupted-and-resumed run still matches an uninterrupted one.
"""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn

from ecg_synth.metrics.features import waveform_features


class ModeCollapseWarning(UserWarning):
    """Generated diversity fell below the monitor's threshold."""


def feature_diversity(x: torch.Tensor, labels: torch.Tensor | None = None, bins: int = 32) -> float:
    """Mean pairwise Euclidean distance between the ``waveform_features`` of segments
    ``[N, C, L]`` (mV), N >= 2. With ``labels [N]``: over pairs of the same class only, so a
    class-conditional generator that emits one template per class scores 0 however different
    its class templates are."""
    if x.ndim != 3 or len(x) < 2:
        raise ValueError(f"feature_diversity needs [N >= 2, C, L] segments, got {tuple(x.shape)}")
    f = waveform_features(x, bins)
    if labels is None:
        return float(torch.pdist(f).mean())
    labels = torch.as_tensor(labels).reshape(-1)
    same = (labels[:, None] == labels[None, :]).triu(diagonal=1)
    if not same.any():
        return float(torch.pdist(f).mean())
    return float(torch.cdist(f, f)[same].mean())


class CollapseMonitor(pl.Callback):
    """Logs ``monitor/diversity_ratio`` (generated / real mean pairwise feature distance) and
    ``monitor/diversity_gen``; warns when the ratio is below ``threshold`` and, with
    ``stop=True``, sets ``trainer.should_stop``. No warning or stop in the first
    ``warmup_epochs`` epochs (an untrained generator is often near-constant).

    Models without ``sample`` (the autoencoder) are skipped.
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        n_samples: int = 256,
        threshold: float = 0.5,
        stop: bool = False,
        warmup_epochs: int = 1,
        seed: int = 1234,
        bins: int = 32,
    ) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"CollapseMonitor.every_n_epochs must be >= 1, got {every_n_epochs}")
        if n_samples < 2:
            raise ValueError(f"CollapseMonitor.n_samples must be >= 2, got {n_samples}")
        if not 0 < threshold <= 1:
            raise ValueError(f"CollapseMonitor.threshold must be in (0, 1], got {threshold}")
        self.every_n_epochs = every_n_epochs
        self.n_samples = n_samples
        self.threshold = threshold
        self.stop = stop
        self.warmup_epochs = warmup_epochs
        self.seed = seed
        self.bins = bins
        self.last_ratio: float | None = None
        self.stop_reason: str | None = None  # read by RunMetrics
        self._real: tuple[float, np.ndarray] | None = None  # (diversity, labels of the subset)

    @staticmethod
    def _class_pairs(pl_module, labels: np.ndarray | torch.Tensor | None):
        """Labels to restrict pairs to one class: class-conditional models only."""
        if labels is None or not getattr(pl_module, "use_class", False):
            return None
        return torch.as_tensor(labels)

    def _real_reference(self, trainer, pl_module) -> tuple[float, np.ndarray]:
        """Diversity of a seeded subset of the validation split (train if val is empty),
        computed once per fit: the real data do not change."""
        if self._real is None:
            dm = trainer.datamodule
            seg = dm.segments["val"] if len(dm.segments["val"]) >= 2 else dm.segments["train"]
            rng = np.random.default_rng(self.seed)
            idx = np.sort(rng.choice(len(seg), min(self.n_samples, len(seg)), replace=False))
            real = torch.from_numpy(np.ascontiguousarray(seg.signals[idx]))
            labels = np.asarray(seg.labels)[idx]
            self._real = (
                feature_diversity(real, self._class_pairs(pl_module, labels), self.bins),
                labels,
            )
        return self._real

    def _labels(self, pl_module, real_labels: np.ndarray) -> torch.Tensor | None:
        """A class-conditional model is asked for the real subset's class mix (classes it
        trained on only), so class composition does not masquerade as (lack of) diversity."""
        if not getattr(pl_module, "use_class", False):
            return None
        trained = (pl_module.class_probs > 0).cpu().numpy()
        usable = real_labels[trained[real_labels]]
        if len(usable) == 0:
            return None
        return torch.from_numpy(np.resize(usable, self.n_samples)).long()

    def on_fit_start(self, trainer, pl_module) -> None:
        self._real = None
        self.stop_reason = None

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch
        if trainer.sanity_checking or (epoch + 1) % self.every_n_epochs:
            return
        if trainer.datamodule is None or not callable(getattr(pl_module, "sample", None)):
            return
        real_div, real_labels = self._real_reference(trainer, pl_module)
        labels = self._labels(pl_module, real_labels)
        fake = pl_module.sample(self.n_samples, labels=labels, seed=self.seed)
        gen_div = feature_diversity(fake, self._class_pairs(pl_module, labels), self.bins)
        ratio = gen_div / max(real_div, 1e-12)
        self.last_ratio = ratio
        pl_module.log("monitor/diversity_ratio", ratio, sync_dist=True)
        pl_module.log("monitor/diversity_gen", gen_div, sync_dist=True)

        collapsed = epoch + 1 > self.warmup_epochs and ratio < self.threshold
        # Every process computes the same value; the reduction keeps DDP ranks in step anyway.
        collapsed = trainer.strategy.reduce_boolean_decision(collapsed, all=False)
        if not collapsed:
            return
        msg = (
            f"possible mode collapse at epoch {epoch}: generated diversity is {ratio:.3f} x "
            f"the real validation diversity (threshold {self.threshold})"
        )
        if self.stop:
            self.stop_reason = f"collapse: {msg}"
            trainer.should_stop = True
            msg += "; stopping (callbacks.collapse_monitor.stop=true)"
        rank_zero_warn(msg, category=ModeCollapseWarning)
