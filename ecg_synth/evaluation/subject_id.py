"""Subject identification: does subject-conditioned synthetic ECG look like *that* subject?

An LSTM-CNN (conv front end -> LSTM -> linear head) learns to tell subjects apart from their
real segments. It is trained on the earlier part of every subject's recording and tested on
the later part (a time split, so neighbouring, near-identical beats do not leak into the
test), then on generated segments conditioned on each subject. Accuracy on generated data
near the real held-out accuracy means the generator keeps subject identity; near chance
(1 / n_subjects) means it does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import accuracy_score
from torch import nn

from ecg_synth.evaluation._common import (
    TrainConfig,
    as_groups,
    as_segments,
    fit_network,
    predict_logits,
    same_shape,
    standardise_stats,
    torch_session,
)


@dataclass
class SubjectIdConfig(TrainConfig):
    """Settings of the subject identifier."""

    epochs: int = 20
    batch_size: int = 128
    patience: int = 4
    val_fraction: float = 0.15  # of each subject's segments, just before its test part
    test_fraction: float = 0.3  # the last part of each subject's segments
    conv_channels: tuple[int, ...] = (16, 32, 32)  # 3 halvings: the LSTM sees L / 8 steps
    hidden: int = 64
    max_per_subject: int | None = 600  # cap (random, time order kept) to bound training time


class LSTMCNN(nn.Module):
    """``[B, C, L] -> logits [B, n_subjects]``: conv blocks (each halves L), an LSTM over the
    downsampled sequence, and a linear head on the mean of its outputs and last state."""

    def __init__(
        self, in_channels: int, n_subjects: int, conv_channels=(16, 32, 32), hidden: int = 64
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for ch in conv_channels:
            layers += [
                nn.Conv1d(prev, ch, 7, padding=3, bias=False),
                nn.BatchNorm1d(ch),
                nn.ReLU(),
                nn.MaxPool1d(2),
            ]
            prev = ch
        self.conv = nn.Sequential(*layers)
        self.lstm = nn.LSTM(prev, hidden, batch_first=True)
        self.head = nn.Linear(2 * hidden, n_subjects)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq, (h, _) = self.lstm(self.conv(x).transpose(1, 2))  # [B, T, H], [1, B, H]
        return self.head(torch.cat([seq.mean(dim=1), h[-1]], dim=1))


def time_split(
    codes: np.ndarray, order: np.ndarray, val_fraction: float, test_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per subject, in ``order``: first part train, then val, last ``test_fraction`` test.

    ``codes [N]`` are integer subject codes. Returns index arrays (train, val, test).
    """
    srt = np.lexsort((order, codes))
    sc = codes[srt]
    counts = np.bincount(sc)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = (np.arange(len(sc)) - first[sc]) / counts[sc]  # position in the subject, [0, 1)
    test = rank >= 1 - test_fraction
    val = ~test & (rank >= 1 - test_fraction - val_fraction)
    return srt[~test & ~val], srt[val], srt[test]


def subject_identifier(
    real,
    subjects,
    generated=None,
    generated_subjects=None,
    *,
    order=None,
    config: SubjectIdConfig | None = None,
) -> dict:
    """Train on real segments ``real [N, C, L]`` (mV) of ``subjects [N]``; test on held-out
    real segments and on ``generated [M, C, L]`` conditioned on ``generated_subjects [M]``.

    ``order [N]`` gives the time of each real segment (e.g. its R-peak sample); default: the
    input order. Returns {accuracy_real, accuracy_generated (None without generated data),
    chance, n_subjects, n_train, n_test_real, n_generated, epochs_run, best_epoch}.
    """
    cfg = config or SubjectIdConfig()
    real = as_segments(real, "real")
    subjects = as_groups(subjects, len(real), "subjects")
    if subjects is None:
        raise ValueError("subjects is required (one subject id per real segment)")
    order = np.arange(len(real)) if order is None else as_groups(order, len(real), "order")
    names, codes = np.unique(subjects, return_inverse=True)
    if len(names) < 2:
        raise ValueError(f"subjects must name at least 2 subjects, got {names.tolist()}")
    counts = np.bincount(codes)
    if counts.min() < 3:
        raise ValueError(
            f"subjects: every subject needs >= 3 segments for a train/val/test "
            f"time split; {names[counts < 3].tolist()} have fewer"
        )
    if generated is not None:
        generated = as_segments(generated, "generated")
        same_shape(real, generated, "real", "generated")
        generated_subjects = as_groups(generated_subjects, len(generated), "generated_subjects")
        if generated_subjects is None:
            raise ValueError("generated_subjects is required with generated segments")
        unknown = np.setdiff1d(generated_subjects, names)
        if len(unknown):
            raise ValueError(
                f"generated_subjects has subjects without real data: {unknown[:5].tolist()}"
            )

    rng = np.random.default_rng(cfg.seed)
    if cfg.max_per_subject is not None and counts.max() > cfg.max_per_subject:
        # Random priorities, keep the first max_per_subject of each subject: a subsample.
        keep = np.zeros(len(codes), bool)
        pri = np.lexsort((rng.random(len(codes)), codes))
        rank = np.arange(len(codes)) - np.concatenate([[0], np.cumsum(counts)[:-1]])[codes[pri]]
        keep[pri[rank < cfg.max_per_subject]] = True
        real, codes, order = real[keep], codes[keep], order[keep]
    tr, va, te = time_split(codes, order, cfg.val_fraction, cfg.test_fraction)
    mean, std = standardise_stats(real[tr])
    norm = lambda a: ((a - mean) / std).astype(np.float32)  # noqa: E731
    with torch_session(cfg.seed, cfg.num_threads):
        net = LSTMCNN(real.shape[1], len(names), cfg.conv_channels, cfg.hidden)
        hist = fit_network(net, [norm(real[tr])], codes[tr], [norm(real[va])], codes[va], cfg)
        pred_real = predict_logits(net, [norm(real[te])]).argmax(1).numpy()
        out = {
            "accuracy_real": float(accuracy_score(codes[te], pred_real)),
            "accuracy_generated": None,
            "chance": 1.0 / len(names),
            "n_subjects": len(names),
            "n_train": len(tr),
            "n_test_real": len(te),
            "n_generated": 0,
            "epochs_run": hist["epochs_run"],
            "best_epoch": hist["best_epoch"],
        }
        if generated is not None:
            gen_codes = np.searchsorted(names, generated_subjects)
            pred_gen = predict_logits(net, [norm(generated)]).argmax(1).numpy()
            out["accuracy_generated"] = float(accuracy_score(gen_codes, pred_gen))
            out["n_generated"] = len(generated)
    return out
