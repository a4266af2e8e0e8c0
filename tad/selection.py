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

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from tad.arms import distill_arm, run_tad_experts
from tad.checkpoint import atomic_write_text
from tad.config import ExperimentConfig, NoiseConfig, apply_overrides, to_dict
from tad.context import NoisyData, RunContext, prepare_data
from tad.data import ImageDataset, load_unused
from tad.diversion import trust_diagnostics
from tad.evaluate import accuracy, train_on_synthetic
from tad.noise import apply_noise
from tad.presets import with_noise
from tad.rng import generator
from tad.variants import CANDIDATE_SETS, Overrides

CANDIDATES = CANDIDATE_SETS["outer"]


@dataclass(frozen=True)
class ValidationSet:
    """Images outside the training subset, with noisy labels (to choose) and clean ones (to report)."""

    images: Tensor
    noisy_labels: Tensor
    clean_labels: Tensor


def validation_set(config: ExperimentConfig, data: ImageDataset, per_class: int) -> ValidationSet:
    """``per_class`` unused training images per class, noised like the training labels (another draw)."""
    images, clean, positions = load_unused(config.data, data, per_class, seed=config.data.split_seed)
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
    candidate: Overrides,
    config: ExperimentConfig,
    nd: NoisyData,
    val: ValidationSet,
    device: torch.device,
    experts_root: Path | None = None,
) -> CandidateScore:
    """Run TAD with ``candidate`` on the training subset and score its distilled set on ``val``."""
    config = apply_overrides(config, candidate)
    ctx = RunContext(config, nd, device, experts_root=experts_root)
    state, _ = run_tad_experts(ctx)
    syn = distill_arm(ctx, "tad", state).detached()
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
    candidates: dict[str, Overrides] = CANDIDATES,
) -> dict:
    return {
        "criterion": CRITERION,
        "validation_per_class": per_class,
        "candidates": list(candidates),
        "settings": {setting: [vars(s) for s in rows] for setting, rows in scores.items()},
        **summarise(scores),
        "base_config": to_dict(config),
    }


def resumed_scores(
    path: Path,
    base: ExperimentConfig,
    per_class: int,
    settings: dict[str, NoiseConfig],
    candidates: dict[str, Overrides],
) -> dict[str, list[CandidateScore]]:
    """The scores ``path`` holds for the wanted settings and candidates, if it was written for the same
    base configuration, criterion and validation split; otherwise none."""
    scores: dict[str, list[CandidateScore]] = {setting: [] for setting in settings}
    if not path.is_file():
        return scores
    old = json.loads(path.read_text())
    same = {"criterion": CRITERION, "validation_per_class": per_class}
    same["base_config"] = json.loads(json.dumps(to_dict(base)))
    if all(old.get(k) == v for k, v in same.items()):
        for setting, rows in old.get("settings", {}).items():
            if setting in scores:
                scores[setting] = [CandidateScore(**row) for row in rows if row["name"] in candidates]
    return scores


def previous_notes(path: Path) -> list[str]:
    """The ``notes`` a results file already holds (provenance written by hand, for instance how two
    partial files were merged); a rerun keeps them."""
    if not path.is_file():
        return []
    return list(json.loads(path.read_text()).get("notes", []))


@dataclass(frozen=True)
class Selection:
    """Every score (by setting), each candidate's mean noisy-validation accuracy, and the one chosen."""

    scores: dict[str, list[CandidateScore]]
    mean_noisy_val_accuracy: dict[str, float]
    chosen: str


def run_selection(
    base: ExperimentConfig,
    settings: dict[str, NoiseConfig],
    candidates: dict[str, Overrides],
    *,
    seeds: Sequence[int],
    validation_per_class: int,
    device: torch.device,
    path: str | Path,
    experts_root: Path | None = None,
    command: Sequence[str] = (),
    on_score: Callable[[str, CandidateScore], None] | None = None,
) -> Selection:
    """Score every candidate under every setting and seed, and choose by mean noisy-validation accuracy.

    ``path`` (JSON) is rewritten after each score, and a rerun keeps the scores it already holds for
    the same base configuration, so an interrupted selection resumes. ``on_score(setting, score)``
    reports each new score.
    """
    path = Path(path)
    scores = resumed_scores(path, base, validation_per_class, settings, candidates)
    notes = previous_notes(path)

    def save() -> dict:
        payload = {**to_json(scores, base, validation_per_class, candidates), "command": list(command)}
        if notes:
            payload["notes"] = notes
        atomic_write_text(json.dumps(payload, indent=1), path)
        return payload

    for setting, noise in settings.items():
        for seed in seeds:
            config = replace(with_noise(base, noise), seed=seed)
            done = {s.name for s in scores[setting] if s.seed == seed}
            missing = [name for name in candidates if name not in done]
            if not missing:
                continue
            nd = prepare_data(config)
            val = validation_set(config, nd.data, validation_per_class)
            for name in missing:
                score = score_candidate(name, candidates[name], config, nd, val, device, experts_root)
                scores[setting].append(score)
                if on_score is not None:
                    on_score(setting, score)
                save()
    summary = save()
    return Selection(scores, summary["mean_noisy_val_accuracy"], summary["chosen"])


__all__ = [
    "CANDIDATES",
    "CRITERION",
    "CandidateScore",
    "Selection",
    "ValidationSet",
    "previous_notes",
    "resumed_scores",
    "run_selection",
    "score_candidate",
    "summarise",
    "to_json",
    "validation_set",
]
