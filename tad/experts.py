"""Training classifiers on the real, noisy data: the trust model and the expert trajectories.

A vanilla expert trains with cross-entropy on every sample and its observed label.
A trust-aware expert (TAD) trains plainly until its first division (when its training
loss has fallen, :meth:`tad.config.TrustConfig.ready_to_divide`); after that, at the
start of every epoch it scores all samples, divides them (outer loop), recalls
reliable untrusted samples with pseudo-labels (inner loop), and trains the epoch on
the trusted space with its current labels plus the consistency term over every
sample. Given the same generator, both kinds draw the same initialisation,
mini-batches and augmentations (the trust steps seed themselves from a stream of
their own), so they differ only by what TAD changes, and their cost only by the
scoring pass and the division.

Reconstruction (tad-method.md §2.2.1): TAD plugs into the model-training stage; the
distillers then draw their real data from the final trusted space.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from tad.augment import dsa
from tad.config import AugmentConfig, ExpertConfig, ModelConfig, RecalibConfig, TrustConfig
from tad.diversion import TrustState, trust_diagnostics, trust_step
from tad.models import build_model, flatten_params
from tad.rng import sklearn_seed
from tad.trust import SampleScores, TrustSplit, consistency_loss, divide, everyone_trusted, score_samples

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict], None]


@dataclass
class ExpertRun:
    """A trained classifier, its final trust split and what happened on the way."""

    model: torch.nn.Module
    state: TrustState
    history: list[dict] = field(default_factory=list)  # one entry per epoch
    trajectory: list[Tensor] = field(default_factory=list)  # flat parameters at init and after each epoch
    timings: list[dict] = field(default_factory=list)  # seconds per epoch: trust step and training


class ScoreRecorder:
    """Per-sample losses, predictions and features captured from the training pass itself.

    The ``online`` scoring mode reads the outer and inner loops' inputs from the
    epoch's own forward passes (augmented views, weights moving during the epoch)
    instead of a separate evaluation pass, which saves about a third of an epoch.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.losses: Tensor | None = None
        self.probs: Tensor | None = None
        self.features: Tensor | None = None

    def record(self, idx: Tensor, features: Tensor, logits: Tensor, per_sample: Tensor) -> None:
        if self.features is None:
            self.losses = torch.zeros(self.n)
            self.probs = torch.zeros(self.n, logits.shape[1])
            self.features = torch.zeros(self.n, features.shape[1])
        self.losses[idx] = per_sample.detach().cpu()
        self.probs[idx] = logits.detach().softmax(dim=1).cpu()
        self.features[idx] = features.detach().cpu()

    def scores(self) -> SampleScores:
        assert self.features is not None, "nothing was recorded"
        return SampleScores(self.losses, self.probs, self.features)


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    images: Tensor,
    labels: Tensor,
    *,
    batch_size: int,
    generator: torch.Generator,
    augment: AugmentConfig | None,
    trusted: Tensor | None = None,
    targets: Tensor | None = None,
    lambda_cons: float = 0.0,
    recorder: ScoreRecorder | None = None,
    soft_targets: Tensor | None = None,
) -> float:
    """One pass over all samples in a random order; returns the mean training loss.

    Cross-entropy uses only the ``trusted`` rows of each batch (all rows when None);
    the consistency term, when ``targets`` are given, uses every row. With
    ``soft_targets`` (N, C) every row's cross-entropy is taken against its own target
    distribution instead of its label. A ``recorder`` keeps every sample's loss (against
    its label), prediction and features from this pass.
    """
    device = next(model.parameters()).device
    order = torch.randperm(images.shape[0], generator=generator)
    model.train()
    total, batches = 0.0, 0
    for start in range(0, order.numel(), batch_size):
        idx = order[start : start + batch_size]
        x = images[idx].to(device, non_blocking=True)
        if augment is not None:
            x = dsa(x, augment, generator=generator)
        features = model.embed(x)
        logits = model.classifier(features)
        per_sample = F.cross_entropy(logits, labels[idx].to(device), reduction="none")
        if recorder is not None:
            recorder.record(idx, features, logits, per_sample)
        if soft_targets is not None:
            target = soft_targets[idx].to(device)
            loss = -(target * logits.log_softmax(dim=1)).sum(dim=1).mean()
        elif trusted is None:
            loss = per_sample.mean()
        else:
            mask = trusted[idx].to(device)
            loss = (per_sample * mask).sum() / mask.sum().clamp(min=1)
        if targets is not None and lambda_cons > 0:
            loss = loss + lambda_cons * consistency_loss(logits, targets[idx].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        batches += 1
    return total / max(batches, 1)


def _make_optimizer(model: torch.nn.Module, config: ExpertConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


def outer_inner_step(
    model: torch.nn.Module,
    images: Tensor,
    noisy_labels: Tensor,
    state: TrustState,
    num_classes: int,
    *,
    trust: TrustConfig,
    recalib: RecalibConfig,
    seed: int,
    recorded: SampleScores | None = None,
) -> tuple[TrustState, Tensor]:
    """Score (or take the scores recorded in training), divide and recall; returns the state and targets."""
    scores = recorded if recorded is not None else score_samples(model, images, state.split.labels)
    state = trust_step(scores, state, noisy_labels, num_classes, trust=trust, recalib=recalib, seed=seed)
    return state, scores.probs


@dataclass
class ExpertProgress:
    """Everything needed to continue an expert after ``epoch`` finished epochs."""

    epoch: int
    model_state: dict
    optimizer_state: dict
    generator_state: Tensor
    state: TrustState
    targets: Tensor | None
    history: list[dict]
    trajectory: list[Tensor]
    timings: list[dict]
    recorded: SampleScores | None = None  # the last epoch's scores, in online scoring mode


ProgressCallback = Callable[[ExpertProgress], None]


def train_expert(
    images: Tensor,
    noisy_labels: Tensor,
    *,
    num_classes: int,
    model: ModelConfig,
    expert: ExpertConfig,
    trust: TrustConfig,
    recalib: RecalibConfig,
    augment: AugmentConfig,
    generator: torch.Generator,
    device: torch.device,
    clean_labels: Tensor | None = None,
    record_trajectory: bool = False,
    callback: EpochCallback | None = None,
    resume: ExpertProgress | None = None,
    on_progress: ProgressCallback | None = None,
    fixed_split: TrustSplit | None = None,
) -> ExpertRun:
    """Train one classifier on ``images`` (N, C, H, W) with observed ``noisy_labels`` (N,).

    With ``trust.enabled`` and the ``dynamic`` schedule this is a TAD expert; with the
    ``static`` schedule it trains plainly and divides once at the end (the two-stage
    baseline); otherwise it is a vanilla expert whose split trusts everything.
    ``clean_labels`` are used only for diagnostics. ``on_progress`` receives the full
    state after every epoch (to checkpoint it); passing it back as ``resume`` continues
    exactly where it stopped, random streams included. With ``fixed_split`` the expert
    trains on that trusted space and its labels from the first epoch, with no division
    or recall: the second stage of the two-stage baseline.
    """
    shape = {"channels": images.shape[1], "num_classes": num_classes, "image_size": images.shape[-1]}
    net = build_model(model, **shape, generator=generator).to(device)
    optimizer = _make_optimizer(net, expert)
    state = TrustState(
        split=fixed_split if fixed_split is not None else everyone_trusted(noisy_labels, num_classes)
    )
    run = ExpertRun(model=net, state=state)
    targets, recorded, first = None, None, 0
    if resume is not None:
        net.load_state_dict(resume.model_state)
        optimizer.load_state_dict(resume.optimizer_state)
        generator.set_state(resume.generator_state)  # restores the initial seed too
        state, targets, recorded, first = resume.state, resume.targets, resume.recorded, resume.epoch
        run.history, run.trajectory, run.timings = (
            list(resume.history),
            list(resume.trajectory),
            list(resume.timings),
        )
    elif record_trajectory:
        run.trajectory.append(flatten_params(net).cpu())
    # The trust steps draw their GMM seeds from a stream of their own, so that expert k of
    # every kind (vanilla, tad, clean) consumes the same initialisation, batch order and
    # augmentation draws: the kinds differ only by what TAD changes (common random numbers).
    trust_seed = generator.initial_seed()
    dynamic = trust.enabled and trust.schedule == "dynamic" and fixed_split is None
    masked = dynamic or fixed_split is not None
    warmup = trust.warmup_epochs(expert.epochs)
    online = dynamic and trust.scoring == "online"
    soft = dynamic and trust.untrusted == "soft"
    for epoch in range(first, expert.epochs):
        t0 = time.perf_counter()
        recalled_before = state.split.recalled
        if dynamic and _divides(trust, state, epoch, expert.epochs, run.history, num_classes):
            state, targets = outer_inner_step(
                net,
                images,
                noisy_labels,
                state,
                num_classes,
                trust=trust,
                recalib=recalib,
                seed=sklearn_seed(trust_seed, "divide", epoch),
                recorded=recorded,
            )
        t1 = time.perf_counter()
        recorder = ScoreRecorder(images.shape[0]) if online and epoch + 1 >= warmup else None
        loss = train_epoch(
            net,
            optimizer,
            images,
            state.split.labels,
            batch_size=expert.batch_size,
            generator=generator,
            augment=augment if expert.dsa else None,
            trusted=state.split.trusted if masked else None,
            targets=targets,
            lambda_cons=trust.lambda_cons,
            recorder=recorder,
            soft_targets=soft_targets(state.split, targets, num_classes)
            if soft and targets is not None
            else None,
        )
        recorded = recorder.scores() if recorder is not None else None
        if record_trajectory:
            run.trajectory.append(flatten_params(net).cpu())
        run.timings.append(
            {"epoch": epoch + 1, "trust_seconds": t1 - t0, "train_seconds": time.perf_counter() - t1}
        )
        entry = {"epoch": epoch + 1, "loss": loss, "newly_recalled": state.newly_recalled}
        entry["divided"] = state.loss_average is not None
        entry["inner_step"] = state.recall_log
        entry.update(trust_diagnostics(state.split, noisy_labels, clean_labels, num_classes))
        new = state.split.recalled & ~recalled_before
        entry["new_recall_accuracy"] = (
            float((state.split.labels[new] == clean_labels[new]).float().mean())
            if clean_labels is not None and new.any()
            else None
        )  # diagnostics only: the pseudo-labels recalled at this step that are right
        run.history.append(entry)
        if on_progress is not None:
            on_progress(
                ExpertProgress(
                    epoch + 1,
                    net.state_dict(),
                    optimizer.state_dict(),
                    generator.get_state(),
                    state,
                    targets,
                    run.history,
                    run.trajectory,
                    run.timings,
                    recorded,
                )
            )
        if callback is not None:
            callback(epoch + 1, entry)
    if fixed_split is None:
        run.state = _final_division(
            net, images, noisy_labels, state, num_classes, trust, recalib, trust_seed, recorded
        )
    return run


def soft_targets(split: TrustSplit, probs: Tensor, num_classes: int) -> Tensor:
    """(N, C) targets: one-hot for trusted samples; ``w·onehot + (1 − w)·prediction`` for the rest.

    Reconstruction (ours; DivideMix's label refinement, Li et al. 2020): an untrusted
    sample is not dropped but taught the mix of its label and the model's prediction,
    weighted by its clean-probability ``w``.
    """
    onehot = F.one_hot(split.labels, num_classes).float()
    w = split.p_clean.clamp(0.0, 1.0)[:, None]
    mixed = w * onehot + (1.0 - w) * probs
    return torch.where(split.trusted[:, None], onehot, mixed)


def _divides(
    trust: TrustConfig, state: TrustState, epoch: int, epochs: int, history: list[dict], num_classes: int
) -> bool:
    """Whether the outer and inner loops run before ``epoch``: always, once they have started."""
    if state.loss_average is not None:
        return True
    last_loss = history[-1]["loss"] if history else None
    return trust.ready_to_divide(epoch, epochs, last_loss, num_classes)


def _final_division(
    net: torch.nn.Module,
    images: Tensor,
    noisy_labels: Tensor,
    state: TrustState,
    num_classes: int,
    trust: TrustConfig,
    recalib: RecalibConfig,
    trust_seed: int,
    recorded: SampleScores | None = None,
) -> TrustState:
    """The trusted space handed to the distiller, judged by the fully trained model."""
    if not trust.enabled:
        return state
    if trust.schedule == "static":
        # The two-stage baseline: one GMM division of a plainly trained model, no recall.
        scores = score_samples(net, images, noisy_labels)
        no_recalls = torch.zeros_like(noisy_labels, dtype=torch.bool)
        split = divide(
            scores.losses,
            noisy_labels,
            no_recalls,
            num_classes,
            config=trust,
            seed=sklearn_seed(trust_seed, "final"),
        )
        return TrustState(split=split)
    state, _ = outer_inner_step(
        net,
        images,
        noisy_labels,
        state,
        num_classes,
        trust=trust,
        recalib=recalib,
        seed=sklearn_seed(trust_seed, "final"),
        recorded=recorded,
    )
    return state


__all__ = [
    "ExpertProgress",
    "ExpertRun",
    "ScoreRecorder",
    "outer_inner_step",
    "soft_targets",
    "train_epoch",
    "train_expert",
]
