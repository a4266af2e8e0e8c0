"""A synthetic (distilled) set and the loss on its learned soft labels.

The distillers produce a :class:`SyntheticSet` and the evaluation trains on one, so
both live here, outside ``tad.distill`` and ``tad.evaluate``, and neither of those
imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class SyntheticSet:
    """A distilled dataset: ``ipc`` images per class and their labels.

    ``labels`` are hard class indices (M,) or, for DATM, learned logits (M, C) whose
    softmax is the soft label. ``lr`` is the learned step size of trajectory
    matching, which evaluation uses as its learning rate (None: the evaluation default).
    """

    images: Tensor  # (M, C, H, W)
    labels: Tensor  # int64 (M,) or float (M, num_classes)
    lr: float | None = None

    @property
    def soft(self) -> bool:
        return self.labels.dim() == 2

    @property
    def hard_labels(self) -> Tensor:
        return self.labels.argmax(dim=1) if self.soft else self.labels

    def detached(self) -> SyntheticSet:
        return SyntheticSet(self.images.detach().cpu().clone(), self.labels.detach().cpu().clone(), self.lr)


def soft_cross_entropy(logits: Tensor, target_logits: Tensor) -> Tensor:
    """Cross-entropy against ``softmax(target_logits)``, averaged over the batch (DATM)."""
    return -(target_logits.softmax(dim=1) * logits.log_softmax(dim=1)).sum(dim=1).mean()


__all__ = ["SyntheticSet", "soft_cross_entropy"]
