"""Class / subject conditioning shared by every generator and discriminator."""

from __future__ import annotations

import torch
from torch import nn

CONDITIONS = ("none", "class", "subject", "class+subject")


def parse_condition(condition: str, field: str = "condition") -> tuple[bool, bool]:
    """``"class+subject"`` -> ``(use_class, use_subject)``; ValueError names ``field``."""
    if condition not in CONDITIONS:
        raise ValueError(f"{field}={condition!r} is not one of {CONDITIONS}")
    return "class" in condition, "subject" in condition


def subject_index(subjects: torch.Tensor, num_subjects: int) -> torch.Tensor:
    """Subject ids ``[B]`` with -1 (a subject not seen in training) mapped to the extra,
    last embedding row ``num_subjects``."""
    return torch.where(subjects < 0, torch.full_like(subjects, num_subjects), subjects)


class ConditionEmbedding(nn.Module):
    """``labels [B]``, ``subjects [B]`` (int64) -> ``[B, out_dim]``: the learned class and/or
    subject embeddings, concatenated. ``out_dim`` is 0 when nothing is conditioned on, and
    ``forward`` then returns None. Subject -1 (unseen) uses its own extra row."""

    def __init__(
        self, use_class: bool, use_subject: bool, num_classes: int, num_subjects: int, dim: int
    ) -> None:
        super().__init__()
        self.num_subjects = num_subjects
        self.class_emb = nn.Embedding(num_classes, dim) if use_class else None
        self.subject_emb = nn.Embedding(num_subjects + 1, dim) if use_subject else None
        self.out_dim = dim * (int(use_class) + int(use_subject))

    def forward(
        self, labels: torch.Tensor | None, subjects: torch.Tensor | None
    ) -> torch.Tensor | None:
        parts = []
        if self.class_emb is not None:
            parts.append(self.class_emb(_required(labels, "labels")))
        if self.subject_emb is not None:
            parts.append(
                self.subject_emb(subject_index(_required(subjects, "subjects"), self.num_subjects))
            )
        return torch.cat(parts, dim=1) if parts else None


class Projection(nn.Module):
    """Projection-discriminator term (Miyato & Koyama 2018): ``<embed(y), phi(x)>`` per
    sample, summed over the class and/or subject embeddings. ``phi [B, D]`` -> ``[B]``."""

    def __init__(
        self, use_class: bool, use_subject: bool, num_classes: int, num_subjects: int, dim: int
    ) -> None:
        super().__init__()
        self.embed = ConditionEmbedding(use_class, use_subject, num_classes, num_subjects, dim)
        self.parts = int(use_class) + int(use_subject)

    def forward(
        self, phi: torch.Tensor, labels: torch.Tensor | None, subjects: torch.Tensor | None
    ) -> torch.Tensor:
        e = self.embed(labels, subjects)
        if e is None:
            return phi.new_zeros(phi.shape[0])
        # [B, parts * D] -> [B, parts, D]: one inner product with phi per conditioning variable.
        return (e.view(phi.shape[0], self.parts, -1) * phi[:, None, :]).sum(dim=(1, 2))


def _required(x: torch.Tensor | None, name: str) -> torch.Tensor:
    if x is None:
        raise ValueError(f"this network is conditioned on {name}, but {name}=None was passed")
    return x


class Conditional(nn.Module):
    """A network ``net(x, cond)`` together with its ``ConditionEmbedding``:
    ``forward(x, labels, subjects) = net(x, embed(labels, subjects))``. One module, so the
    optimizer, EMA and checkpoint see the embedding with the network it feeds."""

    def __init__(self, net: nn.Module, embed: ConditionEmbedding) -> None:
        super().__init__()
        self.net = net
        self.embed = embed

    def forward(
        self,
        x: torch.Tensor,
        labels: torch.Tensor | None = None,
        subjects: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.net(x, self.embed(labels, subjects))
