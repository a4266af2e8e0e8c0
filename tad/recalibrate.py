"""The inner loop: score untrusted samples, pseudo-label the reliable ones and recall them.

Conventions: ``N`` samples, ``C`` classes, ``d`` feature dimensions. Features are
the penultimate-layer features of the trust model (the ConvNet's flattened
``embed``). Anchors are class means of *trusted* features under the current labels.

What the paper says (summaries only): reliability comes from the Mahalanobis
distance to class anchors and cosine similarity, and drives selective
pseudo-labelling and the recall of informative data. The specific forms below are a
reconstruction (tad-method.md §2.2.3), marked in each function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from tad.config import RecalibConfig
from tad.trust import TrustSplit


@dataclass(frozen=True)
class Recalibration:
    """The inner loop's view of every sample, and which untrusted ones it recalls."""

    candidates: Tensor  # int64 (N,) candidate label ŷ from the chosen measure(s)
    reliability: Tensor  # (N,) in [0, 1]
    agree: Tensor  # bool (N,) the measures (and, if asked, the classifier) agree on ŷ
    recalled: Tensor  # bool (N,) untrusted samples recalled at this step
    cuts: Tensor | None = None  # (C,) reliability a candidate of each class needs (inf: none recalled)
    temperature: float | None = None  # of the Mahalanobis posterior, fitted on held-out trusted samples
    maturity: float | None = None  # accuracy of the nearest anchor on the held-out trusted samples

    def summary(self, num_classes: int) -> dict:
        """What one inner step did, for the per-epoch history (no labels needed)."""
        eligible = self.agree & ~torch.isnan(self.reliability)
        rel = self.reliability[eligible]
        quantiles = rel.quantile(torch.tensor([0.1, 0.5, 0.9])).tolist() if rel.numel() else []
        return {
            "candidates": int(eligible.sum()),
            "recalled_per_class": torch.bincount(
                self.candidates[self.recalled], minlength=num_classes
            ).tolist(),
            "reliability_quantiles": quantiles,
            "cuts": None if self.cuts is None else [None if math.isinf(c) else c for c in self.cuts.tolist()],
            "temperature": self.temperature,
            "maturity": self.maturity,
        }


def prepare_features(features: Tensor, trusted: Tensor, *, normalise: bool) -> Tensor:
    """Centre on the trusted mean and optionally L2-normalise.

    Reconstruction: ReLU/average-pool features are all non-negative, so raw cosine
    similarities crowd near 1; centring on the trusted mean makes them informative.
    """
    z = features - features[trusted].mean(dim=0, keepdim=True)
    if normalise:
        z = torch.nn.functional.normalize(z, dim=1)
    return z


def class_anchors(features: Tensor, labels: Tensor, mask: Tensor, num_classes: int) -> Tensor:
    """(C, d) class means of the features selected by ``mask``; a class with none gets zeros."""
    sums = torch.zeros(num_classes, features.shape[1], dtype=features.dtype, device=features.device)
    sums.index_add_(0, labels[mask], features[mask])
    counts = torch.bincount(labels[mask], minlength=num_classes).clamp(min=1)
    return sums / counts.unsqueeze(1).to(features.dtype)


def shared_covariance(
    features: Tensor, labels: Tensor, mask: Tensor, anchors: Tensor, *, shrinkage: float
) -> Tensor:
    """(d, d) tied within-class covariance, shrunk towards a scaled identity.

    Reconstruction: one covariance shared by all classes (Lee et al. 2018) because a
    per-class estimate is ill-conditioned with d = 2048 and a few hundred trusted
    samples; ``Σ_s = (1 − s)·Σ + s·(tr Σ / d)·I``.
    """
    centred = features[mask] - anchors[labels[mask]]
    cov = centred.T @ centred / max(int(mask.sum()), 1)
    d = cov.shape[0]
    target = torch.eye(d, dtype=cov.dtype, device=cov.device) * (torch.trace(cov) / d).clamp(min=1e-12)
    return (1.0 - shrinkage) * cov + shrinkage * target


def whitening_matrix(cov: Tensor) -> Tensor:
    """(d, d) matrix ``W`` with ``W Wᵀ = Σ⁻¹``, from a Cholesky factor (Σ must be positive definite)."""
    chol = torch.linalg.cholesky(cov.double())
    eye = torch.eye(cov.shape[0], dtype=torch.float64, device=cov.device)
    return torch.linalg.solve_triangular(chol, eye, upper=False).T.to(cov.dtype)


def mahalanobis_distances(features: Tensor, anchors: Tensor, whitening: Tensor) -> Tensor:
    """(N, C) distances ``sqrt((z − μ_c)ᵀ Σ⁻¹ (z − μ_c))`` for every sample and anchor.

    Whitening once turns the quadratic form into a Euclidean distance, computed with
    matrix products: ``‖a − b‖² = ‖a‖² + ‖b‖² − 2 a·b``; no loop over samples.
    """
    zw = features @ whitening
    aw = anchors @ whitening
    sq = (zw * zw).sum(1, keepdim=True) + (aw * aw).sum(1).unsqueeze(0) - 2.0 * zw @ aw.T
    return sq.clamp(min=0.0).sqrt()


