"""Named configurations: the compute scale of an experiment, not its noise setting.

A preset fixes the dataset preparation, the networks and the lengths of every
stage. The noise setting, IPC, method and seed are chosen on top of it (the command
line's ``--noise``, ``--rate``, ``--ipc``, ...). TAD's own hyper-parameters
(``TrustConfig``, ``RecalibConfig``) are the same in every preset: one default
configuration serves every dataset.
"""

from __future__ import annotations

from dataclasses import replace

from tad.config import (
    AugmentConfig,
    DataConfig,
    DMConfig,
    EvalConfig,
    ExperimentConfig,
    ExpertConfig,
    ModelConfig,
)

# DSA's authors drop flips for digit datasets (a mirrored 2 is not a 2).
_NO_FLIP = AugmentConfig(strategy="color_crop_cutout_scale_rotate")

PRESETS: dict[str, ExperimentConfig] = {
    # The embedded default: make demo. Sized to finish in well under three minutes on 2 CPU cores.
    "digits": ExperimentConfig(
        name="digits",
        data=DataConfig(dataset="digits", image_size=16),
        model=ModelConfig(width=32, depth=3),
        augment=_NO_FLIP,
        expert=ExpertConfig(epochs=20, lr=0.01, momentum=0.9, weight_decay=5e-4, batch_size=128),
        dm=DMConfig(iterations=200, lr_img=1.0, batch_real=32),
        eval=EvalConfig(num_eval=3, epochs=100, batch_size=256),
    ),
    # A CIFAR-10 subset that one noise setting can run through on a laptop-class CPU.
    "cifar10-cpu": ExperimentConfig(
        name="cifar10-cpu",
        data=DataConfig(dataset="cifar10", train_per_class=500),
        model=ModelConfig(width=32, depth=3),
        expert=ExpertConfig(epochs=20, lr=0.01, momentum=0.9, weight_decay=5e-4, batch_size=256),
        dm=DMConfig(iterations=200, lr_img=1.0, batch_real=64),
        eval=EvalConfig(num_eval=3, epochs=300, batch_size=256),
    ),
    # The reference DM protocol on full CIFAR-10 (dd-baselines.md §5.2, §6); meant for a GPU.
    "cifar10-gpu": ExperimentConfig(
        name="cifar10-gpu",
        data=DataConfig(dataset="cifar10"),
        model=ModelConfig(width=128, depth=3),
        expert=ExpertConfig(epochs=50, lr=0.01, momentum=0.9, weight_decay=5e-4, batch_size=256),
        dm=DMConfig(iterations=20000, lr_img=1.0, batch_real=256),
        eval=EvalConfig(num_eval=5, epochs=1000, batch_size=256),
    ),
}

DEFAULT_PRESET = {
    "digits": "digits",
    "cifar10": "cifar10-cpu",
    "cifar100": "cifar10-cpu",
    "tinyimagenet": "cifar10-cpu",
}


def get_preset(name: str) -> ExperimentConfig:
    """The preset called ``name``; unknown names list the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(sorted(PRESETS))}.")
    return PRESETS[name]


def preset_for(dataset: str, name: str | None = None) -> ExperimentConfig:
    """The named preset, or the default preset of ``dataset`` moved onto that dataset."""
    if name is not None:
        return get_preset(name)
    if dataset not in DEFAULT_PRESET:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(sorted(DEFAULT_PRESET))}.")
    base = get_preset(DEFAULT_PRESET[dataset])
    if base.data.dataset == dataset:
        return base
    return replace(base, data=replace(base.data, dataset=dataset))


__all__ = ["DEFAULT_PRESET", "PRESETS", "get_preset", "preset_for"]
