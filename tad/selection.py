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


def _candidate(warmup_fraction: float, gamma: float) -> Candidate:
    def apply(trust: TrustConfig, recalib: RecalibConfig) -> tuple[TrustConfig, RecalibConfig]:
        return replace(trust, warmup_fraction=warmup_fraction), replace(recalib, gamma=gamma)

    return apply


# The knobs the method is most sensitive to in our reconstruction: when the first division
# happens, and how reliable a sample must be to be recalled.
CANDIDATES: dict[str, Candidate] = {
    f"warmup={w},gamma={g}": _candidate(w, g) for w in (0.2, 0.4) for g in (0.8, 0.9)
}


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
        generator=generator(config.seed, "selection", name),
        device=device,
        clean_labels=clean[keep],
    )
    hits_noisy = accuracy(run.model, images[held_out], noisy[held_out])
    hits_clean = accuracy(run.model, images[held_out], clean[held_out])
    final = run.history[-1]
    return CandidateScore(
        name,
        100 * float(hits_noisy.float().mean()),
        100 * float(hits_clean.float().mean()),
        final["precision"],
    )


def summarise(scores: dict[str, list[CandidateScore]]) -> dict:
    """Mean noisy-validation accuracy per candidate over settings, and the winner."""
    names = next(iter(scores.values()))
    table = {
        c.name: statistics.fmean(s[i].noisy_val_accuracy for s in scores.values())
        for i, c in enumerate(names)
    }
    return {"mean_noisy_val_accuracy": table, "chosen": max(table, key=table.get)}


def to_json(scores: dict[str, list[CandidateScore]], config: ExperimentConfig, fraction: float) -> dict:
    return {
        "criterion": "accuracy of a TAD expert on a held-out split with the noisy labels",
        "validation_fraction": fraction,
        "candidates": list(CANDIDATES),
        "settings": {setting: [vars(s) for s in rows] for setting, rows in scores.items()},
        **summarise(scores),
        "base_config": to_dict(config),
    }


__all__ = ["CANDIDATES", "CandidateScore", "score_candidate", "summarise", "to_json", "validation_split"]
