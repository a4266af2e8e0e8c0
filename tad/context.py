"""What one experiment reads: its data with the noisy labels, and where it runs and stores its stages.

:class:`RunContext` is handed to every stage (the trust model, each arm's distillation and
evaluation), so that none of them threads the same arguments through its calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from tad.buffer import Expert, ExpertSpec, train_experts
from tad.checks import check_experiment
from tad.config import ExperimentConfig
from tad.data import ImageDataset, load_dataset
from tad.distributed import SINGLE, World
from tad.noise import NoiseReport, apply_noise
from tad.trust import TrustSplit

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class NoisyData:
    """A dataset with its noisy training labels."""

    data: ImageDataset
    noisy_labels: Tensor
    noise: NoiseReport

    @property
    def clean_labels(self) -> Tensor:
        return self.data.train_labels


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
    world: World = SINGLE  # the ranks that share the work (tad.distributed); one without torchrun

    def report(self, stage: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)

    def experts(self, kind: str, fixed_split: TrustSplit | None = None) -> list[Expert]:
        """The experts of ``kind`` (one of ``tad.buffer.EXPERT_KINDS``), from the buffer or trained."""
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
            world=self.world,
        )


__all__ = ["NoisyData", "Progress", "RunContext", "expert_spec", "prepare_data", "validate"]
