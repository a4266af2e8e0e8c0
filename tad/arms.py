"""The arms of an experiment: where each draws its real data from, and its distillation and evaluation.

The arms run side by side on the same data, noise and evaluation networks; ``ARM_SOURCES``
says where each draws its real data from: ``random`` (random real images per class, noisy
labels), ``vanilla`` (the base distiller on all data with the noisy labels), ``tad`` (diverted
to TAD's final trusted space, with its labels) and ``clean`` (the true labels: the upper reference).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import Tensor

from tad import __version__
from tad.buffer import Expert, consensus_split
from tad.config import ExperimentConfig, to_dict
from tad.context import RunContext
from tad.distill.base import init_from_real
from tad.distill.datm import initial_synthetic_set
from tad.distill.dm import distill_dm
from tad.distill.matching import distill_trajectory_matching
from tad.diversion import TrustState
from tad.evaluate import EvalResult, evaluate_synthetic
from tad.models import build_model
from tad.rng import generator
from tad.synthetic import SyntheticSet
from tad.trust import TrustSplit, guard_class_minimum


@dataclass(frozen=True)
class ArmSource:
    """Where an arm's real data comes from: its labels, its pool and the experts it matches."""

    labels: Literal["noisy", "clean", "trusted"]  # observed, true, or TAD's (pseudo-labels where recalled)
    pool: Literal["all", "trusted"]  # the samples it starts from: all, or TAD's trusted space (topped up)
    experts: str | None  # whose trajectories MTT and DATM match; None: not distilled at all

    @property
    def reads_trust(self) -> bool:
        """Whether the arm needs TAD's trusted space (and so the trust-aware experts)."""
        return "trusted" in (self.labels, self.pool)


# Every arm shares the data, the noise, the evaluation networks and the distiller's random stream, so
# two arms whose labels and pool are equal distil the same synthetic set (DM), and arms differ by TAD.
ARM_SOURCES: dict[str, ArmSource] = {
    "random": ArmSource(labels="noisy", pool="all", experts=None),  # random real images per class
    "vanilla": ArmSource(labels="noisy", pool="all", experts="vanilla"),
    "tad": ArmSource(labels="trusted", pool="trusted", experts="tad"),
    "clean": ArmSource(labels="clean", pool="all", experts="clean"),  # the upper reference
}


def stage_meta(config: ExperimentConfig, arm: str = "tad") -> dict:
    """What a saved stage depends on: the configuration, less TAD's settings for the other arms."""
    meta = to_dict(replace(config, name="", arms=("random",)))
    if not ARM_SOURCES[arm].reads_trust:
        del meta["trust"], meta["recalib"]  # the random, vanilla and clean arms never read them
    return {"config": meta, "version": __version__, "distill_stream": "shared by every arm"}


def trusted_pool(state: TrustState, ipc: int, num_classes: int) -> Tensor:
    """The trusted pool, topped up (by clean posterior) where a class has fewer than ``ipc``."""
    split = state.split
    minimum = torch.full((num_classes,), ipc)
    return guard_class_minimum(split.trusted, split.p_clean, split.labels, num_classes, minimum)


def run_tad_experts(ctx: RunContext) -> tuple[TrustState, list[dict]]:
    """Trust-aware experts; their consensus is the trusted space, their mean posterior the clean score.

    DM uses them as its trust model; MTT and DATM also match their trajectories.
    """
    experts = ctx.experts("tad")
    return consensus_state(experts, ctx.nd.noisy_labels, ctx.nd.data.num_classes), experts[0].history


def consensus_state(experts: list[Expert], noisy_labels: Tensor, num_classes: int) -> TrustState:
    """The trusted space of several trust-aware experts, their mean posterior as the clean score."""
    trusted, labels, score = consensus_split(experts, observed=noisy_labels)
    recalled = trusted & (labels != noisy_labels)
    return TrustState(split=TrustSplit(trusted, labels, recalled, score, torch.zeros(num_classes)))


def arm_data(ctx: RunContext, arm: str, trust_state: TrustState | None) -> tuple[Tensor, Tensor]:
    """The labels (N,) and the bool pool (N,) of ``arm``'s real data, as ``ARM_SOURCES`` says."""
    source, nd = ARM_SOURCES[arm], ctx.nd
    if source.reads_trust and trust_state is None:
        raise ValueError(
            f"the {arm!r} arm draws from TAD's trusted space, but no trust state was given: "
            "train the trust-aware experts first (run_tad_experts) and pass their state."
        )
    observed = {"noisy": nd.noisy_labels, "clean": nd.clean_labels}
    labels = trust_state.split.labels if source.labels == "trusted" else observed[source.labels]
    if source.pool == "trusted":
        return labels, trusted_pool(trust_state, ctx.config.ipc, nd.data.num_classes)
    return labels, torch.ones(nd.data.train_images.shape[0], dtype=torch.bool)


