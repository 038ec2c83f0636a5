"""LightningDataModule over the segment cache: split by patient, normalise on train only.

Batches are dicts::

    {"signal": float32 [B, C, L] (normalised), "label": int64 [B] (AAMI index),
     "subject": int64 [B] (index into ``subjects``; -1 for records outside train),
     "rr": float32 [B, 3] (previous, next, local mean RR in seconds)}

Training batches can be varied on their device (``augment``: gain, time stretch about the R
peak, baseline; ``ecg_synth.data.augment``); validation and test batches never are.

The train sampler (``EpochSeededSampler``) shuffles, or draws class-balanced with
replacement, from ``seed + epoch``. Under DDP Lightning wraps it in a
``DistributedSamplerWrapper`` that hands each rank its share of the sampler's draws (and
reshuffles them per epoch); that is correct because every rank's sampler is seeded the
same way and so draws the same sequence.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ecg_synth.data.augment import BeatAugment
from ecg_synth.data.build import build_segments, plain
from ecg_synth.data.normalize import MODES as NORMALIZE_MODES
from ecg_synth.data.normalize import Normalizer, RRScaler
from ecg_synth.data.splits import SPLIT_MODES, SPLITS, split_indices
from ecg_synth.data.types import AAMI_CLASSES, SegmentSet
from ecg_synth.data.wfdb_io import DataError

log = logging.getLogger(__name__)


class EpochSeededSampler(Sampler[int]):
    """A shuffle (or, with ``weights``, class-weighted draws with replacement) seeded from
    ``seed + epoch``. Lightning calls ``set_epoch`` every epoch, so a run resumed at epoch k
    sees the same order as the uninterrupted run, which a single running generator cannot
    give (a resumed process would replay epoch 0's order)."""

    def __init__(self, n: int, seed: int, weights: torch.Tensor | None = None) -> None:
        self.n, self.seed, self.weights, self.epoch = n, int(seed), weights, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.weights is None:
            return iter(torch.randperm(self.n, generator=g).tolist())
        return iter(torch.multinomial(self.weights, self.n, replacement=True, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


class BatchDataset(Dataset):
    """Pre-made tensors sharing their first axis; ``__getitems__`` returns a whole batch
    with one indexing op per tensor, so the DataLoader never collates sample by sample."""

    def __init__(self, **tensors: torch.Tensor) -> None:
        self.tensors = tensors
        self._n = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        # index_select, not v[idx]: advanced indexing is ~100x slower on CPU for this shape.
        return {k: v.index_select(0, idx) for k, v in self.tensors.items()}


def draw_weights(
    labels: np.ndarray, records: np.ndarray, class_power: float, by_record: bool
) -> np.ndarray:
    """Per-segment sampling weights (unnormalised). A class is drawn in proportion to
    ``count ** (1 - class_power)`` (1 balances the classes, 0 keeps their counts); with
    ``by_record``, within a class every record that holds it is drawn equally often, so a
    class learnt mostly from one patient's beats also shows the others'."""
    _, cls, cls_count = np.unique(labels, return_inverse=True, return_counts=True)
    shares = cls_count[cls]  # how many segments share each segment's class total
    if by_record:
        _, rec = np.unique(np.asarray(records).astype(str), return_inverse=True)
        n_rec = rec.max() + 1
        pairs, pair, pair_count = np.unique(
            cls * n_rec + rec, return_inverse=True, return_counts=True
        )
        records_per_class = np.bincount(pairs // n_rec, minlength=len(cls_count))
        shares = records_per_class[cls] * pair_count[pair]
    return cls_count[cls] ** (1.0 - class_power) / shares


def _as_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """collate_fn: ``__getitems__`` already built the batch (module level so workers pickle it)."""
    return batch


class ECGDataModule(L.LightningDataModule):
    """MIT-BIH-like segments as batches; constructor kwargs = the ``dataset`` config keys.

    ``prepare_data`` downloads/simulates and fills the cache; ``setup`` loads it, splits,
    fits the normaliser on train. Both may be called by hand before ``Trainer.fit`` and
    again inside it: the second ``setup`` returns at once.
    """

    def __init__(
        self,
        source: Mapping,
        preprocess: Mapping | None = None,
        segment: Mapping | None = None,
        normalize: Mapping | None = None,
        split: Mapping | None = None,
        batch_size: int = 128,
        num_workers: int = 0,
        pin_memory: bool = False,
        balanced_sampler: bool = False,
        balance_power: float = 1.0,
        balance_records: bool = False,
        val_batch_size: int | None = None,
        cache_dir: str | None = None,
        seed: int = 0,
        augment: Mapping | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)  # a checkpoint alone can rebuild the data
        self.source = plain(source)
        self.preprocess = plain(preprocess) or {}
        self.segment_cfg = plain(segment) or {"kind": "beat"}
        self.normalize_cfg = plain(normalize) or {"mode": "global"}
        self.split_cfg = {"seed": seed, **(plain(split) or {"mode": "random_records"})}
        # Fail on a bad mode now, not after minutes of preprocessing.
        if self.split_cfg.get("mode") not in SPLIT_MODES:
            raise DataError(
                f"split.mode={self.split_cfg.get('mode')!r}: expected one of {SPLIT_MODES}"
            )
        if self.normalize_cfg.get("mode", "global") not in NORMALIZE_MODES:
            raise DataError(
                f"normalize.mode={self.normalize_cfg.get('mode')!r}: expected one "
                f"of {NORMALIZE_MODES}"
            )
        self.batch_size, self.val_batch_size = int(batch_size), int(val_batch_size or batch_size)
        self.num_workers, self.pin_memory = int(num_workers), bool(pin_memory)
        self.balanced_sampler, self.cache_dir, self.seed = bool(balanced_sampler), cache_dir, seed
        if not 0.0 <= balance_power <= 1.0:
            raise DataError(f"balance_power must lie in [0, 1], got {balance_power!r}")
        self.balance_power = float(balance_power)
        if not isinstance(balance_records, bool):
            raise DataError(f"balance_records must be true or false, got {balance_records!r}")
        self.balance_records = balance_records
        self.augment_cfg = plain(augment) or {}
        BeatAugment.check_config(self.augment_cfg)  # a wrong key fails before preprocessing
        self.augmenter: BeatAugment | None = None
        self.classes = AAMI_CLASSES
        self.segments: dict[str, SegmentSet] = {}
        self.datasets: dict[str, BatchDataset] = {}
        self.normalizer: Normalizer | None = None
        self.fingerprint: dict[str, Any] = {}
        self.subjects: list[str] = []
        self._built: tuple[SegmentSet, dict] | None = None

    # ---- Lightning hooks -------------------------------------------------------------
    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """Vary training batches (``augment``), on their device; others pass unchanged."""
        trainer = self.trainer
        if self.augmenter is not None and trainer is not None and trainer.training:
            batch = {**batch, "signal": self.augmenter(batch["signal"])}
        return batch

    def _build(self) -> tuple[SegmentSet, dict]:
        return build_segments(self.source, self.preprocess, self.segment_cfg, self.cache_dir)

    def prepare_data(self) -> None:
        """Download or simulate the records and write the segment cache (rank 0 per node)."""
        # After a manual setup() the Trainer's own call has nothing left to do; otherwise the
        # result is kept for setup() in this process (other ranks load the cache).
        if self._built is None and not self.datasets:
            self._built = self._build()

    def setup(self, stage: str | None = None) -> None:
        """Load segments, split by record, fit the normaliser on train, make datasets."""
        if self.datasets:
            return
        segs, self.fingerprint = self._built or self._build()
        self._built = None  # free the unsplit copy
        index = split_indices(segs, self.split_cfg)
        self.segments = {s: segs.subset(index[s]) for s in SPLITS}
        train = self.segments["train"]
        self.normalizer = Normalizer.fit(
            train.signals,
            self.normalize_cfg.get("mode", "global"),
            float(self.normalize_cfg.get("quantile", 0.001)),
        )
        self.augmenter = BeatAugment.from_config(
            self.augment_cfg, self.normalizer, train.r_index, train.signals.shape[-1]
        )
        self.subjects = sorted(set(train.records.astype(str).tolist()))
        names = np.asarray(self.subjects, dtype=str)
        for s, seg in self.segments.items():
            pos = np.minimum(np.searchsorted(names, seg.records), len(names) - 1)
            subject = np.where(names[pos] == seg.records, pos, -1).astype(np.int64)
            self.datasets[s] = BatchDataset(
                signal=torch.from_numpy(self.normalizer.transform(seg.signals)),
                label=torch.from_numpy(seg.labels.astype(np.int64)),
                subject=torch.from_numpy(subject),
                rr=torch.from_numpy(seg.rr.astype(np.float32)),
            )
        log.info("dataset\n%s", self.summary())

    # ---- shapes and metadata ---------------------------------------------------------
    def _train(self) -> SegmentSet:
        if not self.segments:
            raise RuntimeError("ECGDataModule: call prepare_data() and setup() first")
        return self.segments["train"]

    @property
    def fs(self) -> float:
        return self._train().fs

    @property
    def length(self) -> int:
        return int(self._train().signals.shape[-1])

    @property
    def leads(self) -> list[str]:
        return list(self._train().leads)

    @property
    def r_index(self) -> int | None:
        return self._train().r_index

    def signals(self, split: str = "train") -> torch.Tensor:
        """A split's segments ``[N, C, L]`` in model units (normalised, never augmented)."""
        self._train()
        return self.datasets[split].tensors["signal"]

    def class_counts(self, split: str = "train") -> dict[str, int]:
        counts = np.bincount(self.segments[split].labels, minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, counts, strict=True)}

    def data_info(self) -> dict[str, Any]:
        """JSON-able description a checkpoint or generator needs to map outputs back."""
        assert self.normalizer is not None, "call setup() first"
        return {
            "fs": self.fs,
            "length": self.length,
            "leads": self.leads,
            "r_index": self.r_index,
            "classes": list(self.classes),
            "subjects": list(self.subjects),
            "normalizer": self.normalizer.to_dict(),
            "class_counts": self.class_counts("train"),
            "rr_scaler": RRScaler.fit(self._train().rr).to_dict(),
        }

    def summary(self) -> str:
        """Segments per class for each split, then per record, as a text table."""
        self._train()
        head = f"{'split/record':<14}" + "".join(f"{c:>8}" for c in self.classes) + f"{'total':>9}"
        lines = [head, "-" * len(head)]
        for s in SPLITS:
            counts = self.class_counts(s)
            lines.append(
                f"{s:<14}"
                + "".join(f"{counts[c]:>8}" for c in self.classes)
                + f"{sum(counts.values()):>9}"
            )
        for s in SPLITS:
            seg = self.segments[s]
            per = Counter(zip(seg.records.astype(str).tolist(), seg.labels.tolist(), strict=True))
            for rec in sorted({r for r, _ in per}):
                row = [per[(rec, i)] for i in range(len(self.classes))]
                lines.append(
                    f"  {s:<5} {rec:<6}" + "".join(f"{n:>8}" for n in row) + f"{sum(row):>9}"
                )
        return "\n".join(lines)

    # ---- loaders ---------------------------------------------------------------------
    def _loader(self, split: str, batch_size: int, **kw: Any) -> DataLoader:
        self._train()
        return DataLoader(
            self.datasets[split],
            batch_size=batch_size,
            collate_fn=_as_batch,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            **kw,
        )

    def train_dataloader(self) -> DataLoader:
        """Seeded shuffle (or class-balanced sampling); ``drop_last`` keeps every batch full
        for the discriminator's batch statistics."""
        n = len(self.datasets["train"]) if self.datasets else 0
        if n < self.batch_size:
            raise DataError(
                f"train split has {n} segments, fewer than batch_size="
                f"{self.batch_size}: with drop_last no batch would be made"
            )
        weights = None
        if self.balanced_sampler or self.balance_records:
            seg = self.segments["train"]
            power = self.balance_power if self.balanced_sampler else 0.0
            w = draw_weights(seg.labels, seg.records, power, self.balance_records)
            weights = torch.as_tensor(w, dtype=torch.double)
        sampler = EpochSeededSampler(n, self.seed, weights)
        return self._loader("train", self.batch_size, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.val_batch_size, shuffle=False, drop_last=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.val_batch_size, shuffle=False, drop_last=False)
