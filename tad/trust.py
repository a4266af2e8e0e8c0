"""The outer loop: divide the training set into a trusted and an untrusted space.

Conventions: ``N`` samples, ``C`` classes. ``labels`` are the *current* labels
``ŷ`` (the observed noisy label, or a pseudo-label for a sample the inner loop
recalled). Every function is pure: tensors in, tensors or a typed result out.

What the paper says (front matter and summaries only, see ``tad-method.md``): a
class-wise *dynamic* Gaussian mixture on per-sample losses splits the data, and a
consistency term stabilises learning. Everything below that is more specific is a
reconstruction and is marked as such. Whether a class shows noise at all, before it is
split, is decided in ``tad.evidence``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from torch import Tensor

from tad.config import SizedScore, TrustConfig
from tad.device import inference_batch
from tad.evidence import class_evidence, class_seed

_EPS = 1e-8


@dataclass(frozen=True)
class SampleScores:
    """What one pass of a model over the training set tells us about each sample."""

    losses: Tensor  # (N,) cross-entropy against the current labels
    probs: Tensor  # (N, C) softmax predictions
    features: Tensor  # (N, d) penultimate-layer features


@dataclass(frozen=True)
class TrustSplit:
    """The result of one outer step."""

    trusted: Tensor  # bool (N,)
    labels: Tensor  # int64 (N,) current labels ŷ: noisy labels, or pseudo-labels where recalled
    recalled: Tensor  # bool (N,) trusted through the inner loop's recall (label may differ from ỹ)
    p_clean: Tensor  # (N,) posterior of the low-loss mixture component
    thresholds: Tensor  # (C,) class-wise thresholds τ_c

    @property
    def untrusted(self) -> Tensor:
        return ~self.trusted

    @property
    def fraction(self) -> float:
        return float(self.trusted.float().mean())

    def class_sizes(self, num_classes: int) -> Tensor:
        """(C,) trusted samples per current label."""
        return torch.bincount(self.labels[self.trusted], minlength=num_classes)


def everyone_trusted(labels: Tensor, num_classes: int) -> TrustSplit:
    """The split before any division: all of ``D`` trusted with its observed labels."""
    n = labels.shape[0]
    return TrustSplit(
        trusted=torch.ones(n, dtype=torch.bool),
        labels=labels.clone(),
        recalled=torch.zeros(n, dtype=torch.bool),
        p_clean=torch.ones(n),
        thresholds=torch.zeros(num_classes),
    )


@torch.no_grad()
def score_samples(
    model: torch.nn.Module, images: Tensor, labels: Tensor, *, batch_size: int | None = None
) -> SampleScores:
    """Per-sample losses, predictions and features in one evaluation pass (no augmentation).

    The outer and inner loops read these in the ``pass`` scoring mode. In the default ``online``
    mode they read the same quantities recorded during the epoch's training pass instead
    (:class:`tad.epoch.ScoreRecorder`: augmented views, weights moving during the epoch), and
    this function is not called for the divisions. ``model`` must expose ``embed(x)`` (features)
    and a final linear ``classifier``; calling the two in turn gives all three outputs from one
    forward pass.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    batch_size = batch_size or inference_batch(device)
    losses, probs, feats = [], [], []
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size].to(device)
        y = labels[start : start + batch_size].to(device)
        z = model.embed(x)
        logits = model.classifier(z)
        losses.append(F.cross_entropy(logits, y, reduction="none").cpu())
        probs.append(logits.softmax(dim=1).cpu())
        feats.append(z.cpu())
    model.train(was_training)
    return SampleScores(torch.cat(losses), torch.cat(probs), torch.cat(feats))


def normalise_losses(losses: Tensor, labels: Tensor, num_classes: int, *, per_class: bool = True) -> Tensor:
    """Min-max normalise losses to [0, 1], within each class of ``labels`` (or globally).

    Reconstruction: DivideMix normalises globally; a per-class scale is the natural
    reading of "class-wise" and keeps hard classes from being judged by easy ones.
    """
    if not per_class:
        return (losses - losses.min()) / (losses.max() - losses.min() + _EPS)
    out = torch.zeros_like(losses)
    for c in range(num_classes):
        idx = labels == c
        if idx.any():
            v = losses[idx]
            out[idx] = (v - v.min()) / (v.max() - v.min() + _EPS)
    return out


