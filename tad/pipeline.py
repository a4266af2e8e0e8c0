"""One experiment end to end: data, noise, the trust model, every arm, evaluation, results.

The arms run side by side on the same data, noise and evaluation networks; :data:`ARM_SOURCES`
says where each draws its real data from: ``random`` (random real images per class, noisy
labels), ``vanilla`` (the base distiller on all data with the noisy labels), ``tad`` (diverted
to TAD's final trusted space, with its labels) and ``clean`` (the true labels: the upper reference).

Every finished stage is checkpointed under ``<out_dir>/state/``; a rerun of the
same configuration skips it, so an interrupted run loses at most one stage.
"""

from __future__ import annotations

import logging
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from tad import __version__
from tad.buffer import Expert, ExpertSpec, consensus_split, train_experts
from tad.checkpoint import aliases, atomic_save, load_checkpoint
from tad.checks import check_experiment
from tad.config import ExperimentConfig, to_dict
from tad.data import ImageDataset, load_dataset
from tad.distill.base import init_from_real
from tad.distill.datm import initial_synthetic_set
from tad.distill.dm import distill_dm
from tad.distill.matching import distill_trajectory_matching
from tad.diversion import TrustState, trust_diagnostics
from tad.evaluate import EvalResult, evaluate_synthetic
from tad.models import build_model
from tad.noise import NoiseReport, apply_noise
from tad.rng import generator
from tad.synthetic import SyntheticSet
from tad.trust import TrustSplit, guard_class_minimum

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
RESULTS_FORMAT = "tad-results/1"


@dataclass(frozen=True)
class NoisyData:
    """A dataset with its noisy training labels."""

    data: ImageDataset
    noisy_labels: Tensor
    noise: NoiseReport

    @property
    def clean_labels(self) -> Tensor:
        return self.data.train_labels


@dataclass(frozen=True)
class ArmResult:
    synthetic: SyntheticSet
    evaluation: EvalResult
    distill_seconds: float
    eval_seconds: float


@dataclass(frozen=True)
class ExperimentResult:
    config: ExperimentConfig
    noise: NoiseReport
    trust_history: list[dict] = field(default_factory=list)
    trust_final: dict | None = None
    arms: dict[str, ArmResult] = field(default_factory=dict)
    wall_time_s: float = 0.0
    device: str = "cpu"
    dataset: ImageDataset | None = None  # for display only; not part of the results file

    def to_json(self, command: list[str] | None = None) -> dict:
        """The project's stable results format (``tad-results/1``)."""
        return {
            "format": RESULTS_FORMAT,
            "name": self.config.name,
            "package_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": command,
            "machine": machine_description(self.device),
            "config": to_dict(self.config),
            "noise": self.noise.to_dict(),
            "trust": {"final": self.trust_final, "history": self.trust_history},
            "arms": {
                name: {
                    **arm.evaluation.to_dict(),
                    "distill_seconds": arm.distill_seconds,
                    "eval_seconds": arm.eval_seconds,
                }
                for name, arm in self.arms.items()
            },
            "wall_time_s": self.wall_time_s,
        }


def machine_description(device: str) -> dict:
    """Where a result was produced, for the results file."""
    desc = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        desc["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return desc


def validate(config: ExperimentConfig) -> None:
    """Every check that needs no compute: data present, noise applicable, sizes sane."""
    check_experiment(config)


def prepare_data(config: ExperimentConfig) -> NoisyData:
    """Load the images and corrupt the training labels; check that every class can fill ``ipc``."""
    data = load_dataset(config.data)
    noisy, report = apply_noise(
        config.noise,
        config.data.dataset,
        data.train_labels,
        data.num_classes,
        data_root=config.data.data_root,
        indices=data.train_indices,
    )
    noisy_labels = torch.as_tensor(noisy, dtype=torch.long)
    smallest = int(torch.bincount(noisy_labels, minlength=data.num_classes).min())
    smallest = min(smallest, int(torch.bincount(data.train_labels, minlength=data.num_classes).min()))
    if config.ipc > smallest:
        raise ValueError(f"--ipc {config.ipc} exceeds the smallest class ({smallest} images); lower --ipc.")
    return NoisyData(data, noisy_labels, report)


def _state_meta(config: ExperimentConfig, arm: str = "tad") -> dict:
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


def expert_spec(config: ExperimentConfig) -> ExpertSpec:
    c = config
    return ExpertSpec(c.data, c.noise, c.model, c.augment, c.expert, c.trust, c.recalib, c.seed)


@dataclass(frozen=True)
class RunContext:
    """What every stage of one experiment reads: its configuration and data, where it runs and reports."""

    config: ExperimentConfig
    nd: NoisyData
    device: torch.device
    progress: Progress | None = None
    state_dir: Path | None = None  # finished stages are checkpointed here (None: nowhere)
    experts_root: Path | None = None  # expert trajectories, shared by the runs that train equal ones

    def report(self, stage: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)

    def experts(self, kind: str, fixed_split: TrustSplit | None = None) -> list[Expert]:
        """The experts of ``kind`` (see :data:`tad.buffer.EXPERT_KINDS`), from the buffer or trained."""
        nd = self.nd
        return train_experts(
            kind,
            nd.data.train_images,
            nd.noisy_labels,
            nd.clean_labels,
            nd.data.num_classes,
            expert_spec(self.config),
            root=self.experts_root,
            device=self.device,
            progress=self.progress,
            fixed_split=fixed_split,
        )

    def cached(self, name: str, arm: str, compute: Callable):
        """Stage ``name`` of ``arm`` from its checkpoint if this configuration saved it, else computed."""
        return _cached(self.state_dir, name, _state_meta(self.config, arm), compute)


def run_tad_experts(ctx: RunContext) -> tuple[TrustState, list[dict]]:
    """Trust-aware experts; their consensus is the trusted space, their mean posterior the clean score.

    DM uses them as its trust model; MTT and DATM also match their trajectories.
    """
    experts = ctx.experts("tad")
    return consensus_state(experts, ctx.nd.noisy_labels, ctx.nd.data.num_classes), experts[0].history


def consensus_state(experts: list[Expert], noisy_labels: Tensor, num_classes: int) -> TrustState:
    """The trusted space of several trust-aware experts, their mean posterior as the clean score."""
    trusted, labels, score = consensus_split(experts)
    recalled = trusted & (labels != noisy_labels)
    return TrustState(split=TrustSplit(trusted, labels, recalled, score, torch.zeros(num_classes)))


def arm_data(ctx: RunContext, arm: str, trust_state: TrustState | None) -> tuple[Tensor, Tensor]:
    """The labels (N,) and the bool pool (N,) of ``arm``'s real data, as :data:`ARM_SOURCES` says."""
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
    return distill_tm_arm(ctx, arm, labels, pool, gen)


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


def distill_tm_arm(
    ctx: RunContext, arm: str, labels: Tensor, pool: Tensor, gen: torch.Generator
) -> SyntheticSet:
    """MTT or DATM with the arm's own experts, initialised from the arm's real data."""
    config, images, k = ctx.config, ctx.nd.data.train_images, ctx.nd.data.num_classes
    tm = config.tm if config.method == "datm" else config.tm.as_mtt()
    experts = ctx.experts(ARM_SOURCES[arm].experts)
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
        meta=_state_meta(config, arm),
        callback=lambda it, loss: ctx.report(f"{config.method.upper()} {arm}", it, tm.iterations),
    )


