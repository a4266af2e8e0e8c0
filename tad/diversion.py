"""One TAD step: the outer loop's division followed by the inner loop's recall.

This is the orchestration the paper calls "iteratively refine and compensate for
each other": each call divides the data with the current model's losses, re-checks
the samples recalled earlier, and recalls new reliable samples from the untrusted
space, so the trusted space can grow from one epoch to the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from tad.config import RecalibConfig, TrustConfig
from tad.recalibrate import apply_recall, recalibrate
from tad.trust import SampleScores, TrustSplit, divide, update_loss_average


@dataclass(frozen=True)
class TrustState:
    """What carries over between outer steps."""

    split: TrustSplit
    loss_average: Tensor | None = None  # (N,) exponential average of losses, if enabled
    average_labels: Tensor | None = None  # (N,) the labels those losses were measured against
    newly_recalled: int = 0
    recall_log: dict | None = None  # the last inner step's summary (Recalibration.summary)


def trust_step(
    scores: SampleScores,
    state: TrustState,
    noisy_labels: Tensor,
    num_classes: int,
    *,
    trust: TrustConfig,
    recalib: RecalibConfig,
    seed: int,
    noise_rates: Tensor | None = None,
) -> TrustState:
    """Divide (outer loop), re-check recalls, then recall (inner loop).

    ``scores`` must have been computed against ``state.split.labels``; ``noise_rates`` (C,), when
    given, size each class's trusted space (``trust.sizing = "estimated"``).
    """
    previous = state.split
    # A sample whose label changed since the average was taken starts a fresh average.
    reset = previous.labels != (state.average_labels if state.average_labels is not None else previous.labels)
    losses = update_loss_average(state.loss_average, scores.losses, momentum=trust.loss_ema, reset=reset)
    split = divide(
        losses,
        previous.labels,
        previous.recalled,
        num_classes,
        config=trust,
        seed=seed,
        predictions=scores.probs.argmax(dim=1),
        noise_rates=noise_rates,
        observed=noisy_labels,
    )
    dropped = previous.recalled & ~split.recalled
    if dropped.any():
        # A recalled sample that fails the re-check returns to the untrusted space
        # with its observed label, so a later step can judge it afresh.
        labels = torch.where(dropped, noisy_labels, split.labels)
        split = TrustSplit(split.trusted & ~dropped, labels, split.recalled, split.p_clean, split.thresholds)
    newly, log = 0, None
    if recalib.enabled:
        recal = recalibrate(scores.features, scores.probs, split, num_classes, config=recalib, seed=seed)
        newly, log = int(recal.recalled.sum()), recal.summary(num_classes)
        split = apply_recall(split, recal)
    return TrustState(split, losses, previous.labels, newly, log)


def trust_diagnostics(
    split: TrustSplit,
    noisy_labels: Tensor,
    clean_labels: Tensor | None,
    num_classes: int,
) -> dict[str, float | int | list[int] | None]:
    """Size of the trusted space and, when clean labels are known, its quality.

    * precision: share of trusted samples whose current label is correct;
    * recall: share of correctly-labelled samples (observed label = true label) that are trusted;
    * pseudo_label_accuracy: share of recalled samples whose pseudo-label is correct.
    """
    trusted = split.trusted
    out: dict[str, float | int | list[int] | None] = {
        "trusted_size": int(trusted.sum()),
        "trusted_fraction": float(trusted.float().mean()),
        "recalled_size": int(split.recalled.sum()),
        "class_sizes": split.class_sizes(num_classes).tolist(),
        "precision": None,
        "recall": None,
        "pseudo_label_accuracy": None,
    }
    if clean_labels is None:
        return out
    correct_now = split.labels == clean_labels
    correct_observed = noisy_labels == clean_labels
    if trusted.any():
        out["precision"] = float(correct_now[trusted].float().mean())
    if correct_observed.any():
        out["recall"] = float((trusted & correct_observed).sum() / correct_observed.sum())
    if split.recalled.any():
        out["pseudo_label_accuracy"] = float(correct_now[split.recalled].float().mean())
    return out


__all__ = ["TrustState", "trust_diagnostics", "trust_step"]
