"""A small learned ECG embedding for distribution metrics (FD, PRDC, MMD, modes).

The encoder is a 3-layer 1-D CNN trained on the REAL TRAINING split only, supervised on two
tasks at once: the AAMI class and the record (= subject) id, so its features separate beat
types and the subject-specific morphology a generator should reproduce. It pools the conv
features into ``pool_bins`` time bins and flattens them instead of pooling globally, so
the embedding keeps *where* the waves are: a beat shifted by 167 ms lands elsewhere, which
global statistics (mean, variance, skewness, kurtosis) cannot see. Inputs are scaled by
one mean/std per lead from the training set (kept in the weights), not per segment, so
amplitude errors stay visible.

Budget: about a minute on 2 CPU cores for 50k beats of 256 samples (``max_train`` caps the
training rows; 4 epochs). Trained weights are cached as safetensors under a key of the
training data's fingerprint, the window config (fs, r_index, shape) and the encoder config,
so evaluations of many generators against one dataset train it once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ecg_synth.metrics.signal import check_fs, check_labels, check_segments

ENCODER_VERSION = 1


@dataclass(frozen=True)
class EncoderConfig:
    """Encoder size and training schedule (part of the cache key)."""

    emb_dim: int = 64
    width: int = 16
    pool_bins: int = 8
    epochs: int = 4
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-4
    max_train: int = 50_000
    record_weight: float = 0.5  # loss weight of the record-id head (class head has 1)
    seed: int = 0


class ECGEncoder(nn.Module):
    """``[B, C, L]`` mV -> ``[B, emb_dim]`` embedding, plus class / record logits for training."""

    def __init__(
        self,
        in_channels: int,
        length: int,
        n_classes: int,
        n_records: int,
        config: EncoderConfig = EncoderConfig(),
    ) -> None:
        super().__init__()
        self.in_channels, self.length, self.config = in_channels, length, config
        self.n_classes, self.n_records = n_classes, n_records
        w = config.width

        def block(cin: int, cout: int, k: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv1d(cin, cout, k, stride=2, padding=k // 2), nn.BatchNorm1d(cout), nn.ReLU()
            )

        self.features = nn.Sequential(
            block(in_channels, w, 9), block(w, 2 * w, 7), block(2 * w, 2 * w, 5)
        )
        self.project = nn.Linear(2 * w * config.pool_bins, config.emb_dim)
        self.class_head = nn.Linear(config.emb_dim, max(n_classes, 1))
        self.record_head = nn.Linear(config.emb_dim, max(n_records, 1))
        self.register_buffer("mean", torch.zeros(in_channels, 1))
        self.register_buffer("std", torch.ones(in_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embedding ``[B, emb_dim]`` (linear output, no activation: closer to Gaussian for FD)."""
        h = self.features((x - self.mean) / self.std)
        return self.project(F.adaptive_avg_pool1d(h, self.config.pool_bins).flatten(1))

    def meta(self) -> dict[str, str]:
        return {
            "config": json.dumps(asdict(self.config)),
            "in_channels": str(self.in_channels),
            "length": str(self.length),
            "n_classes": str(self.n_classes),
            "n_records": str(self.n_records),
            "version": str(ENCODER_VERSION),
        }


