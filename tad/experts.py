"""Training classifiers on the real, noisy data: the trust model and the expert trajectories.

A vanilla expert trains with cross-entropy on every sample and its observed label.
A trust-aware expert (TAD) trains plainly until its first division (when its training
loss has fallen, :meth:`tad.config.TrustConfig.ready_to_divide`); after that, at the
start of every epoch it scores all samples (by default with the losses, predictions and
features the previous epoch's training pass recorded), divides them (outer loop), recalls
reliable untrusted samples with pseudo-labels (inner loop), and trains the epoch on
the trusted space with its current labels plus the consistency term over every
sample. Given the same generator, both kinds draw the same initialisation,
mini-batches and augmentations (the trust steps seed themselves from a stream of
their own), so they differ only by what TAD changes, and their cost only by the
division (and, in the ``pass`` scoring mode, an evaluation pass before it).

Reconstruction (tad-method.md §2.2.1): TAD plugs into the model-training stage; the
distillers then draw their real data from the final trusted space.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from tad.config import AugmentConfig, ExpertConfig, ModelConfig, RecalibConfig, TrustConfig
from tad.diversion import TrustState, trust_diagnostics, trust_step
from tad.epoch import ScoreRecorder, soft_targets, train_epoch
from tad.models import build_model, flatten_params
from tad.rng import sklearn_seed
from tad.trust import SampleScores, TrustSplit, divide, everyone_trusted, score_samples

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict], None]


@dataclass(frozen=True)
class ExpertRun:
    """A trained classifier, its final trust split and what happened on the way."""

    model: torch.nn.Module
    state: TrustState
    history: list[dict] = field(default_factory=list)  # one entry per epoch
    trajectory: list[Tensor] = field(default_factory=list)  # flat parameters at init and after each epoch
    timings: list[dict] = field(default_factory=list)  # seconds per epoch: trust step and training


@dataclass(frozen=True, eq=False)
class ExpertTask:
    """One classifier to train: the data and labels it trains on, and its kind of training.

    With ``trust.enabled`` and the ``dynamic`` schedule this is a TAD expert; with the
    ``static`` schedule it trains plainly and divides once at the end (the two-stage
    baseline); otherwise it is a vanilla expert whose split trusts everything. With
    ``fixed_split`` it trains on that trusted space and its labels from the first epoch,
    with no division or recall (the second stage of the two-stage baseline, the oracle).
    """

    images: Tensor  # (N, C, H, W)
    labels: Tensor  # (N,) the observed labels it trains on
    num_classes: int
    model: ModelConfig
    expert: ExpertConfig
    trust: TrustConfig
    recalib: RecalibConfig
    augment: AugmentConfig
    clean_labels: Tensor | None = None  # diagnostics only: the method never reads them
    fixed_split: TrustSplit | None = None
    noise_rates: Tensor | None = None  # (C,) estimated shares of wrong labels (trust.sizing="estimated")

    def __post_init__(self) -> None:
        divides = self.trust.enabled and self.fixed_split is None
        if divides and self.trust.sizing == "estimated" and self.noise_rates is None:
            raise ValueError(
                'trust.sizing="estimated" sizes each class by its estimated share of wrong labels: pass '
                "noise_rates (tad.buffer.plain_noise_rates estimates them from two plain experts), or set "
                'trust.sizing="mixture".'
            )

    @property
    def dynamic(self) -> bool:
        """Whether the outer and inner loops run between epochs (a TAD expert)."""
        return self.trust.enabled and self.trust.schedule == "dynamic" and self.fixed_split is None

    @property
    def masked(self) -> bool:
        """Whether cross-entropy reads the trusted samples only."""
        return self.dynamic or self.fixed_split is not None

    @property
    def soft(self) -> bool:
        """Whether untrusted samples are taught soft targets (:func:`tad.epoch.soft_targets`), not dropped."""
        return self.dynamic and self.trust.untrusted == "soft"

    def records_scores(self, epoch: int) -> bool:
        """Whether ``epoch``'s training pass keeps the scores the next division reads (online scoring)."""
        warmup = self.trust.warmup_epochs(self.expert.epochs)
        return self.dynamic and self.trust.scoring == "online" and epoch + 1 >= warmup

    def initial_split(self) -> TrustSplit:
        fixed = self.fixed_split
        return fixed if fixed is not None else everyone_trusted(self.labels, self.num_classes)

    def build_net(self, generator: torch.Generator, device: torch.device) -> torch.nn.Module:
        shape = {"channels": self.images.shape[1], "image_size": self.images.shape[-1]}
        return build_model(self.model, num_classes=self.num_classes, **shape, generator=generator).to(device)


