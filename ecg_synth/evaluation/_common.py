"""Shared helpers of the evaluation models: input checks, splits, and one small training loop.

Every public evaluation function validates its inputs here, so bad data fails early with a
``ValueError`` that names the argument (``x_train``, ``y_test`` ...) instead of surfacing as a
shape error deep inside PyTorch or scikit-learn.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit, StratifiedShuffleSplit
from torch import nn

from ecg_synth.data.types import AAMI_CLASSES
from ecg_synth.numerics import check_thread_count

N_CLASSES = len(AAMI_CLASSES)


# ----------------------------------------------------------------------------- input checks
def as_segments(x, name: str) -> np.ndarray:
    """``x`` as float32 ``[N, C, L]`` with N > 0 and only finite values."""
    arr = np.asarray(x)
    if arr.ndim != 3:
        raise ValueError(f"{name} must be segments [N, C, L], got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[2] < 2:
        raise ValueError(f"{name} is empty or too short: shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=(1, 2)).sum())
        raise ValueError(f"{name} contains NaN or inf values (in {bad} of {len(arr)} segments)")
    return arr


def same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Two segment sets must share leads and length to go through one model."""
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(
            f"{name_b} segments have [C, L] = {list(b.shape[1:])} but {name_a} has "
            f"{list(a.shape[1:])}; resample/crop them to the same shape first"
        )


def as_labels(y, n: int, name: str, n_classes: int = N_CLASSES) -> np.ndarray:
    """Integer class labels ``[n]`` in ``0..n_classes-1`` (AAMI order N, S, V, F, Q)."""
    arr = np.asarray(y)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(
            f"{name} must be 1-D with one label per segment ({n}), got shape {arr.shape}"
        )
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        if (
            not np.issubdtype(arr.dtype, np.floating)
            or not np.all(np.isfinite(arr))
            or np.any(arr != np.round(arr))
        ):
            raise ValueError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= n_classes)
    if bad.any():
        raise ValueError(
            f"{name} has labels outside 0..{n_classes - 1} (e.g. {arr[bad][:5].tolist()}); "
            f"labels index AAMI_CLASSES {AAMI_CLASSES}"
        )
    return arr


def as_rr(rr, n: int, name: str) -> np.ndarray | None:
    """Optional RR features ``[n, 3]`` (seconds: previous, next, local mean), finite and > 0."""
    if rr is None:
        return None
    arr = np.asarray(rr, dtype=np.float32)
    if arr.ndim != 2 or arr.shape != (n, 3):
        raise ValueError(f"{name} must be [N, 3] RR intervals with N = {n}, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf values")
    if (arr <= 0).any():
        raise ValueError(f"{name} must hold positive RR intervals in seconds")
    return arr


def as_groups(groups, n: int, name: str) -> np.ndarray | None:
    """Optional group ids ``[n]`` (record / subject names or numbers)."""
    if groups is None:
        return None
    arr = np.asarray(groups)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"{name} must be 1-D with one id per segment ({n}), got shape {arr.shape}")
    return arr


def resolve_classes(classes: Sequence[str | int]) -> list[int]:
    """Class names (``"N"``) or indices -> sorted unique AAMI indices."""
    out = []
    for c in classes:
        if isinstance(c, str):
            if c not in AAMI_CLASSES:
                raise ValueError(f"classes: unknown class {c!r}; expected one of {AAMI_CLASSES}")
            out.append(AAMI_CLASSES.index(c))
        else:
            if not 0 <= int(c) < N_CLASSES:
                raise ValueError(f"classes: index {c} outside 0..{N_CLASSES - 1}")
            out.append(int(c))
    if not out:
        raise ValueError("classes must name at least one class")
    return sorted(set(out))


def require_classes(y: np.ndarray, classes: Sequence[int], name: str) -> None:
    """Raise if a class the caller scores or trains on has no segments in ``y``."""
    counts = np.bincount(y, minlength=N_CLASSES)
    empty = [AAMI_CLASSES[c] for c in classes if counts[c] == 0]
    if empty:
        have = dict(zip(AAMI_CLASSES, counts.tolist(), strict=True))
        raise ValueError(
            f"{name} has no segments of class(es) {empty} (counts {have}); "
            "pass classes=... without them"
        )


# ----------------------------------------------------------------------------- splits
def holdout_split(
    n: int,
    groups: np.ndarray | None,
    test_fraction: float,
    seed: int,
    name: str,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test). By group when ``groups`` is given (no group on both sides),
    else stratified by ``labels`` when every class has two members, else plain random."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test/val fraction must be in (0, 1), got {test_fraction}")
    idx = np.arange(n)
    if groups is not None:
        if len(np.unique(groups)) < 2:
            raise ValueError(f"{name}: a split by group needs at least 2 distinct groups")
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
        return next(splitter.split(idx, groups=groups))
    if n < 2:
        raise ValueError(f"{name}: need at least 2 segments to split, got {n}")
    counts = None if labels is None else np.bincount(labels)
    if counts is not None and (counts[counts > 0] >= 2).all():
        try:
            splitter = StratifiedShuffleSplit(
                n_splits=1, test_size=test_fraction, random_state=seed
            )
            return next(splitter.split(idx, labels))
        except ValueError:  # too few members for the requested sizes: fall back to random
            pass
    return next(ShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed).split(idx))


