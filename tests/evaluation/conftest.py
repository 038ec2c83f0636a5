"""Tiny synthetic beats with a known class / subject structure, for the evaluation tests.

Each beat is a sum of Gaussian waves (P, QRS, T) plus noise. Classes differ the way real
AAMI classes do, so the models have something realistic but learnable to find:
N normal; S = N morphology but premature (short previous RR) — only RR tells it apart;
V wide, tall, no P wave, premature; F intermediate width (fusion); Q noisy, low amplitude.
"""

from __future__ import annotations

import numpy as np
import pytest

FS = 128.0
LENGTH = 96  # 0.75 s around the R peak

# class: (qrs sigma s, qrs amplitude mV, p amplitude mV, previous-RR factor)
CLASS_SHAPES = {
    0: (0.010, 1.0, 0.15, 1.0),
    1: (0.010, 1.0, 0.15, 0.65),
    2: (0.035, 1.6, 0.0, 0.65),
    3: (0.022, 1.3, 0.08, 0.85),
    4: (0.015, 0.4, 0.05, 1.0),
}


def gaussian_beats(
    labels, seed=0, qrs_scale=None, amp_scale=None, noise=0.03, fs=FS, length=LENGTH
):
    """Beats ``[N, 1, length]`` (mV) and RR ``[N, 3]`` for AAMI ``labels``.

    ``qrs_scale`` / ``amp_scale`` ([N] or scalar) stretch QRS width / amplitude per beat,
    e.g. to make subjects distinguishable.
    """
    labels = np.asarray(labels)
    n = len(labels)
    rng = np.random.default_rng(seed)
    table = np.array([CLASS_SHAPES[int(c)] for c in range(5)])
    sig, amp, p_amp, rr_fac = table[labels].T
    sig = sig * (1.0 if qrs_scale is None else np.asarray(qrs_scale, float))
    amp = amp * (1.0 if amp_scale is None else np.asarray(amp_scale, float))
    amp = amp * rng.uniform(0.85, 1.15, n)
    t = (np.arange(length) - length // 2)[None, :] / fs
    shift = rng.normal(0, 0.004, n)[:, None]

    def wave(center, width, height):
        return height[:, None] * np.exp(-0.5 * ((t - center - shift) / width) ** 2)

    x = (
        wave(0.0, sig[:, None], amp)
        + wave(-0.18, 0.025, p_amp * rng.uniform(0.8, 1.2, n))
        + wave(0.22, 0.045, 0.3 * rng.uniform(0.8, 1.2, n))
    )
    x = x + rng.normal(0, noise, x.shape) + rng.normal(0, 0.05, (n, 1))
    x = x + np.where(labels[:, None] == 4, rng.normal(0, 0.15, x.shape), 0.0)
    local = rng.uniform(0.7, 1.0, n)
    prev = local * rr_fac * rng.uniform(0.95, 1.05, n)
    nxt = local * np.where(rr_fac < 1, 1.3, 1.0) * rng.uniform(0.95, 1.05, n)
    rr = np.stack([prev, nxt, local], axis=1)
    return x[:, None, :].astype(np.float32), rr.astype(np.float32)


def labelled_set(counts, seed=0, n_records=4):
    """(x, y, rr, records) with ``counts[c]`` beats of class c, spread over records."""
    y = np.concatenate([np.full(k, c) for c, k in enumerate(counts)]).astype(np.int64)
    rng = np.random.default_rng(seed)
    y = y[rng.permutation(len(y))]
    x, rr = gaussian_beats(y, seed=seed + 1)
    records = np.array([f"r{seed}_{i % n_records}" for i in range(len(y))])
    return x, y, rr, records


@pytest.fixture(scope="session")
def beats():
    """The ``gaussian_beats`` generator (test modules get helpers through fixtures)."""
    return gaussian_beats


@pytest.fixture(scope="session")
def make_set():
    """The ``labelled_set`` generator."""
    return labelled_set
