"""One experiment end to end: data, noise, the trust model, every arm, evaluation, results.

The arms, run side by side on the same data, noise and evaluation networks:

* ``random``: random real images per class, with their noisy labels;
* ``vanilla``: the base distiller on all data with the noisy labels;
* ``tad``: the base distiller diverted to TAD's final trusted space, with its labels;
* ``clean``: the base distiller with the true labels (the upper reference).

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

import torch
from torch import Tensor

from tad import __version__
from tad.buffer import Expert, ExpertSpec, consensus_split, train_experts
from tad.checkpoint import atomic_save, load_checkpoint
from tad.checks import check_experiment
from tad.config import ExperimentConfig, to_dict
from tad.data import ImageDataset, load_dataset
from tad.distill.base import SyntheticSet, init_from_real
from tad.distill.datm import distill_trajectory_matching, initial_synthetic_set
from tad.distill.dm import distill_dm
from tad.diversion import TrustState, trust_diagnostics
from tad.evaluate import EvalResult, evaluate_synthetic
from tad.models import build_model
from tad.noise import NoiseReport, apply_noise
from tad.rng import generator
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


@dataclass
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
    if arm != "tad":
        del meta["trust"], meta["recalib"]  # the random, vanilla and clean arms never read them
    return {"config": meta, "version": __version__, "distill_stream": "shared by every arm"}


def trusted_pool(state: TrustState, ipc: int, num_classes: int) -> Tensor:
    """The trusted pool, topped up (by clean posterior) where a class has fewer than ``ipc``."""
    split = state.split
    minimum = torch.full((num_classes,), ipc)
    return guard_class_minimum(split.trusted, split.p_clean, split.labels, num_classes, minimum)


def distill_arm(
    arm: str,
    config: ExperimentConfig,
    nd: NoisyData,
    trust_state: TrustState | None,
    device: torch.device,
    progress: Progress | None,
    state_dir: Path | None = None,
    experts_root: Path | None = None,
) -> SyntheticSet:
    """The synthetic set of one arm: the real data it may use, then the base distiller."""
    images, k = nd.data.train_images, nd.data.num_classes
    # Every arm draws from the same stream (common random numbers): an arm whose real data and labels
    # equal another's gives the same synthetic set, so differences between arms are TAD's, not luck's.
    gen = generator(config.seed, "distill")
    everyone = torch.ones(images.shape[0], dtype=torch.bool)
    if arm == "random":
        return init_from_real(images, nd.noisy_labels, everyone, config.ipc, k, generator=gen)
    if arm == "vanilla":
        labels, pool = nd.noisy_labels, everyone
    elif arm == "clean":
        labels, pool = nd.clean_labels, everyone
    else:
        assert trust_state is not None
        labels, pool = trust_state.split.labels, trusted_pool(trust_state, config.ipc, k)

    if config.method != "dm":
        return distill_tm_arm(arm, labels, pool, config, nd, device, progress, state_dir, experts_root)
    weights, init_pool = None, None
    if arm == "tad" and config.trust.untrusted == "soft":
        # every sample enters its (current) class mean, weighted by its clean-probability
        weights, init_pool, pool = trust_state.split.p_clean.clamp(0.0, 1.0), pool, everyone

    def on_step(it: int, loss: float) -> None:
        if progress is not None:
            progress(f"DM {arm}", it, config.dm.iterations)

    return distill_dm(
        images,
        labels,
        pool,
        ipc=config.ipc,
        num_classes=k,
        config=config.dm,
        model=config.model,
        augment=config.augment,
        generator=gen,
        device=device,
        callback=on_step,
        weights=weights,
        init_pool=init_pool,
    )


def expert_spec(config: ExperimentConfig) -> ExpertSpec:
    return ExpertSpec(
        config.data,
        config.noise,
        config.model,
        config.augment,
        config.expert,
        config.trust,
        config.recalib,
        config.seed,
    )


def arm_experts(
    arm: str,
    config: ExperimentConfig,
    nd: NoisyData,
    device: torch.device,
    progress: Progress | None,
    experts_root: Path | None,
) -> list[Expert]:
    """The experts of an arm (vanilla, tad or clean), from the buffer or freshly trained."""
    return train_experts(
        arm,
        nd.data.train_images,
        nd.noisy_labels,
        nd.clean_labels,
        nd.data.num_classes,
        expert_spec(config),
        root=experts_root,
        device=device,
        progress=progress,
    )


def run_tad_experts(
    config: ExperimentConfig,
    nd: NoisyData,
    device: torch.device,
    progress: Progress | None,
    experts_root: Path | None,
) -> tuple[TrustState, list[dict]]:
    """Trust-aware experts; their consensus is the trusted space, their mean posterior the clean score.

    DM uses them as its trust model; MTT and DATM also match their trajectories.
    """
    experts = arm_experts("tad", config, nd, device, progress, experts_root)
    return consensus_state(experts, nd.noisy_labels, nd.data.num_classes), experts[0].history


def consensus_state(experts: list[Expert], noisy_labels: Tensor, num_classes: int) -> TrustState:
    """The trusted space of several trust-aware experts, their mean posterior as the clean score."""
    trusted, labels, score = consensus_split(experts)
    recalled = trusted & (labels != noisy_labels)
    return TrustState(split=TrustSplit(trusted, labels, recalled, score, torch.zeros(num_classes)))


def distill_tm_arm(
    arm: str,
    labels: Tensor,
    pool: Tensor,
    config: ExperimentConfig,
    nd: NoisyData,
    device: torch.device,
    progress: Progress | None,
    state_dir: Path | None,
    experts_root: Path | None,
) -> SyntheticSet:
    """MTT or DATM with the arm's own experts, initialised from the arm's real data."""
    images, k = nd.data.train_images, nd.data.num_classes
    tm = config.tm if config.method == "datm" else config.tm.as_mtt()
    experts = arm_experts(arm, config, nd, device, progress, experts_root)
    skeleton = build_model(config.model, channels=images.shape[1], num_classes=k, image_size=images.shape[-1])
    gen = generator(config.seed, "distill")  # shared by the arms, as in distill_arm
    init = initial_synthetic_set(
        images,
        labels,
        pool,
        config.ipc,
        k,
        config=tm,
        skeleton=skeleton.to(device),
        expert_params=[e.final_params.to(device) for e in experts],
        generator=gen,
    )

    def on_step(it: int, loss: float) -> None:
        if progress is not None:
            progress(f"{config.method.upper()} {arm}", it, tm.iterations)

    checkpoint = None if state_dir is None else state_dir / f"distill-{arm}.pt"
    return distill_trajectory_matching(
        [e.trajectory for e in experts],
        init,
        config=tm,
        skeleton=skeleton,
        augment=config.augment,
        generator=gen,
        device=device,
        checkpoint=checkpoint,
        meta=_state_meta(config, arm),
        callback=on_step,
    )


def evaluate_arm(
    arm: str,
    syn: SyntheticSet,
    config: ExperimentConfig,
    nd: NoisyData,
    device: torch.device,
    progress: Progress | None,
) -> EvalResult:
    def on_net(k: int, acc: float) -> None:
        if progress is not None:
            progress(f"evaluate {arm}", k, config.eval.num_eval)

    return evaluate_synthetic(
        syn,
        nd.data.test_images,
        nd.data.test_labels,
        num_classes=nd.data.num_classes,
        model=config.model,
        config=config.eval,
        augment=config.augment,
        seed=config.seed,
        device=device,
        exact_test=nd.data.exact_test,
        callback=on_net,
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
    result = ExperimentResult(config=config, noise=nd.noise, device=str(device), dataset=nd.data)
    state_dir = Path(out_dir) / "state" if out_dir is not None else None
    experts_root = Path(experts_root) if experts_root is not None else None
    if experts_root is None and out_dir is not None:
        experts_root = Path(out_dir).parent / "experts"  # shared by every run under the same folder
    trust_state = None
    if "tad" in config.arms:
        trust_state, result.trust_history = _cached(
            state_dir,
            "trust",
            _state_meta(config),
            lambda: run_tad_experts(config, nd, device, progress, experts_root),
        )
        result.trust_final = trust_diagnostics(
            trust_state.split, nd.noisy_labels, nd.clean_labels, nd.data.num_classes
        )
    for arm in config.arms:
        result.arms[arm] = _cached(
            state_dir,
            f"arm-{arm}",
            _state_meta(config, arm),
            lambda arm=arm: _run_arm(arm, config, nd, trust_state, device, progress, state_dir, experts_root),
        )
    result.wall_time_s = time.perf_counter() - start
    return result


def _run_arm(
    arm: str,
    config: ExperimentConfig,
    nd: NoisyData,
    trust_state: TrustState | None,
    device: torch.device,
    progress: Progress | None,
    state_dir: Path | None,
    experts_root: Path | None,
) -> ArmResult:
    t0 = time.perf_counter()
    syn = distill_arm(arm, config, nd, trust_state, device, progress, state_dir, experts_root).detached()
    t1 = time.perf_counter()
    evaluation = evaluate_arm(arm, syn, config, nd, device, progress)
    return ArmResult(syn, evaluation, t1 - t0, time.perf_counter() - t1)


def _cached(state_dir: Path | None, name: str, meta: dict, compute: Callable):
    """Load ``name`` from ``state_dir`` if a matching checkpoint exists, else compute and save it."""
    if state_dir is None:
        return compute()
    path = state_dir / f"{name}.pt"
    saved = load_checkpoint(path, meta)
    if saved is not None:
        log.info("resuming: %s loaded from %s", name, path)
        return saved["value"]
    value = compute()
    atomic_save({"meta": meta, "value": value}, path)
    return value


__all__ = [
    "ArmResult",
    "ExperimentResult",
    "NoisyData",
    "machine_description",
    "prepare_data",
    "run_experiment",
    "validate",
]
