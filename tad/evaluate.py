"""Evaluate a synthetic set: train fresh networks on it, test them on the clean test set.

The protocol follows dd-baselines.md §6: SGD with momentum 0.9 and weight decay
5e-4, the learning rate divided by 10 once, halfway; DSA augmentation per sample;
soft cross-entropy when the labels are learned logits (DATM); the learned step size
of trajectory matching as the learning rate when there is one.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from tad.augment import dsa
from tad.config import AugmentConfig, EvalConfig, ModelConfig
from tad.device import inference_batch
from tad.models import model_for_images
from tad.synthetic import SyntheticSet, soft_cross_entropy

NetCallback = Callable[[int, float], None]


@dataclass(frozen=True)
class EvalResult:
    """Test accuracies (in %) of ``num_eval`` networks trained on one synthetic set."""

    accs: tuple[float, ...]
    exact_accs: tuple[float, ...] | None = None  # on the exact test subset, when one is marked

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accs)

    @property
    def std(self) -> float:
        return statistics.pstdev(self.accs) if len(self.accs) > 1 else 0.0

    def to_dict(self) -> dict:
        out = {"acc_mean": self.mean, "acc_std": self.std, "accs": list(self.accs)}
        if self.exact_accs is not None:
            out["exact_acc_mean"] = statistics.fmean(self.exact_accs)
            out["exact_acc_std"] = statistics.pstdev(self.exact_accs) if len(self.exact_accs) > 1 else 0.0
            out["exact_accs"] = list(self.exact_accs)
        return out


def train_on_synthetic(
    syn: SyntheticSet,
    *,
    num_classes: int,
    model: ModelConfig,
    config: EvalConfig,
    augment: AugmentConfig,
    generator: torch.Generator,
    device: torch.device,
) -> torch.nn.Module:
    """Train one freshly initialised network on ``syn`` and return it."""
    images, labels = syn.images.to(device), syn.labels.to(device)
    net = model_for_images(model, images, num_classes, generator=generator, device=device)
    lr = syn.lr if syn.lr is not None else config.lr
    optimizer = torch.optim.SGD(
        net.parameters(), lr=lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    decay_at = config.epochs // 2
    net.train()
    for epoch in range(config.epochs):
        if epoch == decay_at:
            for group in optimizer.param_groups:
                group["lr"] = lr * 0.1
        order = torch.randperm(images.shape[0], generator=generator).to(device)
        for start in range(0, order.numel(), config.batch_size):
            idx = order[start : start + config.batch_size]
            x = dsa(images[idx], augment, generator=generator) if config.dsa else images[idx]
            logits = net(x)
            loss = (
                soft_cross_entropy(logits, labels[idx]) if syn.soft else F.cross_entropy(logits, labels[idx])
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return net


@torch.no_grad()
def accuracy(
    net: torch.nn.Module, images: Tensor, labels: Tensor, *, batch_size: int | None = None
) -> Tensor:
    """bool (N,) whether ``net`` classifies each image correctly.

    Batches of ``batch_size`` images, by default :func:`tad.device.inference_batch`'s.
    """
    net.eval()
    device = next(net.parameters()).device
    batch_size = batch_size or inference_batch(device)
    hits = []
    for start in range(0, images.shape[0], batch_size):
        logits = net(images[start : start + batch_size].to(device))
        hits.append(logits.argmax(dim=1).cpu() == labels[start : start + batch_size])
    return torch.cat(hits)


def evaluate_synthetic(
    syn: SyntheticSet,
    test_images: Tensor,
    test_labels: Tensor,
    *,
    num_classes: int,
    model: ModelConfig,
    config: EvalConfig,
    augment: AugmentConfig,
    seed: int,
    device: torch.device,
    exact_test: Tensor | None = None,
    callback: NetCallback | None = None,
    nets: Iterable[int] | None = None,
) -> EvalResult:
    """Train ``config.num_eval`` networks on ``syn`` (or only networks ``nets``) and report their accuracies.

    Network ``k`` uses a generator seeded by ``(seed, k)`` only, so two synthetic sets
    evaluated with the same ``seed`` meet identically initialised networks: arms are
    compared on paired networks, and networks evaluated apart (``nets``, one rank each
    under torchrun) equal those evaluated together.
    """
    accs, exact = [], []
    for k in range(config.num_eval) if nets is None else nets:
        gen = torch.Generator().manual_seed(seed * 1009 + k)
        net = train_on_synthetic(
            syn,
            num_classes=num_classes,
            model=model,
            config=config,
            augment=augment,
            generator=gen,
            device=device,
        )
        hits = accuracy(net, test_images, test_labels)
        accs.append(100.0 * float(hits.float().mean()))
        if exact_test is not None:
            exact.append(100.0 * float(hits[exact_test].float().mean()))
        if callback is not None:
            callback(k + 1, accs[-1])
    return EvalResult(tuple(accs), tuple(exact) if exact_test is not None else None)


__all__ = ["EvalResult", "accuracy", "evaluate_synthetic", "train_on_synthetic"]
