"""What every distiller shares: drawing real images per class, and the "random" baseline set."""

from __future__ import annotations

import torch
from torch import Tensor

from tad.synthetic import SyntheticSet


def class_pools(labels: Tensor, pool: Tensor, num_classes: int) -> list[Tensor]:
    """Indices of the samples in ``pool`` (bool (N,)) for each class of ``labels``."""
    return [torch.nonzero(pool & (labels == c)).squeeze(1) for c in range(num_classes)]


def check_pools(pools: list[Tensor], need: int, what: str) -> None:
    """Raise if some class has fewer than ``need`` real images to draw from."""
    short = {c: int(p.numel()) for c, p in enumerate(pools) if p.numel() < need}
    if short:
        raise ValueError(
            f"{what} has too few images for {need} per class (class: count {short}); lower --ipc."
        )


def sample_from_pool(pool: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """``count`` indices drawn from ``pool`` without replacement (all of them if fewer)."""
    perm = torch.randperm(pool.numel(), generator=generator)[:count]
    return pool[perm]


def init_from_real(
    images: Tensor, labels: Tensor, pool: Tensor, ipc: int, num_classes: int, *, generator: torch.Generator
) -> SyntheticSet:
    """``ipc`` random real images per class of ``labels``, drawn from ``pool`` (the "random" baseline)."""
    pools = class_pools(labels, pool, num_classes)
    check_pools(pools, ipc, "the real data pool")
    chosen = torch.cat([sample_from_pool(p, ipc, generator) for p in pools])
    syn_labels = torch.arange(num_classes).repeat_interleave(ipc)
    return SyntheticSet(images[chosen].clone(), syn_labels)


__all__ = ["check_pools", "class_pools", "init_from_real", "sample_from_pool"]
