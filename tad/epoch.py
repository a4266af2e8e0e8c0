"""One training epoch of a classifier on the real data: what a vanilla and a trust-aware expert share.

Cross-entropy on the trusted rows of each batch (or on soft targets for every row), the
consistency term over every row, and, in the ``online`` scoring mode, the per-sample losses,
predictions and features recorded from the pass itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from tad.augment import dsa
from tad.config import AugmentConfig
from tad.trust import SampleScores, TrustSplit, consistency_loss


class ScoreRecorder:
    """Per-sample losses, predictions and features captured from the training pass itself.

    The ``online`` scoring mode reads the outer and inner loops' inputs from the
    epoch's own forward passes (augmented views, weights moving during the epoch)
    instead of a separate evaluation pass, which saves about a third of an epoch.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.losses: Tensor | None = None
        self.probs: Tensor | None = None
        self.features: Tensor | None = None

    def record(self, idx: Tensor, features: Tensor, logits: Tensor, per_sample: Tensor) -> None:
        if self.features is None:
            self.losses = torch.zeros(self.n)
            self.probs = torch.zeros(self.n, logits.shape[1])
            self.features = torch.zeros(self.n, features.shape[1])
        self.losses[idx] = per_sample.detach().cpu()
        self.probs[idx] = logits.detach().softmax(dim=1).cpu()
        self.features[idx] = features.detach().cpu()

    def scores(self) -> SampleScores:
        if self.features is None:
            raise RuntimeError("no training pass was recorded before the scores were asked for.")
        return SampleScores(self.losses, self.probs, self.features)


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    images: Tensor,
    labels: Tensor,
    *,
    batch_size: int,
    generator: torch.Generator,
    augment: AugmentConfig | None,
    trusted: Tensor | None = None,
    targets: Tensor | None = None,
    lambda_cons: float = 0.0,
    recorder: ScoreRecorder | None = None,
    soft_targets: Tensor | None = None,
) -> float:
    """One pass over all samples in a random order; returns the mean training loss.

    Cross-entropy uses only the ``trusted`` rows of each batch (all rows when None);
    the consistency term, when ``targets`` are given, uses every row. With
    ``soft_targets`` (N, C) every row's cross-entropy is taken against its own target
    distribution instead of its label. A ``recorder`` keeps every sample's loss (against
    its label), prediction and features from this pass.
    """
    device = next(model.parameters()).device
    order = torch.randperm(images.shape[0], generator=generator)
    model.train()
    total, batches = 0.0, 0
    for start in range(0, order.numel(), batch_size):
        idx = order[start : start + batch_size]
        x = images[idx].to(device, non_blocking=True)
        if augment is not None:
            x = dsa(x, augment, generator=generator)
        features = model.embed(x)
        logits = model.classifier(features)
        per_sample = F.cross_entropy(logits, labels[idx].to(device), reduction="none")
        if recorder is not None:
            recorder.record(idx, features, logits, per_sample)
        if soft_targets is not None:
            target = soft_targets[idx].to(device)
            loss = -(target * logits.log_softmax(dim=1)).sum(dim=1).mean()
        elif trusted is None:
            loss = per_sample.mean()
        else:
            mask = trusted[idx].to(device)
            loss = (per_sample * mask).sum() / mask.sum().clamp(min=1)
        if targets is not None and lambda_cons > 0:
            loss = loss + lambda_cons * consistency_loss(logits, targets[idx].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        batches += 1
    return total / max(batches, 1)


def soft_targets(split: TrustSplit, probs: Tensor, num_classes: int) -> Tensor:
    """(N, C) targets: one-hot for trusted samples; ``w·onehot + (1 − w)·prediction`` for the rest.

    Reconstruction (ours; DivideMix's label refinement, Li et al. 2020): an untrusted
    sample is not dropped but taught the mix of its label and the model's prediction,
    weighted by its clean-probability ``w``.
    """
    onehot = F.one_hot(split.labels, num_classes).float()
    w = split.p_clean.clamp(0.0, 1.0)[:, None]
    mixed = w * onehot + (1.0 - w) * probs
    return torch.where(split.trusted[:, None], onehot, mixed)


__all__ = ["ScoreRecorder", "soft_targets", "train_epoch"]
