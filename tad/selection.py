"""Choosing TAD's hyper-parameters fairly: on a validation split that carries the noisy labels.

A user has no clean labels, so neither do we when we choose. The validation split is a class-balanced
set of training images that the experiment does not train on (for ``cifar10-cpu``, 500 per class of
the 45,000 images its 5,000-image subset leaves out), noised by an independent draw of the same
process. For each candidate configuration the whole TAD pipeline runs on the training subset (trust-
aware experts, their trusted space, the base distiller), evaluation networks train on the distilled
set, and the candidate scores their mean accuracy on the validation split's *noisy* labels. When the
true class is still the most frequent label of every class (all the settings here), the network
closest to the clean one also agrees most with the noisy labels, so this ranks candidates as clean
accuracy would. Candidates share every random stream (common random numbers), so they differ only by
their settings. The test set and the clean labels are never used to choose; the clean-label accuracy
is recorded beside each score for the reader only.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from tad.config import ExperimentConfig, RecalibConfig, TrustConfig, to_dict
from tad.data import ImageDataset, load_unused
from tad.diversion import trust_diagnostics
from tad.evaluate import accuracy, train_on_synthetic
from tad.noise import apply_noise
from tad.pipeline import NoisyData, distill_arm, run_tad_experts
from tad.rng import generator

Candidate = Callable[[TrustConfig, RecalibConfig], tuple[TrustConfig, RecalibConfig]]


def _candidate(**trust: object) -> Candidate:
    def apply(trust_config: TrustConfig, recalib: RecalibConfig) -> tuple[TrustConfig, RecalibConfig]:
        return replace(trust_config, **trust), recalib

    return apply


# Each set settles open choices of the outer loop on top of the defaults; sets run one after another,
# and the winner of a set becomes the default before the next set runs (results/<preset>-selection*.json).
CANDIDATE_SETS: dict[str, dict[str, Candidate]] = {
    # split a class only on evidence of noise; average each sample's loss over the divisions
    # (against confirmation bias) or judge the latest loss
    "outer": {
        f"evidence={'on' if e else 'off'},loss_ema={m}": _candidate(evidence=e, loss_ema=m)
        for e in (True, False)
        for m in (0.0, 0.8)
    },
    # score with an evaluation pass or from the training pass itself (cheaper)
    "scoring": {f"scoring={m}": _candidate(scoring=m) for m in ("pass", "online")},
    # drop the untrusted samples, or keep them with targets and DM weights set by their clean-probability
    "untrusted": {f"untrusted={m}": _candidate(untrusted=m) for m in ("drop", "soft")},
}
CANDIDATES = CANDIDATE_SETS["outer"]


@dataclass(frozen=True)
class ValidationSet:
    """Images outside the training subset, with noisy labels (to choose) and clean ones (to report)."""

    images: Tensor
    noisy_labels: Tensor
    clean_labels: Tensor


def validation_set(config: ExperimentConfig, data: ImageDataset, per_class: int) -> ValidationSet:
    """``per_class`` unused training images per class, noised like the training labels (another draw)."""
    images, clean, positions = load_unused(config.data, data, per_class, seed=config.data.seed)
    # the same noise process, drawn independently of the training labels' corruption
    noise = replace(config.noise, seed=config.noise.seed + 1)
    noisy, _ = apply_noise(
        noise,
        config.data.dataset,
        clean.numpy(),
        data.num_classes,
        data_root=config.data.data_root,
        indices=positions.numpy(),
    )
    return ValidationSet(images, torch.as_tensor(noisy, dtype=torch.int64), clean)


@dataclass(frozen=True)
class CandidateScore:
    name: str
    seed: int
    noisy_val_accuracy: float  # % agreement with the validation split's noisy labels (the criterion)
    clean_val_accuracy: float  # % against its true labels: reported, never used to choose
    trusted_precision: float | None  # of the experts' trusted space: reported, never used to choose
    trusted_fraction: float


def score_candidate(
    name: str,
    candidate: Candidate,
    config: ExperimentConfig,
    nd: NoisyData,
    val: ValidationSet,
    device: torch.device,
    experts_root: Path | None = None,
) -> CandidateScore:
    """Run TAD with ``candidate`` on the training subset and score its distilled set on ``val``."""
    trust, recalib = candidate(config.trust, config.recalib)
    config = replace(config, trust=trust, recalib=recalib)
    state, _ = run_tad_experts(config, nd, device, None, experts_root)
    syn = distill_arm("tad", config, nd, state, device, None, None, experts_root).detached()
    noisy_hits, clean_hits = [], []
    for k in range(config.eval.num_eval):
        net = train_on_synthetic(
            syn,
            num_classes=nd.data.num_classes,
            model=config.model,
            config=config.eval,
            augment=config.augment,
            generator=generator(config.seed, "selection-eval", k),
            device=device,
        )
        noisy_hits.append(accuracy(net, val.images, val.noisy_labels).float().mean())
        clean_hits.append(accuracy(net, val.images, val.clean_labels).float().mean())
    final = trust_diagnostics(state.split, nd.noisy_labels, nd.clean_labels, nd.data.num_classes)
    return CandidateScore(
        name,
        config.seed,
        100 * float(torch.stack(noisy_hits).mean()),
        100 * float(torch.stack(clean_hits).mean()),
        final["precision"],
        final["trusted_fraction"],
    )


def summarise(scores: dict[str, list[CandidateScore]]) -> dict:
    """Mean noisy-validation accuracy per candidate over settings and seeds, and the winner."""
    rows = [row for setting in scores.values() for row in setting]
    names = list(dict.fromkeys(r.name for r in rows))
    table = {n: statistics.fmean(r.noisy_val_accuracy for r in rows if r.name == n) for n in names}
    return {"mean_noisy_val_accuracy": table, "chosen": max(table, key=table.get)}


CRITERION = (
    "mean accuracy, on the noisy labels of a validation split outside the training subset, of the "
    "evaluation networks trained on the candidate's distilled set"
)


def to_json(
    scores: dict[str, list[CandidateScore]],
    config: ExperimentConfig,
    per_class: int,
    candidates: dict[str, Candidate] = CANDIDATES,
) -> dict:
    return {
        "criterion": CRITERION,
        "validation_per_class": per_class,
        "candidates": list(candidates),
        "settings": {setting: [vars(s) for s in rows] for setting, rows in scores.items()},
        **summarise(scores),
        "base_config": to_dict(config),
    }


__all__ = [
    "CANDIDATES",
    "CANDIDATE_SETS",
    "CRITERION",
    "CandidateScore",
    "ValidationSet",
    "score_candidate",
    "summarise",
    "to_json",
    "validation_set",
]
