"""The noise-evidence test: does a class's loss distribution show wrong labels at all?

The outer loop (``tad.trust``) splits a class only when its per-sample losses carry a
second component where wrong labels sit; a class without such evidence is trusted whole,
so clean data are not split by an easiness filter. The whole test is a reconstruction:
the paper's rule is unknown (see :class:`NoiseEvidence`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from torch import Tensor

from tad.config import TrustConfig


def class_seed(seed: int, c: int) -> int:
    """The ``random_state`` of class ``c``'s mixtures: the division's and the evidence test's."""
    return seed + c


@dataclass(frozen=True)
class NoiseEvidence:
    """Whether one class's losses show label noise, and the three tests behind the answer.

    Reconstruction (ours; the paper's rule is unknown): a class is split only when
    (1) the two components of a two-Gaussian fit are separated (Ashman's D at least
    ``evidence_separation``; Ashman, Bird & Zepf 1994), (2) the high component sits
    where wrong labels sit: its mean loss is at least ``evidence_wrong_level`` × ln C,
    the loss of a label the model gives no more than chance (or, optionally, at least
    ``evidence_ratio`` times the median loss of the labels the model predicts), and optionally (3) two
    components explain the losses better than one by the Bayesian information
    criterion (``delta_bic`` = BIC₁ − BIC₂ at least ``evidence_bic``). A class without
    evidence is trusted whole, so clean data are not split. The BIC test is off by
    default: on the losses of a vanilla CIFAR-10 expert, the skewed losses of clean
    classes favoured two components by a wide margin while noisy classes could favour
    one, so it does not tell noise from skew; the wrong-label level does.
    """

    delta_bic: float
    separation: float
    high_loss: float  # mean raw loss of the high component (nan when no fit)
    right_loss: float  # median loss of the samples whose label the model predicts (nan: none known)
    split: bool


def noise_evidence(
    losses: Tensor, num_classes: int, *, config: TrustConfig, seed: int, agreed: Tensor | None = None
) -> NoiseEvidence:
    """Test one class's raw per-sample ``losses`` (n,) for a second, wrong-label component.

    ``agreed`` (bool, n) marks the samples whose label is the model's prediction; their
    median loss is the "right label" level that the ratio test compares against.
    """
    n = losses.shape[0]
    if n < 20 or float(losses.max() - losses.min()) < 1e-6:
        return NoiseEvidence(0.0, 0.0, float("nan"), float("nan"), False)
    values = losses.double().numpy().reshape(-1, 1)
    gmm = GaussianMixture(n_components=2, max_iter=100, reg_covar=config.gmm_reg_covar, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(values)
    # One Gaussian's maximum-likelihood fit is the sample mean and variance: no EM needed.
    var = float(values.var())
    var1 = var + config.gmm_reg_covar  # sklearn's regularised variance
    bic1 = n * (np.log(2.0 * np.pi * var1) + var / var1) + 2.0 * np.log(n)
    delta_bic = float(bic1 - gmm.bic(values))
    means, variances = gmm.means_.ravel(), gmm.covariances_.ravel()
    low, high = np.argsort(means)
    separation = float(np.sqrt(2.0) * (means[high] - means[low]) / np.sqrt(variances[low] + variances[high]))
    high_loss = float(means[high])
    right_loss = float(losses[agreed].median()) if agreed is not None and bool(agreed.any()) else float("nan")
    wrong_level = high_loss >= config.evidence_wrong_level * float(np.log(num_classes))
    ratio = config.evidence_ratio
    far_from_right = ratio is not None and high_loss >= ratio * right_loss  # False when right_loss is nan
    split = (
        (config.evidence_bic is None or delta_bic >= config.evidence_bic)
        and separation >= config.evidence_separation
        and (wrong_level or far_from_right)
    )
    return NoiseEvidence(delta_bic, separation, high_loss, right_loss, split)


def class_evidence(
    losses: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    config: TrustConfig,
    seed: int,
    predictions: Tensor | None = None,
) -> list[NoiseEvidence]:
    """:func:`noise_evidence` for every class of ``labels`` (an absent class shows none)."""
    agreed = None if predictions is None else predictions == labels
    return [
        noise_evidence(
            losses[labels == c],
            num_classes,
            config=config,
            seed=class_seed(seed, c),
            agreed=None if agreed is None else agreed[labels == c],
        )
        for c in range(num_classes)
    ]


__all__ = ["NoiseEvidence", "class_evidence", "class_seed", "noise_evidence"]