def evaluate_arm(ctx: RunContext, arm: str, syn: SyntheticSet) -> EvalResult:
    """Fresh networks trained on ``syn``: the arm's accuracies on the test set."""
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
    )


def run_experiment(
    config: ExperimentConfig,
    *,
    device: torch.device | str = "cpu",
    out_dir: str | Path | None = None,
    experts_root: str | Path | None = None,
    progress: Progress | None = None,
) -> ExperimentResult:
    """Run every arm of ``config``; checkpoint each finished stage under ``out_dir``.

    Expert trajectories (MTT/DATM) go to ``experts_root`` (default: ``experts`` beside
    ``out_dir``), where runs that differ only in IPC or distiller settings share them.
    """
    start = time.perf_counter()
    device = torch.device(device)
    validate(config)
    nd = prepare_data(config)
    state_dir = Path(out_dir) / "state" if out_dir is not None else None
    experts_root = Path(experts_root) if experts_root is not None else None
    if experts_root is None and out_dir is not None:
        experts_root = Path(out_dir).parent / "experts"  # shared by every run under the same folder
    ctx = RunContext(config, nd, device, progress, state_dir, experts_root)
    trust_state, trust_history, trust_final = None, [], None
    if any(ARM_SOURCES[arm].reads_trust for arm in config.arms):
        trust_state, trust_history = ctx.cached("trust", "tad", lambda: run_tad_experts(ctx))
        k = nd.data.num_classes
        trust_final = trust_diagnostics(trust_state.split, nd.noisy_labels, nd.clean_labels, k)
    arms = {
        arm: ctx.cached(f"arm-{arm}", arm, lambda arm=arm: _run_arm(ctx, arm, trust_state))
        for arm in config.arms
    }
    wall = time.perf_counter() - start
    return ExperimentResult(config, nd.noise, trust_history, trust_final, arms, wall, str(device), nd.data)


def _run_arm(ctx: RunContext, arm: str, trust_state: TrustState | None) -> ArmResult:
    t0 = time.perf_counter()
    syn = distill_arm(ctx, arm, trust_state).detached()
    t1 = time.perf_counter()
    evaluation = evaluate_arm(ctx, arm, syn)
    return ArmResult(syn, evaluation, t1 - t0, time.perf_counter() - t1)


# The project classes a stage file may hold (tad.checkpoint.safe_load); files written before
# SyntheticSet moved to tad.synthetic name it by its old module.
_SAVED = (TrustState, TrustSplit, ArmResult, SyntheticSet, EvalResult)
_SAVED += aliases((SyntheticSet, "tad.distill.base"))


def _cached(state_dir: Path | None, name: str, meta: dict, compute: Callable):
    """Load ``name`` from ``state_dir`` if a matching checkpoint exists, else compute and save it."""
    if state_dir is None:
        return compute()
    path = state_dir / f"{name}.pt"
    saved = load_checkpoint(path, meta, allowed=_SAVED)
    if saved is not None:
        log.info("resuming: %s loaded from %s", name, path)
        return saved["value"]
    value = compute()
    atomic_save({"meta": meta, "value": value}, path)
    return value


__all__ = [
    "ARM_SOURCES",
    "ArmResult",
    "ArmSource",
    "ExperimentResult",
    "NoisyData",
    "RunContext",
    "arm_data",
    "consensus_state",
    "distill_arm",
    "evaluate_arm",
    "expert_spec",
    "machine_description",
    "prepare_data",
    "run_experiment",
    "run_tad_experts",
    "trusted_pool",
    "validate",
]
