"""Distribution matching (DM; Zhao & Bilen, WACV 2023), as described in dd-baselines.md §5.2.

Each iteration samples a freshly initialised ConvNet, embeds a real batch and the
synthetic images of every class under the same (siamese) augmentation, and moves
the synthetic images so that the class means of the embeddings agree.

With TAD the real batches are drawn only from the trusted space, with the current
labels (observed or pseudo); the synthetic set is initialised from it too.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from tad.augment import sample_dsa
from tad.config import AugmentConfig, DMConfig, ModelConfig
from tad.distill.base import check_pools, class_pools, init_from_real, sample_from_pool
from tad.models import model_for_images
from tad.synthetic import SyntheticSet

StepCallback = Callable[[int, float], None]


def distribution_matching_loss(
    real_embeddings: Tensor, syn_embeddings: Tensor, weights: Tensor | None = None
) -> Tensor:
    """``‖mean(real) − mean(syn)‖²`` for one class: (n, d) and (m, d) -> scalar.

    With ``weights`` (n,) the real mean is weighted (TAD's clean-probabilities).
    """
    if weights is None:
        real_mean = real_embeddings.mean(dim=0)
    else:
        w = weights.to(real_embeddings.dtype)
        real_mean = (w[:, None] * real_embeddings).sum(dim=0) / w.sum().clamp(min=1e-8)
    return ((real_mean - syn_embeddings.mean(dim=0)) ** 2).sum()


def _augmented_batches(
    real: list[Tensor], syn: list[Tensor], augment: AugmentConfig | None, generator: torch.Generator
) -> tuple[list[Tensor], list[Tensor]]:
    """Apply one siamese DSA draw per class to that class's real and synthetic batch."""
    if augment is None:
        return real, syn
    out_real, out_syn = [], []
    for r, s in zip(real, syn, strict=True):
        t = sample_dsa(augment, 1, generator=generator, shared=True, device=r.device)
        out_real.append(t.apply(r))
        out_syn.append(t.apply(s))
    return out_real, out_syn


def dm_step_loss(
    net: torch.nn.Module,
    real: list[Tensor],
    syn: list[Tensor],
    augment: AugmentConfig | None,
    generator: torch.Generator,
    weights: list[Tensor] | None = None,
) -> Tensor:
    """The DM loss summed over classes for one random network (real means weighted by ``weights``).

    All classes go through the network in one batch each for real and synthetic
    images; instance norm treats samples independently, so this equals the
    per-class loop of the reference code at a fraction of the calls.
    """
    real, syn = _augmented_batches(real, syn, augment, generator)
    with torch.no_grad():
        real_emb = net.embed(torch.cat(real))
    syn_emb = net.embed(torch.cat(syn))
    loss = syn_emb.new_zeros(())
    r0 = s0 = 0
    for c, (r, s) in enumerate(zip(real, syn, strict=True)):
        w = None if weights is None else weights[c]
        loss = loss + distribution_matching_loss(real_emb[r0 : r0 + len(r)], syn_emb[s0 : s0 + len(s)], w)
        r0, s0 = r0 + len(r), s0 + len(s)
    return loss


def distill_dm(
    images: Tensor,
    labels: Tensor,
    pool: Tensor,
    *,
    ipc: int,
    num_classes: int,
    config: DMConfig,
    model: ModelConfig,
    augment: AugmentConfig,
    generator: torch.Generator,
    device: torch.device,
    callback: StepCallback | None = None,
    weights: Tensor | None = None,
    init_pool: Tensor | None = None,
) -> SyntheticSet:
    """Distil ``ipc`` images per class from the samples selected by ``pool`` (bool (N,)).

    ``labels`` (N,) are the labels DM trusts (noisy, current TAD labels, or clean).
    ``weights`` (N,) weight each real sample in its class mean; the synthetic set starts
    from ``init_pool`` (default: ``pool``).
    """
    pools = class_pools(labels, pool, num_classes)
    check_pools(pools, ipc, "the real data pool")
    init_pool = pool if init_pool is None else init_pool
    init = init_from_real(images, labels, init_pool, ipc, num_classes, generator=generator)
    syn = init.images.to(device)
    if config.init == "noise":
        syn = torch.randn(syn.shape, generator=generator).to(device)
    syn.requires_grad_(True)
    optimizer = torch.optim.SGD([syn], lr=config.lr_img, momentum=config.momentum)
    aug = augment if config.dsa else None
    for it in range(config.iterations):
        net = model_for_images(model, images, num_classes, generator=generator, device=device)
        net.train()
        for p in net.parameters():
            p.requires_grad_(False)
        drawn = [sample_from_pool(p, config.batch_real, generator) for p in pools]
        real = [images[idx].to(device) for idx in drawn]
        w = None if weights is None else [weights[idx].to(device) for idx in drawn]
        syn_per_class = list(syn.split(ipc))
        loss = dm_step_loss(net, real, syn_per_class, aug, generator, w)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if callback is not None:
            callback(it + 1, float(loss.detach()))
    return SyntheticSet(syn.detach().cpu(), init.labels)


__all__ = ["distill_dm", "distribution_matching_loss", "dm_step_loss"]
