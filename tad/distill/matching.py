"""The trajectory-matching loop that MTT and DATM share: its state, one step, and the run.

Each iteration draws an expert and a start epoch ``t`` below :func:`start_epoch_bound`,
lets the student of :mod:`tad.distill.mtt` follow the synthetic set from the expert's
parameters at ``t``, and updates the images, the step size and (DATM) the soft labels
by the matching loss. DATM's loss gate and widening start-epoch window are switched by
the config; with them off this is MTT's loop. The whole state, random stream included,
is checkpointed so that a run resumes where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from tad.checkpoint import atomic_save, load_checkpoint
from tad.config import AugmentConfig, TMConfig
from tad.distill.mtt import (
    matching_gradients_low_memory,
    plan_inner_steps,
    trajectory_matching_loss,
    unroll_student,
)
from tad.synthetic import SyntheticSet

log = logging.getLogger(__name__)
StepCallback = Callable[[int, float], None]


def start_epoch_bound(config: TMConfig, iteration: int) -> int:
    """Exclusive upper bound of the start epoch at ``iteration`` (DATM's sequential generation).

    ``min(current + ⌊(max − current)·it / expansion_end⌋, max)``; without a current
    bound (MTT, or DATM configs that switch sequential generation off) it is ``max``.
    """
    if config.current_max_start_epoch is None:
        return config.max_start_epoch
    grown = (config.max_start_epoch - config.current_max_start_epoch) * iteration // config.expansion_end
    return min(config.current_max_start_epoch + grown, config.max_start_epoch)


@dataclass
class MatchingState:
    """Everything a trajectory-matching run updates; checkpointed as a whole."""

    images: Tensor
    labels: Tensor  # int64 (M,) fixed, or float logits (M, C) learned
    syn_lr: Tensor
    optimizers: dict[str, torch.optim.Optimizer]
    iteration: int = 0
    skipped: int = 0  # updates refused by DATM's loss gate


def make_state(images: Tensor, labels: Tensor, config: TMConfig, device: torch.device) -> MatchingState:
    """Leaf tensors and their optimisers (SGD, momentum 0.5 for images and step size; 0.9 for labels)."""
    images = images.detach().clone().to(device).requires_grad_(True)
    syn_lr = torch.tensor(config.syn_lr_init, device=device).requires_grad_(True)
    labels = labels.detach().clone().to(device)
    optimizers = {
        "images": torch.optim.SGD([images], lr=config.lr_img, momentum=0.5),
        "lr": torch.optim.SGD([syn_lr], lr=config.lr_lr, momentum=0.5),
    }
    if config.soft_labels:
        labels = labels.float().requires_grad_(True)
        optimizers["labels"] = torch.optim.SGD([labels], lr=config.lr_y, momentum=config.momentum_y)
    return MatchingState(images, labels, syn_lr, optimizers)


def matching_step(
    state: MatchingState,
    skeleton: torch.nn.Module,
    start: Tensor,
    target: Tensor,
    config: TMConfig,
    augment: AugmentConfig | None,
    generator: torch.Generator,
) -> float:
    """One distillation iteration from a given expert segment; returns the matching loss."""
    steps = plan_inner_steps(state.images.shape[0], config, augment, generator)
    for opt in state.optimizers.values():
        opt.zero_grad(set_to_none=True)
    if config.memory_saving:
        loss, g_img, g_lr, g_lab = matching_gradients_low_memory(
            skeleton, start, target, state.images, state.labels, state.syn_lr, steps
        )
        state.images.grad, state.syn_lr.grad = g_img, g_lr
        if g_lab is not None:
            state.labels.grad = g_lab
    else:
        end = unroll_student(skeleton, start, state.images, state.labels, state.syn_lr, steps)
        loss = trajectory_matching_loss(end, start, target)
        loss.backward()
    value = float(loss.detach())
    if config.loss_gate is not None and value > config.loss_gate:
        state.skipped += 1  # DATM's gate: a segment the student cannot follow is skipped
    else:
        for opt in state.optimizers.values():
            opt.step()
    with torch.no_grad():
        state.syn_lr.clamp_(min=1e-8)  # a negative step size would make the student climb
    state.iteration += 1
    return value


def _save(path: Path, meta: dict, state: MatchingState, generator: torch.Generator) -> None:
    atomic_save(
        {
            "meta": meta,
            "images": state.images.detach().cpu(),
            "labels": state.labels.detach().cpu(),
            "syn_lr": state.syn_lr.detach().cpu(),
            "optimizers": {k: opt.state_dict() for k, opt in state.optimizers.items()},
            "iteration": state.iteration,
            "skipped": state.skipped,
            "generator": generator.get_state(),
        },
        path,
    )


def _restore(saved: dict, state: MatchingState, generator: torch.Generator) -> None:
    with torch.no_grad():
        state.images.copy_(saved["images"])
        state.syn_lr.copy_(saved["syn_lr"])
        if state.labels.requires_grad:
            state.labels.copy_(saved["labels"])
    for name, opt in state.optimizers.items():
        opt.load_state_dict(saved["optimizers"][name])
    state.iteration, state.skipped = saved["iteration"], saved["skipped"]
    generator.set_state(saved["generator"])


def distill_trajectory_matching(
    trajectories: list[Tensor],
    init: SyntheticSet,
    *,
    config: TMConfig,
    skeleton: torch.nn.Module,
    augment: AugmentConfig | None,
    generator: torch.Generator,
    device: torch.device,
    checkpoint: str | Path | None = None,
    meta: dict | None = None,
    callback: StepCallback | None = None,
) -> SyntheticSet:
    """Run ``config.iterations`` matching iterations from ``init``; returns images, labels and the learned lr.

    ``trajectories`` are (epochs + 1, P) tensors, one per expert. With ``checkpoint``
    the full state (random stream included) is saved atomically every
    ``config.checkpoint_every`` iterations and at the end, and a rerun resumes from it.
    """
    state = make_state(init.images, init.labels, config, device)
    meta = meta or {}
    if checkpoint is not None and (saved := load_checkpoint(checkpoint, meta)) is not None:
        _restore(saved, state, generator)
        log.info("resuming trajectory matching at iteration %d from %s", state.iteration, checkpoint)
    skeleton = skeleton.to(device)
    while state.iteration < config.iterations:
        e = int(torch.randint(len(trajectories), (1,), generator=generator))
        bound = start_epoch_bound(config, state.iteration)
        t = int(torch.randint(config.min_start_epoch, bound, (1,), generator=generator))
        start = trajectories[e][t].to(device)
        target = trajectories[e][t + config.expert_epochs].to(device)
        loss = matching_step(state, skeleton, start, target, config, augment, generator)
        last = state.iteration == config.iterations
        if checkpoint is not None and (state.iteration % config.checkpoint_every == 0 or last):
            _save(Path(checkpoint), meta, state, generator)
        if callback is not None:
            callback(state.iteration, loss)
    labels = state.labels.detach().cpu()
    return SyntheticSet(state.images.detach().cpu(), labels, lr=float(state.syn_lr.detach()))


__all__ = [
    "MatchingState",
    "distill_trajectory_matching",
    "make_state",
    "matching_step",
    "start_epoch_bound",
]
