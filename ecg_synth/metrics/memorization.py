"""Memorisation: are generated segments closer to the training set than unseen real ones are?

Distances are Euclidean between segments ``[N, C, L]`` (flattened) or feature rows
``[N, D]``; exact nearest neighbours from chunked ``torch.cdist`` (``signal.knn``).
The baseline is held-out real data: its nearest-training distances are what an honest
generator (one that samples the data distribution without storing examples) should show.
Use a held-out split from the SAME records as training (intra-patient): held-out records of
other patients lie further from the training set for reasons unrelated to memorisation,
which would make every generator look like a copier.

Keys:
- ``nn_ratio``: median NN distance generated->train / median NN distance held-out->train.
  About 1 is the target; well below 1 means samples sit on top of training segments (above
  1: further away than real data, a fidelity issue, not memorisation).
- ``copy_share``: share of generated segments closer to a training segment than 99 % of
  held-out segments are (below the held-out NN distances' 1st percentile). About 0.01 for
  an honest generator; lower is better down to that.
- ``nn_shortfall``: how far ``nn_ratio`` falls under 0.95, the quality issue's bar (0 at or
  above it). The objective to minimise beside FD in a search: the NN ratio itself rewards
  beats far from every training beat, which a failed model's are (bench/RESULTS.md, "A
  search that trades FD against memorisation").
- ``copy_threshold``, ``nn_gen_median``, ``nn_heldout_median``: the distances used.
- ``memorizing`` (bool), the rule: ``copy_share > 5 * quantile`` (0.05 at the default
  1st percentile), five times the share expected by chance. A generator that returns
  training beats (even with a little noise) scores near 1.
"""

from __future__ import annotations

import numpy as np

from ecg_synth.metrics.signal import check_features, knn

QUANTILE = 0.01
MEMORIZING_FACTOR = 5.0  # flag at five times the copy share expected by chance
NN_RATIO_BAR = 0.95  # the quality issue's "no memorisation" bar on nn_ratio


def nn_distance(query, reference) -> np.ndarray:
    """Distance of each query row to its nearest reference row: ``[N]`` float64."""
    return knn(query, reference, k=1)[0][:, 0]


def memorization_metrics(
    generated, train, heldout, quantile: float = QUANTILE
) -> dict[str, float | bool]:
    """Memorisation keys of ``generated`` against ``train`` with ``heldout`` real as the
    baseline (all ``[N, C, L]`` or ``[N, D]``, same features). Cost: (N_gen + N_heldout) x
    N_train distances, chunked; ~seconds for 10k x 50k beats of 256 samples."""
    gen = check_features(generated, "generated")
    tr = check_features(train, "train")
    ho = check_features(heldout, "heldout", min_n=2)
    for name, arr in (("generated", gen), ("heldout", ho)):
        if arr.shape[1] != tr.shape[1]:
            raise ValueError(f"{name}: {arr.shape[1]} features per row, train has {tr.shape[1]}")
    if not 0 < quantile < 0.5:
        raise ValueError(f"quantile: expected 0 < quantile < 0.5, got {quantile}")
    d_gen, d_ho = nn_distance(gen, tr), nn_distance(ho, tr)
    threshold = float(np.quantile(d_ho, quantile))
    med_gen, med_ho = float(np.median(d_gen)), float(np.median(d_ho))
    share = float((d_gen < threshold).mean())
    ratio = med_gen / max(med_ho, 1e-12)
    return {
        "nn_ratio": ratio,
        "nn_shortfall": max(0.0, NN_RATIO_BAR - ratio),
        "copy_share": share,
        "copy_threshold": threshold,
        "nn_gen_median": med_gen,
        "nn_heldout_median": med_ho,
        "memorizing": bool(share > MEMORIZING_FACTOR * quantile),
    }