def make_optimizer(model: torch.nn.Module, config: ExpertConfig) -> torch.optim.Optimizer:
    """The expert's plain SGD (:class:`tad.config.ExpertConfig`'s learning rate, momentum and decay)."""
    return torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


def outer_inner_step(
    task: ExpertTask,
    net: torch.nn.Module,
    state: TrustState,
    *,
    seed: int,
    recorded: SampleScores | None = None,
) -> tuple[TrustState, Tensor]:
    """Score (or take the scores recorded in training), divide and recall; returns the state and targets."""
    scores = recorded if recorded is not None else score_samples(net, task.images, state.split.labels)
    k = task.num_classes
    state = trust_step(
        scores,
        state,
        task.labels,
        k,
        trust=task.trust,
        recalib=task.recalib,
        seed=seed,
        noise_rates=task.noise_rates,
    )
    return state, scores.probs


@dataclass(frozen=True)
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


def fit_expert(
    task: ExpertTask,
    *,
    generator: torch.Generator,
    device: torch.device,
    record_trajectory: bool = False,
    callback: EpochCallback | None = None,
    resume: ExpertProgress | None = None,
    on_progress: ProgressCallback | None = None,
) -> ExpertRun:
    """Train ``task``'s classifier: each epoch, the trust step when due, then an epoch on the trusted space.

    ``on_progress`` receives the full state after every epoch (to checkpoint it); passed back
    as ``resume`` it continues exactly where it stopped, random streams included.
    """
    net = task.build_net(generator, device)
    optimizer = make_optimizer(net, task.expert)
    state, targets, recorded, first = TrustState(split=task.initial_split()), None, None, 0
    history, trajectory, timings = [], [], []
    if resume is not None:
        net.load_state_dict(resume.model_state)
        optimizer.load_state_dict(resume.optimizer_state)
        generator.set_state(resume.generator_state)  # restores the initial seed too
        state, targets, recorded, first = resume.state, resume.targets, resume.recorded, resume.epoch
        history, trajectory, timings = list(resume.history), list(resume.trajectory), list(resume.timings)
    elif record_trajectory:
        trajectory.append(flatten_params(net).cpu())
    # The trust steps draw their GMM seeds from a stream of their own, so that expert k of
    # every kind (vanilla, tad, clean) consumes the same initialisation, batch order and
    # augmentation draws: the kinds differ only by what TAD changes (common random numbers).
    trust_seed = generator.initial_seed()
    for epoch in range(first, task.expert.epochs):
        t0 = time.perf_counter()
        recalled_before = state.split.recalled
        state, targets = divide_if_due(task, net, state, targets, recorded, epoch, history, trust_seed)
        t1 = time.perf_counter()
        loss, recorded = train_trusted_epoch(
            task, net, optimizer, state, targets, generator=generator, record=task.records_scores(epoch)
        )
        if record_trajectory:
            trajectory.append(flatten_params(net).cpu())
        t2 = time.perf_counter()
        timings.append({"epoch": epoch + 1, "trust_seconds": t1 - t0, "train_seconds": t2 - t1})
        history.append(epoch_entry(task, state, recalled_before, epoch, loss))
        if on_progress is not None:
            live = (net.state_dict(), optimizer.state_dict(), generator.get_state())
            on_progress(
                ExpertProgress(epoch + 1, *live, state, targets, history, trajectory, timings, recorded)
            )
        if callback is not None:
            callback(epoch + 1, history[-1])
    if task.fixed_split is None:
        state = final_division(task, net, state, trust_seed, recorded)
    return ExpertRun(net, state, history, trajectory, timings)