@dataclass(frozen=True)
class MixtureFit:
    """A fitted two-component 1-D Gaussian mixture, components ordered by mean (clean first)."""

    weights: tuple[float, float]
    means: tuple[float, float]
    variances: tuple[float, float]

    def densities(self, x: np.ndarray) -> np.ndarray:
        """(len(x), 2) weighted component densities ``π_k N(x; μ_k, σ_k²)`` at the points ``x``."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, 1)
        mean, var, weight = (np.asarray(v)[None, :] for v in (self.means, self.variances, self.weights))
        return weight * np.exp(-0.5 * (x - mean) ** 2 / var) / np.sqrt(2.0 * np.pi * var)

    def clean_posterior(self, x: np.ndarray) -> np.ndarray:
        """(len(x),) posterior of the low-mean component at the points ``x``."""
        dens = self.densities(x)
        return dens[:, 0] / np.maximum(dens.sum(axis=1), np.finfo(np.float64).tiny)


def _fit_mixture(values: Tensor, config: TrustConfig, seed: int) -> GaussianMixture | None:
    """The sklearn fit behind every division; None when ``values`` cannot be split."""
    n = values.shape[0]
    if n < 4 or float(values.max() - values.min()) < 1e-6:
        return None
    gmm = GaussianMixture(
        n_components=2,
        max_iter=config.gmm_max_iter,
        tol=config.gmm_tol,
        reg_covar=config.gmm_reg_covar,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(values.double().numpy().reshape(-1, 1))
    return gmm


def _as_fit(gmm: GaussianMixture) -> MixtureFit:
    low, high = np.argsort(gmm.means_.ravel())
    weights, means, variances = gmm.weights_, gmm.means_.ravel(), gmm.covariances_.ravel()
    return MixtureFit(
        (float(weights[low]), float(weights[high])),
        (float(means[low]), float(means[high])),
        (float(variances[low]), float(variances[high])),
    )


def gmm_clean_posterior(
    values: Tensor, *, config: TrustConfig, seed: int
) -> tuple[Tensor, tuple[float, float]]:
    """Fit a two-component 1-D GMM and return P(low-mean component | value) and both means.

    DivideMix's settings (``max_iter=10, tol=1e-2, reg_covar=5e-4``) are kept for
    comparability. Fewer than 4 values, or values with no spread, cannot be split:
    they are all treated as clean.
    """
    n = values.shape[0]
    gmm = _fit_mixture(values, config, seed)
    if gmm is None:
        return torch.ones(n), (float(values.mean()) if n else 0.0, float("nan"))
    low = int(np.argmin(gmm.means_.ravel()))
    posterior = torch.from_numpy(gmm.predict_proba(values.double().numpy().reshape(-1, 1))[:, low]).float()
    means = tuple(float(m) for m in sorted(gmm.means_.ravel()))
    return posterior, (means[0], means[1])


def clean_posteriors(
    losses: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    config: TrustConfig,
    seed: int,
    predictions: Tensor | None = None,
) -> Tensor:
    """(N,) clean posterior ``w_i`` from one GMM per class (or one global GMM).

    With ``config.evidence`` a class whose losses show no evidence of noise
    (:func:`tad.evidence.noise_evidence`) keeps ``w_i = 1`` for all its samples.
    """
    normalised = normalise_losses(losses, labels, num_classes, per_class=config.classwise_gmm)
    if not config.classwise_gmm:
        w = gmm_clean_posterior(normalised, config=config, seed=seed)[0]
    else:
        w = torch.ones_like(losses)
        for c in range(num_classes):
            idx = labels == c
            if idx.any():
                w[idx] = gmm_clean_posterior(normalised[idx], config=config, seed=class_seed(seed, c))[0]
    if config.evidence:
        evidence = class_evidence(
            losses, labels, num_classes, config=config, seed=seed, predictions=predictions
        )
        for c, ev in enumerate(evidence):
            if not ev.split:
                w[labels == c] = 1.0
    return w


def fit_class_gmms(
    losses: Tensor, labels: Tensor, num_classes: int, *, config: TrustConfig, seed: int
) -> list[MixtureFit | None]:
    """The mixtures behind :func:`clean_posteriors`, one per class, for inspection and plots.

    Same normalisation, settings and seeds, so ``fit.clean_posterior`` at a class's
    normalised losses equals the posteriors the division used. With a global GMM every
    class shares one fit. ``None`` marks a class that could not be split (all clean).
    """
    normalised = normalise_losses(losses, labels, num_classes, per_class=config.classwise_gmm)
    if not config.classwise_gmm:
        gmm = _fit_mixture(normalised, config, seed)
        return [None if gmm is None else _as_fit(gmm)] * num_classes
    fits: list[MixtureFit | None] = []
    for c in range(num_classes):
        gmm = _fit_mixture(normalised[labels == c], config, class_seed(seed, c))
        fits.append(None if gmm is None else _as_fit(gmm))
    return fits


def class_thresholds(p_clean: Tensor, labels: Tensor, num_classes: int, *, config: TrustConfig) -> Tensor:
    """(C,) class-wise dynamic thresholds τ_c.

    Reconstruction (the paper's form is unknown, tad-method.md §2.2.2 step 4):

    * ``flexmatch``: τ_c = τ·β_c / max β, floored at τ_min, with β_c the share of class c
      whose posterior already passes τ (FlexMatch's class-wise scaling, Zhang et al. 2021).
      Classes that the noise hits hardest get a lower bar and are not starved.
    * ``classmean``: τ_c = clip(mean of w over class c, τ_min, τ_max).
    * ``global``: τ_c = τ for every class (DivideMix).
    """
    if config.threshold_rule == "global":
        return torch.full((num_classes,), config.tau)
    counts = torch.bincount(labels, minlength=num_classes).clamp(min=1).float()
    if config.threshold_rule == "classmean":
        means = torch.bincount(labels, weights=p_clean, minlength=num_classes) / counts
        return means.clamp(config.tau_min, config.tau_max)
    passing = torch.bincount(labels, weights=(p_clean >= config.tau).float(), minlength=num_classes)
    beta = passing / counts
    scaled = config.tau * beta / beta.max().clamp(min=_EPS)
    return scaled.clamp(min=config.tau_min)


def guard_class_minimum(
    trusted: Tensor, scores: Tensor, labels: Tensor, num_classes: int, minimum: Tensor
) -> Tensor:
    """Keep at least ``minimum[c]`` trusted samples per class: the best-scored ones."""
    trusted = trusted.clone()
    for c in range(num_classes):
        idx = torch.nonzero(labels == c).squeeze(1)
        need = int(min(int(minimum[c]), idx.numel()))
        if int(trusted[idx].sum()) >= need or need == 0:
            continue
        best = idx[torch.argsort(scores[idx], descending=True)[:need]]
        trusted[best] = True
    return trusted


def sized_division(
    losses: Tensor,
    labels: Tensor,
    rates: Tensor,
    *,
    score: SizedScore = "rank",
    recalled: Tensor | None = None,
    observed: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Trust, in each class ``c`` of ``labels``, the ``1 - rates[c]`` share of samples with the lowest loss.

    ``rates`` describe the ``observed`` labels (N,; by default ``labels``): class ``c`` trusts
    ``round((1 - rates[c]) * n_c)`` of the samples that still carry their observed label ``c``, ``n_c``
    the number observed as ``c``, and all of them if fewer are left. A sample recalled out of class
    ``c`` is taken for one of its wrong labels, so the others keep their places. Samples in
    ``recalled`` (bool (N,)) carry a pseudo-label that the inner loop found reliable: they do not count
    toward their new class's size, and stay trusted while their loss is at most that of the class's
    last trusted sample (so recalls add to the trusted space rather than push right labels out of it).

    Returns the trusted mask (N,) and a clean score (N,) in (0, 1] that plays the clean posterior's
    part (soft targets, DM's weights, the consensus of several experts). ``score="rank"``: the share of
    the sample's class whose loss is at least its own (1 for the lowest loss, ``1 / n`` for the
    highest), so trusted samples too weigh less the higher their loss, as a mixture's posterior does.
    ``score="flat"``: 1 for every trusted sample; for the ``m`` untrusted samples of a class,
    ``m / (m + 1)`` at the border down to ``1 / (m + 1)`` for the highest loss. Ties in loss keep the
    earlier sample first. Reconstruction (``trust.sizing = "estimated"``, see :mod:`tad.noise_rate`).
    """
    if rates.ndim != 1 or bool(((rates < 0) | (rates > 1)).any()):
        raise ValueError("rates must be one share in [0, 1] per class.")
    if score not in ("rank", "flat"):
        raise ValueError(f"unknown sized score {score!r}; choose rank or flat.")
    if recalled is None:
        recalled = torch.zeros_like(labels, dtype=torch.bool)
    sizes = torch.bincount(labels[~recalled] if observed is None else observed, minlength=rates.shape[0])
    trusted = torch.zeros_like(labels, dtype=torch.bool)
    scores = torch.ones_like(losses, dtype=torch.float)
    for c in range(rates.shape[0]):
        members = torch.nonzero(labels == c).squeeze(1)
        n = members.numel()
        if n == 0:
            continue
        order = members[torch.argsort(losses[members], stable=True)]
        mine = order[~recalled[order]]
        keep = min(round((1.0 - float(rates[c])) * int(sizes[c])), mine.numel())
        trusted[mine[:keep]] = True
        if keep > 0:
            pseudo = order[recalled[order]]
            trusted[pseudo[losses[pseudo] <= losses[mine[keep - 1]]]] = True
        if score == "rank":
            scores[order] = 1.0 - torch.arange(n, dtype=torch.float) / n
        else:
            untrusted = order[~trusted[order]]
            m = untrusted.numel()
            scores[untrusted] = torch.arange(m, 0, -1, dtype=torch.float) / (m + 1)
    return trusted, scores


def divide(
    losses: Tensor,
    labels: Tensor,
    recalled: Tensor,
    num_classes: int,
    *,
    config: TrustConfig,
    seed: int,
    predictions: Tensor | None = None,
    noise_rates: Tensor | None = None,
    observed: Tensor | None = None,
) -> TrustSplit:
    """One outer step: GMM posteriors, class-wise thresholds and the trusted space.

    ``predictions`` (N,), the model's argmax, feed the evidence test's "right label" level. With
    ``noise_rates`` (C,) (``trust.sizing = "estimated"``) each class instead trusts the share of its
    samples the rates leave (:func:`sized_division`, counted on the ``observed`` labels), and
    ``thresholds`` holds those rates.

    Recalled samples carry their pseudo-label in ``labels`` and are re-checked here
    against it: those that no longer pass their class threshold lose their
    recalled status (the caller restores their observed label).
    """
    if noise_rates is not None:
        trusted, p_clean = sized_division(
            losses, labels, noise_rates, score=config.sized_score, recalled=recalled, observed=observed
        )
        thresholds = noise_rates.float().clone()
    else:
        p_clean = clean_posteriors(
            losses, labels, num_classes, config=config, seed=seed, predictions=predictions
        )
        thresholds = class_thresholds(p_clean, labels, num_classes, config=config)
        trusted = p_clean >= thresholds[labels]
    counts = torch.bincount(labels, minlength=num_classes)
    minimum = (counts.float() * config.min_trusted_fraction).ceil().long()
    trusted = guard_class_minimum(trusted, p_clean, labels, num_classes, minimum)
    return TrustSplit(
        trusted=trusted,
        labels=labels.clone(),
        recalled=recalled & trusted,
        p_clean=p_clean,
        thresholds=thresholds,
    )


def update_loss_average(previous: Tensor | None, losses: Tensor, *, momentum: float, reset: Tensor) -> Tensor:
    """Exponential average of per-sample losses; samples whose label changed start afresh."""
    if previous is None or momentum == 0.0:
        return losses.clone()
    averaged = momentum * previous + (1.0 - momentum) * losses
    return torch.where(reset, losses, averaged)


def consistency_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean squared distance between predictions on an augmented view and fixed targets.

    ``logits`` (B, C) come from the current step; ``targets`` (B, C) are probability
    vectors recorded at the last outer step from un-augmented images and carry no
    gradient. Reconstruction: tad-method.md suggests a two-view MSE; we compare the
    augmented view with the model's own earlier clean-view prediction instead
    (temporal-ensembling style, Laine & Aila 2017), which regularises the same way
    but costs no second forward pass.
    """
    return ((logits.softmax(dim=1) - targets.detach()) ** 2).sum(dim=1).mean()


__all__ = [
    "MixtureFit",
    "SampleScores",
    "TrustSplit",
    "class_thresholds",
    "clean_posteriors",
    "consistency_loss",
    "divide",
    "everyone_trusted",
    "fit_class_gmms",
    "gmm_clean_posterior",
    "guard_class_minimum",
    "normalise_losses",
    "score_samples",
    "sized_division",
    "update_loss_average",
]