def distill_arm(ctx: RunContext, arm: str, trust_state: TrustState | None = None) -> SyntheticSet:
    """The synthetic set of one arm: the real data it may use, then the base distiller (none: random)."""
    images, k = ctx.nd.data.train_images, ctx.nd.data.num_classes
    # Every arm draws from the same stream (common random numbers): an arm whose real data and labels
    # equal another's gives the same synthetic set, so differences between arms are TAD's, not luck's.
    gen = generator(ctx.config.seed, "distill")
    labels, pool = arm_data(ctx, arm, trust_state)
    if ARM_SOURCES[arm].experts is None:
        return init_from_real(images, labels, pool, ctx.config.ipc, k, generator=gen)
    if ctx.config.method == "dm":
        return distill_dm_arm(ctx, arm, labels, pool, trust_state, gen)
    return distill_tm_arm(ctx, arm, labels, pool, gen, matching_experts(ctx, arm, trust_state))


def distill_dm_arm(
    ctx: RunContext,
    arm: str,
    labels: Tensor,
    pool: Tensor,
    trust_state: TrustState | None,
    gen: torch.Generator,
) -> SyntheticSet:
    """DM on the arm's real data; from a trusted pool, with soft use of the untrusted samples if chosen."""
    config, weights, init_pool = ctx.config, None, None
    if ARM_SOURCES[arm].pool == "trusted" and config.trust.untrusted == "soft":
        # every sample enters its (current) class mean, weighted by its clean-probability
        weights, init_pool, pool = trust_state.split.p_clean.clamp(0.0, 1.0), pool, torch.ones_like(pool)
    return distill_dm(
        ctx.nd.data.train_images,
        labels,
        pool,
        ipc=config.ipc,
        num_classes=ctx.nd.data.num_classes,
        config=config.dm,
        model=config.model,
        augment=config.augment,
        generator=gen,
        device=ctx.device,
        callback=lambda it, loss: ctx.report(f"DM {arm}", it, config.dm.iterations),
        weights=weights,
        init_pool=init_pool,
    )


def matching_experts(ctx: RunContext, arm: str, trust_state: TrustState | None) -> list[Expert]:
    """The experts whose trajectories ``arm`` matches (MTT, DATM): ``ARM_SOURCES`` says whose; for TAD
    with ``trust.trajectories = "retrained"``, experts trained afresh on its final trusted space."""
    kind = ARM_SOURCES[arm].experts
    if kind == "tad" and ctx.config.trust.trajectories == "retrained":
        if trust_state is None:
            raise ValueError("retrained trajectories need the trust-aware experts' state; pass it.")
        return ctx.experts("diverted", trust_state.split)
    return ctx.experts(kind)


def distill_tm_arm(
    ctx: RunContext, arm: str, labels: Tensor, pool: Tensor, gen: torch.Generator, experts: list[Expert]
) -> SyntheticSet:
    """MTT or DATM matching ``experts``' trajectories, initialised from the arm's real data."""
    config, images, k = ctx.config, ctx.nd.data.train_images, ctx.nd.data.num_classes
    tm = config.tm if config.method == "datm" else config.tm.as_mtt()
    skeleton = build_model(config.model, channels=images.shape[1], num_classes=k, image_size=images.shape[-1])
    init = initial_synthetic_set(
        images,
        labels,
        pool,
        config.ipc,
        k,
        config=tm,
        skeleton=skeleton.to(ctx.device),
        expert_params=[e.final_params.to(ctx.device) for e in experts],
        generator=gen,
    )
    return distill_trajectory_matching(
        [e.trajectory for e in experts],
        init,
        config=tm,
        skeleton=skeleton,
        augment=config.augment,
        generator=gen,
        device=ctx.device,
        checkpoint=None if ctx.state_dir is None else ctx.state_dir / f"distill-{arm}.pt",
        meta=stage_meta(config, arm),
        callback=lambda it, loss: ctx.report(f"{config.method.upper()} {arm}", it, tm.iterations),
    )


def evaluate_arm(
    ctx: RunContext, arm: str, syn: SyntheticSet, nets: Iterable[int] | None = None
) -> EvalResult:
    """Fresh networks trained on ``syn``: the arm's accuracies on the test set (networks ``nets``: all)."""
    config, data = ctx.config, ctx.nd.data
    return evaluate_synthetic(
        syn,
        data.test_images,
        data.test_labels,
        num_classes=data.num_classes,
        model=config.model,
        config=config.eval,
        augment=config.augment,
        seed=config.seed,
        device=ctx.device,
        exact_test=data.exact_test,
        callback=lambda net, acc: ctx.report(f"evaluate {arm}", net, config.eval.num_eval),
        nets=nets,
    )


__all__ = [
    "ARM_SOURCES",
    "ArmSource",
    "arm_data",
    "consensus_state",
    "distill_arm",
    "evaluate_arm",
    "run_tad_experts",
    "stage_meta",
    "trusted_pool",
]