def cosine_similarities(features: Tensor, anchors: Tensor) -> Tensor:
    """(N, C) cosine similarity of every sample to every anchor."""
    z = torch.nn.functional.normalize(features, dim=1)
    a = torch.nn.functional.normalize(anchors, dim=1)
    return z @ a.T


def reliability_scores(
    distances: Tensor, cosines: Tensor, *, mode: str, temperature: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Candidate labels, reliability in [0, 1] and whether the measures agree.

    Reconstruction (tad-method.md §2.2.3 steps 6-7):

    * ``mahalanobis``: ŷ = argmin_c d_c, r = softmax_c(−d_c² / 2T)[ŷ];
    * ``cosine``: ŷ = argmax_c s_c, r = max(0, s_ŷ);
    * ``both``: ŷ = argmin_c d_c, r = softmax_c(−d_c² / 2T)[ŷ] · max(0, s_ŷ), and ŷ must
      also be the cosine argmax.

    With squared distances and T = 1 the softmax is the class posterior of Gaussian
    classes with a shared covariance and equal priors (linear discriminant analysis);
    the unsquared form saturates at a few hundred feature dimensions.
    """
    maha_label = distances.argmin(dim=1)
    cos_label = cosines.argmax(dim=1)
    maha_conf = (-(distances**2) / (2.0 * temperature)).softmax(dim=1)
    if mode == "mahalanobis":
        cand = maha_label
        rel = maha_conf.gather(1, cand[:, None]).squeeze(1)
        agree = torch.ones_like(cand, dtype=torch.bool)
    elif mode == "cosine":
        cand = cos_label
        rel = cosines.gather(1, cand[:, None]).squeeze(1).clamp(min=0.0)
        agree = torch.ones_like(cand, dtype=torch.bool)
    else:
        cand = maha_label
        cos_at = cosines.gather(1, cand[:, None]).squeeze(1).clamp(min=0.0)
        rel = maha_conf.gather(1, cand[:, None]).squeeze(1) * cos_at
        agree = maha_label == cos_label
    return cand, rel, agree


def select_recalls(reliability: Tensor, eligible: Tensor, *, gamma: float | Tensor, cap: int) -> Tensor:
    """bool (N,): eligible samples with reliability ≥ γ, at most ``cap`` of the most reliable.

    ``gamma`` is one level for every sample, or (N,) levels (each sample's class cut).
    """
    chosen = eligible & (reliability >= gamma)
    if int(chosen.sum()) > cap:
        scores = torch.where(chosen, reliability, torch.full_like(reliability, -1.0))
        keep = torch.topk(scores, cap).indices
        chosen = torch.zeros_like(chosen)
        chosen[keep] = True
    return chosen


def anchor_subspace(anchors: Tensor) -> Tensor:
    """(d, r) orthonormal basis of the span of the centred anchors (r ≤ C − 1).

    Reconstruction: class means differ only within this subspace, so distances to the
    anchors are measured there; its covariance is well conditioned with a few hundred
    trusted samples, where a full d = 512-2048 covariance is not.
    """
    centred = anchors - anchors.mean(dim=0, keepdim=True)
    _, singular, vh = torch.linalg.svd(centred.double(), full_matrices=False)
    rank = int((singular > singular.max().clamp(min=1e-12) * 1e-6).sum())
    return vh[:rank].T.to(anchors.dtype)


def fit_temperature(distances: Tensor, labels: Tensor) -> float:
    """The temperature T minimising the cross-entropy of ``labels`` under softmax(−d² / 2T).

    Fitted on held-out trusted samples (their labels stand in for the truth), so the
    posterior's confidence matches how often its argmax is right there.
    """
    grid = torch.logspace(-2, 2, 41, dtype=torch.float64)
    sq = distances.double() ** 2
    nll = [float(torch.nn.functional.cross_entropy(-sq / (2 * t), labels)) for t in grid]
    return float(grid[int(torch.tensor(nll).argmin())])


def class_cuts(
    reliability: Tensor,
    candidates: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    precision: float,
    support: int,
) -> Tensor:
    """(C,) the lowest reliability per candidate class at which held-out samples reach ``precision``.

    Among held-out trusted samples whose candidate is c, ordered by reliability, the cut is
    the reliability of the last sample at which the share whose label is c still reaches
    ``precision`` over at least ``support`` samples; a class that never does gets +inf.
    """
    cuts = torch.full((num_classes,), math.inf)
    for c in range(num_classes):
        idx = torch.nonzero(candidates == c).squeeze(1)
        if idx.numel() < support:
            continue
        order = idx[torch.argsort(reliability[idx], descending=True)]
        hits = (labels[order] == c).double().cumsum(0)
        share = hits / torch.arange(1, order.numel() + 1, dtype=torch.float64)
        ok = torch.nonzero(share >= precision).squeeze(1)
        ok = ok[ok >= support - 1]
        if ok.numel():
            cuts[c] = float(reliability[order[int(ok.max())]])
    return cuts


def held_out_trusted(trusted: Tensor, *, fraction: float, seed: int) -> Tensor:
    """bool (N,): a seeded share of the trusted samples, kept out of the anchors to calibrate on."""
    gen = torch.Generator().manual_seed(seed)
    held = torch.zeros_like(trusted)
    members = torch.nonzero(trusted).squeeze(1)
    members = members[torch.randperm(members.numel(), generator=gen)]
    held[members[: round(fraction * members.numel())]] = True
    return held


def recalibrate(
    features: Tensor,
    probs: Tensor,
    split: TrustSplit,
    num_classes: int,
    *,
    config: RecalibConfig,
    seed: int = 0,
) -> Recalibration:
    """Score every sample against the trusted anchors and choose the untrusted ones to recall.

    ``features`` (N, d) and ``probs`` (N, C) come from the trust model on un-augmented
    images. Reconstruction (ours; the paper names only the two measures): anchors and a
    tied covariance come from most of the trusted space, in the subspace of the anchors;
    the remaining held-out trusted samples fit the temperature of the Mahalanobis
    posterior and, per candidate class, the reliability cut at which a recalled label
    would be right with probability ``config.gamma`` (a precision target, not one fixed
    reliability). Nothing is recalled until the nearest anchor names the held-out
    samples' labels with accuracy ``config.gamma`` (the features' maturity). With
    ``require_prediction_agreement`` the classifier's argmax must also equal the
    candidate label.
    """
    held = held_out_trusted(split.trusted, fraction=config.held_out_fraction, seed=seed)
    fit = split.trusted & ~held
    z = prepare_features(features.float(), fit, normalise=config.normalise_features)
    anchors = class_anchors(z, split.labels, fit, num_classes)
    basis = anchor_subspace(anchors)
    z, anchors = z @ basis, anchors @ basis
    cov = shared_covariance(z, split.labels, fit, anchors, shrinkage=config.shrinkage)
    distances = mahalanobis_distances(z, anchors, whitening_matrix(cov))
    cosines = cosine_similarities(z, anchors)
    temperature = fit_temperature(distances[held], split.labels[held]) if held.any() else config.temperature
    cand, rel, agree = reliability_scores(
        distances, cosines, mode=config.reliability, temperature=temperature
    )
    if config.require_prediction_agreement:
        agree = agree & (probs.argmax(dim=1) == cand)
    calib = held & agree
    cuts = class_cuts(
        rel[calib],
        cand[calib],
        split.labels[calib],
        num_classes,
        precision=config.gamma,
        support=config.support,
    )
    # Reconstruction (ours): recall only once the features have matured, i.e. once the nearest anchor
    # names the held-out trusted samples' labels with accuracy γ. Held-out trusted samples are the
    # easy ones, so a per-class cut fitted on them overrates the untrusted, hard samples; with
    # immature features that gap turned recall into relabelling right labels wrong (CIFAR-10, CPU).
    maturity = float((cand[held] == split.labels[held]).float().mean()) if held.any() else 0.0
    if config.require_maturity and maturity < config.gamma:
        cuts = torch.full_like(cuts, math.inf)
    untrusted = split.untrusted
    cap = int(config.recall_cap * int(untrusted.sum()))
    recalled = select_recalls(rel, untrusted & agree, gamma=cuts[cand], cap=cap)
    return Recalibration(cand, rel, agree, recalled, cuts, temperature, maturity)


def apply_recall(split: TrustSplit, recal: Recalibration) -> TrustSplit:
    """Move recalled samples into the trusted space with their pseudo-labels."""
    labels = torch.where(recal.recalled, recal.candidates, split.labels)
    return TrustSplit(
        trusted=split.trusted | recal.recalled,
        labels=labels,
        recalled=split.recalled | recal.recalled,
        # a recalled sample is as trustworthy as its pseudo-label is reliable
        p_clean=torch.where(recal.recalled, torch.maximum(split.p_clean, recal.reliability), split.p_clean),
        thresholds=split.thresholds,
    )


__all__ = [
    "Recalibration",
    "anchor_subspace",
    "apply_recall",
    "class_anchors",
    "class_cuts",
    "cosine_similarities",
    "fit_temperature",
    "held_out_trusted",
    "mahalanobis_distances",
    "prepare_features",
    "recalibrate",
    "reliability_scores",
    "select_recalls",
    "shared_covariance",
    "whitening_matrix",
]