def balance_two(n_a: int, n_b: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Subsample the larger of two sets so both have ``min(n_a, n_b)`` rows; chance = 0.5."""
    m = min(n_a, n_b)
    return np.sort(rng.permutation(n_a)[:m]), np.sort(rng.permutation(n_b)[:m])


# ----------------------------------------------------------------------------- training
@dataclass
class TrainConfig:
    """Optimisation settings shared by the evaluation networks (small, CPU-friendly)."""

    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 5  # epochs without a better validation loss before stopping
    val_fraction: float = 0.15
    seed: int = 0
    num_threads: int | None = None  # torch threads while training; None = leave as is
    # Wall-clock budget; stops after the epoch that passes it. Results then depend on the
    # machine's speed and load, so evaluate.yaml leaves it off.
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        check_thread_count(self.num_threads, "num_threads")


@contextlib.contextmanager
def torch_session(seed: int, num_threads: int | None) -> Iterator[None]:
    """Seed torch (and optionally set its thread count) only inside the block.

    ``fork_rng`` restores the caller's global RNG state afterwards, and the thread count is
    put back, so evaluation never changes global torch settings.
    """
    old_threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        try:
            yield
        finally:
            torch.set_num_threads(old_threads)


def _tensors(arrays: Sequence[np.ndarray], index: np.ndarray | slice) -> list[torch.Tensor]:
    return [torch.from_numpy(np.ascontiguousarray(a[index])) for a in arrays]


def fit_network(
    net: nn.Module,
    train_inputs: Sequence[np.ndarray],
    y_train: np.ndarray,
    val_inputs: Sequence[np.ndarray] | None,
    y_val: np.ndarray | None,
    cfg: TrainConfig,
    class_weight: np.ndarray | None = None,
) -> dict:
    """Train ``net(*inputs) -> logits`` with cross-entropy and Adam; early-stop on val loss.

    Inputs are NumPy arrays sharing the first axis; the best-validation weights are restored.
    Must run inside ``torch_session`` (that is what makes batches and init reproducible).
    Returns a history dict: per-epoch train / val loss, best epoch, epochs run, seconds.
    """
    gen = torch.Generator().manual_seed(cfg.seed)
    weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32)
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    y_t = torch.from_numpy(y_train.astype(np.int64))
    has_val = val_inputs is not None and y_val is not None and len(y_val) > 0
    best, best_state, best_epoch, bad = np.inf, None, -1, 0
    hist: dict = {"train_loss": [], "val_loss": []}
    start = time.perf_counter()
    n = len(y_train)
    for epoch in range(cfg.epochs):
        net.train()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for s in range(0, n, cfg.batch_size):
            b = order[s : s + cfg.batch_size]
            if len(b) < 2 and n > 1:  # BatchNorm cannot train on a single row
                continue
            xb = _tensors(train_inputs, b.numpy())
            loss = loss_fn(net(*xb), y_t[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        hist["train_loss"].append(total / n)
        if has_val:
            logits = predict_logits(net, val_inputs, cfg.batch_size)
            val_loss = float(loss_fn(logits, torch.from_numpy(y_val.astype(np.int64))))
            hist["val_loss"].append(val_loss)
            if val_loss < best - 1e-6:
                best, best_epoch, bad = val_loss, epoch, 0
                best_state = copy.deepcopy(net.state_dict())
            else:
                bad += 1
        if has_val and bad >= cfg.patience:
            break
        if cfg.max_seconds is not None and time.perf_counter() - start > cfg.max_seconds:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    hist.update(
        best_epoch=best_epoch if has_val else len(hist["train_loss"]) - 1,
        epochs_run=len(hist["train_loss"]),
        seconds=time.perf_counter() - start,
    )
    return hist


@torch.no_grad()
def predict_logits(
    net: nn.Module, inputs: Sequence[np.ndarray], batch_size: int = 1024
) -> torch.Tensor:
    """Logits ``[N, K]`` of ``net`` in eval mode, batched to bound memory."""
    was_training = net.training
    net.eval()
    n = len(inputs[0])
    out = [net(*_tensors(inputs, slice(s, s + batch_size))) for s in range(0, n, batch_size)]
    net.train(was_training)
    return torch.cat(out) if out else torch.zeros(0)


def standardise_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-lead mean and std ``[1, C, 1]`` of ``[N, C, L]`` (std floored to avoid /0)."""
    mean = x.mean(axis=(0, 2), keepdims=True, dtype=np.float64)
    std = x.std(axis=(0, 2), keepdims=True, dtype=np.float64)
    return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)
