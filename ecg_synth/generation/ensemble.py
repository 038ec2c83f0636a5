"""Several trained generators sampled as one (a deep generative ensemble).

Runs of the same experiment at different seeds land in different places of the data
distribution; drawing each segment from one of them, in equal shares, covers more of it than
any one run. On the MIT-BIH validation patients, three 16-epoch WGAN-GP runs pooled this way
came closer to unseen patients' beats than each run alone (lower FD, higher recall, feature
SVMs nearer chance) without copying the training beats more; the classifier protocols moved
within their spread (bench/RESULTS.md, "Three runs sampled as one").

Reproducibility contract (as ``ecg_synth.generation.core``): for the same members, ``n``,
conditions and ``seed``, the output is bit-identical. Which member makes segment ``i`` is a
permutation of equal shares drawn from ``SeedSequence(seed, spawn_key=(2,))``; member ``j``
samples its rows with the seed drawn from ``SeedSequence(seed, spawn_key=(3, j))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ecg_synth.generation.core import DEFAULT_BATCH_SIZE, GenerationError, GeneratorHandle

# The data_info fields every member must share: the segments must be interchangeable.
SHARED_INFO = ("fs", "length", "r_index", "leads", "classes", "subjects")


def _seed(seed: int, *key: int) -> int:
    state = np.random.SeedSequence(seed, spawn_key=key).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))  # 63 bits, valid for torch.manual_seed


@dataclass
class EnsembleSampler:
    """``sample`` with the ``Sampler`` contract; each segment comes from one member."""

    members: list

    @property
    def makes_rr(self) -> bool:
        return all(getattr(m, "makes_rr", False) for m in self.members)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels=None,
        subjects=None,
        seed: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        with_rr: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        seed = int(np.random.SeedSequence().entropy % 2**63) if seed is None else int(seed)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,)))
        member_of = rng.permutation(np.resize(np.arange(len(self.members)), n))

        def rows(values, index: torch.Tensor):
            if values is None:
                return None
            values = torch.as_tensor(values).long().flatten()
            return values.expand(n)[index] if values.numel() == 1 else values[index]

        x = rr = None
        for j, member in enumerate(self.members):
            index = torch.from_numpy(np.flatnonzero(member_of == j))
            if len(index) == 0:
                continue
            out = member.sample(
                len(index),
                labels=rows(labels, index),
                subjects=rows(subjects, index),
                seed=_seed(seed, 3, j),
                batch_size=batch_size,
                with_rr=with_rr,
            )
            part, part_rr = out if with_rr else (out, None)
            if x is None:
                x = part.new_empty((n, *part.shape[1:]))
                rr = None if part_rr is None else part_rr.new_empty((n, *part_rr.shape[1:]))
            x[index] = part
            if rr is not None:
                rr[index] = part_rr
        return (x, rr) if with_rr else x


def _name(names: list[str]) -> str:
    """``a+b+c`` for members of different names, ``a-ensemble3`` for runs of one model."""
    unique = list(dict.fromkeys(names))
    return (
        "+".join(unique)
        if len(unique) == len(names)
        else f"{'+'.join(unique)}-ensemble{len(names)}"
    )


def ensemble_handle(handles: Sequence[GeneratorHandle]) -> GeneratorHandle:
    """One handle sampling ``handles`` in equal shares; they must make the same segments
    (window, leads, classes, subjects, conditions, RR), else a ``GenerationError`` names the
    member and the field that differs."""
    if len(handles) < 2:
        raise GenerationError("an ensemble needs at least two models", "model")
    first = handles[0]
    for h in handles[1:]:
        for field in SHARED_INFO:
            if h.info.get(field) != first.info.get(field):
                raise GenerationError(
                    f"ensemble members differ in {field}: {first.source} has "
                    f"{first.info.get(field)!r}, {h.source} has {h.info.get(field)!r}",
                    "model",
                )
        for what in ("use_class", "use_subject", "makes_rr"):
            if getattr(h, what) != getattr(first, what):
                raise GenerationError(
                    f"ensemble members differ in {what}: {first.source} {getattr(first, what)}"
                    f", {h.source} {getattr(h, what)}",
                    "model",
                )
    kinds = sorted({h.kind for h in handles})
    # Class proportions of the pooled training data (the default class plan).
    counts = sum(h.class_counts for h in handles)
    info = {**first.info, "class_counts": dict(zip(first.classes, counts.tolist(), strict=True))}
    return GeneratorHandle(
        model=EnsembleSampler([h.model for h in handles]),
        info=info,
        name=_name([h.name for h in handles]),
        kind=kinds[0] if len(kinds) == 1 else "+".join(kinds),
        version="+".join(h.version for h in handles),
        source=" + ".join(h.source for h in handles),
        use_class=first.use_class,
        use_subject=first.use_subject,
        hparams={"ensemble": [h.hparams for h in handles]},
    )
