"""Choosing TAD's hyper-parameters fairly: on a validation split that carries the noisy labels.

A user has no clean labels, so neither do we when we choose. A stratified share of
the (noisy) training set is held out; for each candidate configuration a trust-aware
expert trains on the rest, and the candidate is scored by that expert's accuracy
on the held-out *noisy* labels. When the true class is still the most frequent
label of every class (all the settings here), the classifier closest to the clean
one also agrees most with the noisy labels, so this ranks candidates as clean
accuracy would. The test set is never touched.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from tad.config import ExperimentConfig, RecalibConfig, TrustConfig, to_dict
from tad.evaluate import accuracy
from tad.experts import train_expert
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
}
CANDIDATES = CANDIDATE_SETS["outer"]


def validation_split(noisy_labels: Tensor, fraction: float, seed: int) -> Tensor:
    """bool (N,): a stratified (by noisy label), seeded share of every class held out."""
    gen = generator(seed, "validation-split")
    held = torch.zeros_like(noisy_labels, dtype=torch.bool)
    for c in noisy_labels.unique():
        members = torch.nonzero(noisy_labels == c).squeeze(1)
        members = members[torch.randperm(members.numel(), generator=gen)]
        held[members[: round(fraction * members.numel())]] = True
    return held


@dataclass(frozen=True)
class CandidateScore:
    name: str
    seed: int
    noisy_val_accuracy: float  # % agreement with the held-out noisy labels (the selection criterion)
    clean_val_accuracy: float  # % against the true labels: reported, never used to choose
    trusted_precision: float | None


def score_candidate(
    name: str,
    candidate: Candidate,
    config: ExperimentConfig,
    images: Tensor,
    noisy: Tensor,
    clean: Tensor,
    held_out: Tensor,
    device: torch.device,
) -> CandidateScore:
    """Train a TAD expert on the kept part; score it on the held-out noisy labels."""
    trust, recalib = candidate(config.trust, config.recalib)
    keep = ~held_out
    run = train_expert(
        images[keep],
        noisy[keep],
        num_classes=int(clean.max()) + 1,
        model=config.model,
        expert=replace(config.expert, num_experts=1),
        trust=trust,
        recalib=recalib,
        augment=config.augment,
        # every candidate draws the same initialisation, batches and augmentations (common random numbers)
        generator=generator(config.seed, "selection"),
        device=device,
        clean_labels=clean[keep],
    )
    hits_noisy = accuracy(run.model, images[held_out], noisy[held_out])
    hits_clean = accuracy(run.model, images[held_out], clean[held_out])
    final = run.history[-1]
    return CandidateScore(
        name,
        config.seed,
        100 * float(hits_noisy.float().mean()),
        100 * float(hits_clean.float().mean()),
        final["precision"],
    )


def summarise(scores: dict[str, list[CandidateScore]]) -> dict:
    """Mean noisy-validation accuracy per candidate over settings and seeds, and the winner."""
    rows = [row for setting in scores.values() for row in setting]
    names = list(dict.fromkeys(r.name for r in rows))
    table = {n: statistics.fmean(r.noisy_val_accuracy for r in rows if r.name == n) for n in names}
    return {"mean_noisy_val_accuracy": table, "chosen": max(table, key=table.get)}


def to_json(
    scores: dict[str, list[CandidateScore]],
    config: ExperimentConfig,
    fraction: float,
    candidates: dict[str, Candidate] = CANDIDATES,
) -> dict:
    return {
        "criterion": "accuracy of a TAD expert on a held-out split with the noisy labels",
        "validation_fraction": fraction,
        "candidates": list(candidates),
        "settings": {setting: [vars(s) for s in rows] for setting, rows in scores.items()},
        **summarise(scores),
        "base_config": to_dict(config),
    }


__all__ = [
    "CANDIDATES",
    "CANDIDATE_SETS",
    "CandidateScore",
    "score_candidate",
    "summarise",
    "to_json",
    "validation_split",
]
