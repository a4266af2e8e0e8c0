"""Each class's share of wrong labels, estimated from two plainly trained networks.

The estimate sizes the trusted space when ``trust.sizing = "estimated"``: the outer loop then trusts,
in each class, the share of samples it believes right, instead of whatever a two-component mixture
splits off (which, on CIFAR-10 at the CPU scale, trusts about two thirds of every class, noisy or not).

Reconstruction, not the paper's (its body text is not available to us):

* Confident learning (Northcutt, Jiang and Chuang, 2021) counts a sample as confidently of class ``j``
  when its predicted probability of ``j`` reaches the mean probability of ``j`` among the samples
  labelled ``j``; the raw estimate for label ``k`` is the share of the confidently counted samples
  labelled ``k`` that are counted as another class.
* A network that errs on its confident samples adds its own error to that share. Two networks that are
  each right with probability ``a`` and err independently agree on about ``a**2`` of the samples, so
  ``e = 1 - sqrt(agreement)`` estimates one network's error and the corrected estimate is
  ``max(0, (raw - e) / (1 - e))``. The networks' errors are not independent (they fail on the same hard
  images), so ``e`` is a lower bound and the correction a partial one.
* Label noise itself makes the networks disagree: under pair-flip noise they are torn between a class
  and the one its labels flip to, and the correction reads that disagreement as their error (on the
  digits under pair-flip 40% it takes the estimate from 0.34 to 0.22, the truth being 0.40;
  ``results/digits-noise-rate.json``). ``trust.rate_agreement = "top2"`` counts two networks as
  agreeing when each one's prediction is among the other's two most likely classes.

* One checkpoint is a noisy reading: on the CPU preset two small networks' agreement moves by 0.1 to
  0.2 from one epoch to the next, and the estimate with it. ``trust.rate_snapshots`` reads the plain
  networks' last checkpoints instead, as snapshot ensembles or as the mean of one estimate per
  checkpoint (:func:`mean_estimate`; ``tad.buffer.plain_noise_rates``).

``results/cifar10-cpu-noise-rate.json`` measured it on the CPU preset's vanilla experts: within 0.05 of
the true share on clean labels, CIFAR-10N aggre and symmetric 20% and 40%; below it under pair-flip
noise (0.25 for 0.39 at 40%; 0.34 with the top-2 agreement; 0.35 as the mean of the estimates of the
last five checkpoints, which reads clean labels at 0.055).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


def confident_learning_rates(probs: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """(C,) the raw confident-learning estimate of each given label's share of wrong labels.

    ``probs`` (N, C) are predicted probabilities, ``labels`` (N,) the given labels. A class no sample
    carries, or whose samples none is confidently counted, gets NaN.
    """
    probs = probs.double()  # a threshold of equal probabilities must equal them exactly
    onehot = torch.nn.functional.one_hot(labels, num_classes).bool()
    counts = onehot.sum(dim=0)
    thresholds = (probs * onehot).sum(dim=0) / counts.clamp(min=1)
    thresholds[counts == 0] = math.inf  # a class no sample carries is nobody's confident class
    confident = probs >= thresholds
    counted = confident.any(dim=1)
    assigned = torch.where(confident, probs, torch.full_like(probs, -1.0)).argmax(dim=1)
    rates = torch.full((num_classes,), float("nan"))
    for k in range(num_classes):
        mine = counted & (labels == k)
        if mine.any():
            rates[k] = (assigned[mine] != k).float().mean()
    return rates


def prediction_agreement(first: Tensor, second: Tensor, *, top: int = 1) -> float:
    """The share of samples on which two probability tables (N, C) agree: with ``top=1`` they predict the
    same class; with ``top=2`` each one's prediction is among the other's two most likely classes."""
    if top not in (1, 2):
        raise ValueError(f"top must be 1 or 2; got {top}.")
    a, b = first.argmax(dim=1), second.argmax(dim=1)
    if top == 1:
        return float((a == b).float().mean())
    a2, b2 = first.topk(2, dim=1).indices, second.topk(2, dim=1).indices
    both = (b2 == a.unsqueeze(1)).any(dim=1) & (a2 == b.unsqueeze(1)).any(dim=1)
    return float(both.float().mean())


def agreement_error(agreement: float) -> float:
    """One network's error rate implied by two networks' agreement, were their errors independent."""
    if not 0.0 <= agreement <= 1.0:
        raise ValueError(f"agreement is a share of samples, in [0, 1]; got {agreement}.")
    return 1.0 - math.sqrt(agreement)


def corrected_rates(raw: Tensor, error: float) -> Tensor:
    """``max(0, (raw - e) / (1 - e))``: the raw estimate less the share the networks' own error explains
    (kept at most 1, which rounding can pass where every confident sample of a class is counted wrong)."""
    if error >= 1.0:
        return torch.full_like(raw, float("nan"))
    return ((raw - error) / (1.0 - error)).clamp(min=0.0, max=1.0)


@dataclass(frozen=True)
class NoiseRateEstimate:
    """What the estimate of each class's noise rate rests on, and the rates that size the trusted space."""

    raw: Tensor  # (C,) confident learning on the two networks' mean prediction
    agreement: float  # share of samples on which the two networks predict the same class
    error: float  # 1 - sqrt(agreement): one network's error, were the errors independent
    rates: Tensor  # (C,) the corrected estimate; 0 where a class could not be estimated

    def summary(self) -> dict:
        return {
            "raw": [None if math.isnan(v) else round(v, 4) for v in self.raw.tolist()],
            "agreement": round(self.agreement, 4),
            "error": round(self.error, 4),
            "rates": [round(v, 4) for v in self.rates.tolist()],
        }


def estimate_noise_rates(
    first: Tensor, second: Tensor, labels: Tensor, num_classes: int, *, agreement_top: int = 1
) -> NoiseRateEstimate:
    """Each class's share of wrong labels from two networks' predicted probabilities (N, C) each.

    The networks should be trained plainly on the same noisy labels from different random streams
    (the vanilla experts 0 and 1). A class that cannot be estimated is taken as clean (rate 0).
    ``agreement_top`` counts the agreement that corrects for the networks' own error
    (:func:`prediction_agreement`).
    """
    if first.shape != second.shape or first.shape != (labels.shape[0], num_classes):
        raise ValueError(
            f"both probability tables must have shape ({labels.shape[0]}, {num_classes}); "
            f"got {tuple(first.shape)} and {tuple(second.shape)}."
        )
    agreement = prediction_agreement(first, second, top=agreement_top)
    error = agreement_error(agreement)
    raw = confident_learning_rates((first + second) / 2, labels, num_classes)
    rates = torch.nan_to_num(corrected_rates(raw, error), nan=0.0)
    return NoiseRateEstimate(raw, agreement, error, rates)


def mean_estimate(estimates: list[NoiseRateEstimate]) -> NoiseRateEstimate:
    """The mean of several estimates (of the same networks at successive checkpoints), field by field;
    a class some estimate could not read raw averages over the others."""
    if not estimates:
        raise ValueError("mean_estimate needs at least one estimate.")
    raw = torch.stack([e.raw for e in estimates]).nanmean(dim=0)
    rates = torch.stack([e.rates for e in estimates]).mean(dim=0)
    agreement = sum(e.agreement for e in estimates) / len(estimates)
    error = sum(e.error for e in estimates) / len(estimates)
    return NoiseRateEstimate(raw, agreement, error, rates)


__all__ = [
    "NoiseRateEstimate",
    "agreement_error",
    "confident_learning_rates",
    "corrected_rates",
    "estimate_noise_rates",
    "mean_estimate",
    "prediction_agreement",
]