def train_encoder(x, labels, groups=None, config: EncoderConfig = EncoderConfig()) -> ECGEncoder:
    """Train an encoder on real training segments ``x [N, C, L]`` (mV) with AAMI ``labels [N]``
    and optional record ids ``groups [N]`` (any hashable values). Deterministic given
    ``config.seed``; the global RNG state is left untouched. Returns it in eval mode."""
    x = check_segments(x, "x", min_n=2)
    labels = check_labels(labels, len(x), "labels")
    if (labels < 0).any():
        raise ValueError(f"labels: must be >= 0, got min {labels.min()}")
    if groups is None:
        rec = np.zeros(len(x), dtype=np.int64)
    else:
        groups = np.asarray(groups)
        if groups.shape != (len(x),):
            raise ValueError(f"groups: expected [{len(x)}] record ids, got shape {groups.shape}")
        rec = np.unique(groups, return_inverse=True)[1].astype(np.int64)
    rng = np.random.default_rng(config.seed)
    if len(x) > config.max_train:
        keep = np.sort(rng.choice(len(x), config.max_train, replace=False))
        x, labels, rec = x[keep], labels[keep], rec[keep]
    n_rec = int(rec.max()) + 1
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        model = ECGEncoder(x.shape[1], x.shape[2], int(labels.max()) + 1, n_rec, config)
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        model.mean.copy_(xt.mean((0, 2))[:, None])
        model.std.copy_(xt.std((0, 2)).clamp_min(1e-6)[:, None])
        yt, rt = torch.from_numpy(labels), torch.from_numpy(rec)
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        steps = config.epochs * -(-len(x) // config.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps)
        gen = torch.Generator().manual_seed(config.seed)
        model.train()
        for _ in range(config.epochs):
            for idx in torch.randperm(len(x), generator=gen).split(config.batch_size):
                if len(idx) < 2:  # BatchNorm needs two rows
                    continue
                emb = model(xt[idx])
                loss = F.cross_entropy(model.class_head(emb), yt[idx])
                if n_rec > 1:
                    loss = loss + config.record_weight * F.cross_entropy(
                        model.record_head(emb), rt[idx]
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    return model.eval()


@torch.no_grad()
def embed(encoder: ECGEncoder, x, batch_size: int = 2048) -> np.ndarray:
    """Embed segments ``x [N, C, L]`` (mV) -> ``[N, emb_dim]`` float64."""
    x = check_segments(x, "x")
    if x.shape[1:] != (encoder.in_channels, encoder.length):
        raise ValueError(
            f"x: segments of shape [C, L] = {list(x.shape[1:])}, but the encoder was "
            f"trained on {[encoder.in_channels, encoder.length]}"
        )
    encoder.eval()
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return torch.cat([encoder(b) for b in xt.split(batch_size)]).double().numpy()


def fingerprint(
    x,
    labels,
    groups,
    fs: float,
    r_index: int | None,
    config: EncoderConfig = EncoderConfig(),
) -> str:
    """Cache key: sha256 over the training data bytes, labels, record ids, window config
    (fs, r_index, shape) and encoder config/version. First 16 hex digits."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {
                "shape": list(x.shape),
                "fs": float(fs),
                "r_index": r_index,
                "config": asdict(config),
                "version": ENCODER_VERSION,
            },
            sort_keys=True,
        ).encode()
    )
    h.update(x.tobytes())
    h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    if groups is not None:
        h.update("\x00".join(map(str, np.asarray(groups).tolist())).encode())
    return h.hexdigest()[:16]


def save_encoder(encoder: ECGEncoder, path: str | Path) -> None:
    """Write the weights and the constructor arguments (metadata) as safetensors."""
    state = {k: v.detach().contiguous() for k, v in encoder.state_dict().items()}
    save_file(state, str(path), metadata=encoder.meta())


def load_encoder(path: str | Path) -> ECGEncoder:
    """Inverse of :func:`save_encoder` (safetensors: no pickle, nothing executed on load)."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("version") != str(ENCODER_VERSION):
        raise ValueError(
            f"{path}: encoder version {meta.get('version')!r}, expected {ENCODER_VERSION}"
        )
    model = ECGEncoder(
        int(meta["in_channels"]),
        int(meta["length"]),
        int(meta["n_classes"]),
        int(meta["n_records"]),
        EncoderConfig(**json.loads(meta["config"])),
    )
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def load_or_train_encoder(
    x,
    labels,
    groups=None,
    *,
    fs: float,
    r_index: int | None,
    cache_dir: str | Path,
    config: EncoderConfig = EncoderConfig(),
) -> ECGEncoder:
    """Encoder for the real training split ``x [N, C, L]``: loaded from
    ``cache_dir/encoder-<fingerprint>.safetensors`` if present, else trained and saved there
    (written to a temporary name and renamed, so concurrent callers never read half a file)."""
    fs = check_fs(fs)
    x = check_segments(x, "x", min_n=2)
    path = (
        Path(cache_dir)
        / f"encoder-{fingerprint(x, labels, groups, fs, r_index, config)}.safetensors"
    )
    if path.is_file():
        return load_encoder(path)
    model = train_encoder(x, labels, groups, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{np.random.default_rng().integers(1 << 30)}")
    save_encoder(model, tmp)
    tmp.replace(path)
    return model