def divide_if_due(
    task: ExpertTask,
    net: torch.nn.Module,
    state: TrustState,
    targets: Tensor | None,
    recorded: SampleScores | None,
    epoch: int,
    history: list[dict],
    trust_seed: int,
) -> tuple[TrustState, Tensor | None]:
    """The trust step before ``epoch`` (0-based): division (outer loop) and recall (inner loop).

    A TAD expert starts dividing when its training loss has fallen
    (:meth:`tad.config.TrustConfig.ready_to_divide`) and then divides before every epoch;
    returns the new state and the consistency targets, or both unchanged when no step is due.
    """
    if not task.dynamic:
        return state, targets
    if state.loss_average is None:  # not divided yet: is it time?
        last_loss = history[-1]["loss"] if history else None
        if not task.trust.ready_to_divide(epoch, task.expert.epochs, last_loss, task.num_classes):
            return state, targets
    return outer_inner_step(
        task, net, state, seed=sklearn_seed(trust_seed, "divide", epoch), recorded=recorded
    )


def train_trusted_epoch(
    task: ExpertTask,
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: TrustState,
    targets: Tensor | None,
    *,
    generator: torch.Generator,
    record: bool,
) -> tuple[float, SampleScores | None]:
    """One epoch on the trusted space with its current labels, plus the consistency term over every sample.

    Returns the mean training loss and, with ``record``, the scores recorded on the way.
    """
    recorder = ScoreRecorder(task.images.shape[0]) if record else None
    use_soft = task.soft and targets is not None
    loss = train_epoch(
        net,
        optimizer,
        task.images,
        state.split.labels,
        batch_size=task.expert.batch_size,
        generator=generator,
        augment=task.augment if task.expert.dsa else None,
        trusted=state.split.trusted if task.masked else None,
        targets=targets,
        lambda_cons=task.trust.lambda_cons,
        recorder=recorder,
        soft_targets=soft_targets(state.split, targets, task.num_classes) if use_soft else None,
    )
    return loss, recorder.scores() if recorder is not None else None


def epoch_entry(
    task: ExpertTask, state: TrustState, recalled_before: Tensor, epoch: int, loss: float
) -> dict:
    """The history entry of ``epoch`` (0-based): its loss, the trust step's summary and diagnostics."""
    entry = {"epoch": epoch + 1, "loss": loss, "newly_recalled": state.newly_recalled}
    entry["divided"] = state.loss_average is not None
    entry["inner_step"] = state.recall_log
    clean = task.clean_labels
    entry.update(trust_diagnostics(state.split, task.labels, clean, task.num_classes))
    new = state.split.recalled & ~recalled_before
    entry["new_recall_accuracy"] = (
        float((state.split.labels[new] == clean[new]).float().mean())
        if clean is not None and new.any()
        else None
    )  # diagnostics only: the pseudo-labels recalled at this step that are right
    return entry


def final_division(
    task: ExpertTask,
    net: torch.nn.Module,
    state: TrustState,
    trust_seed: int,
    recorded: SampleScores | None = None,
) -> TrustState:
    """The trusted space handed to the distiller, judged by the fully trained model."""
    if not task.trust.enabled:
        return state
    seed = sklearn_seed(trust_seed, "final")
    if task.trust.schedule == "static":
        # The two-stage baseline: one division of a plainly trained model, no recall.
        scores = score_samples(net, task.images, task.labels)
        no_recalls = torch.zeros_like(task.labels, dtype=torch.bool)
        split = divide(
            scores.losses,
            task.labels,
            no_recalls,
            task.num_classes,
            config=task.trust,
            seed=seed,
            noise_rates=task.noise_rates,
        )
        return TrustState(split=split)
    return outer_inner_step(task, net, state, seed=seed, recorded=recorded)[0]


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
    noise_rates: Tensor | None = None,
    **run: Any,
) -> ExpertRun:
    """:func:`fit_expert` on the :class:`ExpertTask` these keywords describe (the notebooks' call).

    ``noise_rates`` (C,) size the trusted space when ``trust.sizing = "estimated"``
    (:func:`tad.buffer.plain_noise_rates`). ``run`` passes ``record_trajectory``, ``callback``,
    ``resume`` and ``on_progress`` on.
    """
    task = ExpertTask(
        images,
        noisy_labels,
        num_classes,
        model,
        expert,
        trust,
        recalib,
        augment,
        clean_labels,
        noise_rates=noise_rates,
    )
    return fit_expert(task, generator=generator, device=device, **run)


__all__ = [
    "ExpertProgress",
    "ExpertRun",
    "ExpertTask",
    "divide_if_due",
    "epoch_entry",
    "final_division",
    "fit_expert",
    "make_optimizer",
    "outer_inner_step",
    "train_expert",
    "train_trusted_epoch",
]
