"""Test data for the metric tests: a tiny Gaussian-wave beat generator with subjects and classes.

Each beat is a sum of Gaussian waves (P, Q, R, S, T) with the R peak at ``R_INDEX``; every
"record" (subject) draws its own wave amplitudes and timings, every beat adds jitter, a
baseline offset and white noise. Classes: N normal, S abnormal early P, V wide QRS without P
and discordant T, F a mix of N and V. Two leads (the second a different projection).
"""

from __future__ import annotations

import numpy as np

FS = 360.0
LENGTH = 256
R_INDEX = 90

# (mu s, sigma s, amplitude mV) of P, Q, R, S, T per class 0 N, 1 S, 2 V
_WAVES = {
    0: [
        (-0.16, 0.022, 0.15),
        (-0.025, 0.008, -0.12),
        (0.0, 0.010, 1.2),
        (0.025, 0.008, -0.25),
        (0.28, 0.045, 0.30),
    ],
    1: [
        (-0.12, 0.018, -0.10),
        (-0.025, 0.008, -0.12),
        (0.0, 0.010, 1.2),
        (0.025, 0.008, -0.25),
        (0.26, 0.045, 0.30),
    ],
    2: [
        (-0.16, 0.022, 0.00),
        (-0.035, 0.014, -0.20),
        (0.0, 0.022, 1.3),
        (0.045, 0.016, -0.40),
        (0.30, 0.060, -0.40),
    ],
}


def _record_params(rng: np.random.Generator) -> dict[int, np.ndarray]:
    """Per-subject morphology: wave table per class [5, 3] with jittered timing and amplitude."""
    out = {}
    amp = np.exp(rng.normal(0, 0.2, 5))
    dt = rng.normal(0, 0.012, 5) * np.array([1, 0, 0, 0, 1.5])
    for c, waves in _WAVES.items():
        w = np.array(waves)
        w[:, 0] += dt
        w[:, 2] *= amp
        out[c] = w
    out[3] = 0.5 * (out[0] + out[2])  # F: fusion of N and V
    return out


def make_beats(
    n: int, seed: int, n_records: int = 6, record_seed: int = 0, noise_mv: float = 0.015
):
    """``n`` beats ``[n, 2, LENGTH]`` float32 mV, labels ``[n]``, record ids ``[n]``.

    Subjects depend on ``record_seed`` only, so two calls with different ``seed`` draw new
    beats of the same subjects (an intra-patient held-out set)."""
    subjects = [_record_params(np.random.default_rng([record_seed, r])) for r in range(n_records)]
    rng = np.random.default_rng(seed)
    labels = rng.choice(4, size=n, p=[0.7, 0.1, 0.15, 0.05])
    records = rng.integers(0, n_records, n)
    t = (np.arange(LENGTH) - R_INDEX) / FS
    x = np.zeros((n, 2, LENGTH))
    for r in range(n_records):
        for c in range(4):
            sel = np.flatnonzero((records == r) & (labels == c))
            if len(sel) == 0:
                continue
            w = subjects[r][c]
            mu = w[:, 0] + rng.normal(0, 0.006, (len(sel), 5)) * np.array([1, 0, 0, 0, 1])
            amp = w[:, 2] * (1 + 0.06 * rng.standard_normal((len(sel), 5)))
            waves = amp[:, :, None] * np.exp(-0.5 * ((t - mu[:, :, None]) / w[:, 1, None]) ** 2)
            x[sel, 0] = waves.sum(1)
            x[sel, 1] = (waves * np.array([0.5, 1.0, -0.6, 1.2, 0.4])[:, None]).sum(1)
    x += rng.normal(0, 0.05, (n, 2, 1)) + noise_mv * rng.standard_normal(x.shape)
    return x.astype(np.float32), labels.astype(np.int64), records.astype(np.int64)
