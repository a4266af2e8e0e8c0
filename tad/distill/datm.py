"""DATM's initial synthetic set: images the experts classify correctly, and soft labels.

DATM's initialisation (dd-baselines.md §2.4, §4.1): real images that an expert
classifies as their (current) label, and soft labels initialised from the logits of
the final-epoch experts that agree with that label. MTT starts from random real
images with hard labels. The loop that then refines the set is
:func:`tad.distill.matching.distill_trajectory_matching`.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from tad.config import TMConfig
from tad.distill.base import check_pools, class_pools, init_from_real
from tad.models import functional_forward
from tad.synthetic import SyntheticSet

log = logging.getLogger(__name__)


@torch.no_grad()
def expert_predictions(
    skeleton: torch.nn.Module, params: Tensor, images: Tensor, *, batch: int = 256
) -> Tensor:
    """(N, C) logits of the expert with flat ``params`` on ``images``."""
    device = params.device
    out = [
        functional_forward(skeleton, params, images[i : i + batch].to(device)).cpu()
        for i in range(0, len(images), batch)
    ]
    return torch.cat(out)


def init_predicted_correctly(
    images: Tensor,
    labels: Tensor,
    pool: Tensor,
    ipc: int,
    num_classes: int,
    *,
    skeleton: torch.nn.Module,
    expert_params: list[Tensor],
    generator: torch.Generator,
) -> SyntheticSet:
    """``ipc`` images per class from ``pool`` that an expert classifies as their label.

    Experts are tried in turn, as DATM moves to the next expert when a class runs
    out. If no expert agrees on enough images, the rest are random members of the
    class (logged), so a class is never left short.
    """
    pools = class_pools(labels, pool, num_classes)
    check_pools(pools, ipc, "the real data pool")
    predicted = [expert_predictions(skeleton, p, images[pool]).argmax(1) for p in expert_params]
    position = torch.full((images.shape[0],), -1, dtype=torch.long)
    position[pool] = torch.arange(int(pool.sum()))
    chosen = []
    for c, members in enumerate(pools):
        members = members[torch.randperm(members.numel(), generator=generator)]
        picked: list[int] = []
        for pred in predicted:
            agree = members[pred[position[members]] == c]
            picked += [int(i) for i in agree if int(i) not in picked][: ipc - len(picked)]
            if len(picked) == ipc:
                break
        if len(picked) < ipc:
            log.info("class %d: experts agree on %d images only; filling with random members", c, len(picked))
            picked += [int(i) for i in members if int(i) not in picked][: ipc - len(picked)]
        chosen.append(torch.tensor(picked))
    idx = torch.cat(chosen)
    return SyntheticSet(images[idx].clone(), torch.arange(num_classes).repeat_interleave(ipc))


def expert_soft_labels(
    skeleton: torch.nn.Module, images: Tensor, assigned: Tensor, expert_params: list[Tensor]
) -> Tensor:
    """(M, C) logits: the mean over final experts that predict the assigned class (DATM).

    Where no expert agrees, the first expert's logits are used (DATM's ``real`` init).
    """
    logits = torch.stack([expert_predictions(skeleton, p, images) for p in expert_params])  # (E, M, C)
    agree = (logits.argmax(2) == assigned.unsqueeze(0)).float().unsqueeze(2)  # (E, M, 1)
    count = agree.sum(0)
    mean = (logits * agree).sum(0) / count.clamp(min=1)
    return torch.where(count > 0, mean, logits[0])


def initial_synthetic_set(
    images: Tensor,
    labels: Tensor,
    pool: Tensor,
    ipc: int,
    num_classes: int,
    *,
    config: TMConfig,
    skeleton: torch.nn.Module,
    expert_params: list[Tensor],
    generator: torch.Generator,
) -> SyntheticSet:
    """Images by ``config.pix_init`` and labels: hard, or soft from expert logits (DATM)."""
    if config.pix_init == "predicted_correctly":
        init = init_predicted_correctly(
            images,
            labels,
            pool,
            ipc,
            num_classes,
            skeleton=skeleton,
            expert_params=expert_params,
            generator=generator,
        )
    else:
        init = init_from_real(images, labels, pool, ipc, num_classes, generator=generator)
        if config.pix_init == "noise":
            init = SyntheticSet(torch.randn(init.images.shape, generator=generator), init.labels)
    if config.soft_labels:
        soft = expert_soft_labels(skeleton, init.images, init.labels, expert_params)
        init = SyntheticSet(init.images, soft)
    return init


__all__ = [
    "expert_predictions",
    "expert_soft_labels",
    "init_predicted_correctly",
    "initial_synthetic_set",
]
