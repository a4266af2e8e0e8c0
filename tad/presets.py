"""Named configurations: the compute scale of an experiment, not its noise setting.

A preset fixes the dataset preparation, the networks and the lengths of every
stage. The noise setting, IPC, method and seed are chosen on top of it (the command
line's ``--noise``, ``--rate``, ``--ipc``, ``--method``). TAD's own hyper-parameters
(``TrustConfig``, ``RecalibConfig``) are the same in every preset: one default
configuration serves every dataset.

Two families:

* CPU presets (``digits``, ``cifar10-cpu``) sized for a 2-core machine;
* the official DATM settings (``datm-<dataset>-ipc<k>``; dd-baselines.md §4.2) and the
  reference DM protocol (``dm-cifar10``), meant for a GPU. Their experts are trained
  with plain SGD as in MTT; DATM's own experts used FTD's GSAM optimiser, which we
  do not reproduce (noted in the book).
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
    TMConfig,
)

# DSA's authors drop flips for digit datasets (a mirrored 2 is not a 2).
_NO_FLIP = AugmentConfig(strategy="color_crop_cutout_scale_rotate")

# Trajectory matching at CPU scale: DATM's recipe (sequential start window, soft labels, loss gate,
# initial images the experts classify correctly) with short experts and few, short inner loops.
_CPU_TM = TMConfig(
    iterations=80,
    syn_steps=6,
    expert_epochs=2,
    min_start_epoch=0,
    current_max_start_epoch=6,
    max_start_epoch=12,
    expansion_end=50,
    lr_img=100.0,
    lr_lr=1e-5,
    lr_teacher=0.1,
    lr_y=2.0,
    soft_labels=True,
    threshold=1.0,
    pix_init="predicted_correctly",
    checkpoint_every=20,
)

_DIGITS = ExperimentConfig(
    name="digits",
    data=DataConfig(dataset="digits", image_size=16),
    model=ModelConfig(width=32, depth=3),
    augment=_NO_FLIP,
    expert=ExpertConfig(num_experts=2, epochs=20, lr=0.1, momentum=0.0, batch_size=128),
    dm=DMConfig(iterations=200, lr_img=1.0, batch_real=32),
    tm=_CPU_TM,
    eval=EvalConfig(num_eval=3, epochs=100, batch_size=256),
)

_CIFAR10_CPU = ExperimentConfig(
    name="cifar10-cpu",
    data=DataConfig(dataset="cifar10", train_per_class=500),
    model=ModelConfig(width=32, depth=3),
    expert=ExpertConfig(num_experts=2, epochs=15, lr=0.1, momentum=0.0, batch_size=256),
    dm=DMConfig(iterations=150, lr_img=1.0, batch_real=32),
    # 32x32 images cost four times the digits' 16x16: fewer, half-batch student steps
    tm=replace(_CPU_TM, syn_steps=4, batch_syn=50, current_max_start_epoch=5, max_start_epoch=10),
    eval=EvalConfig(num_eval=3, epochs=120, batch_size=256),
)


def _datm(name: str, dataset: str, ipc: int, depth: int, **tm: object) -> ExperimentConfig:
    """An official DATM configuration (ConvNet with instance norm, ZCA, 10,000 iterations)."""
    settings = {
        "iterations": 10000,
        "expert_epochs": 2,
        "min_start_epoch": 0,
        "lr_teacher": 0.01,
        "lr_y": 10.0,
    }
    settings.update(tm)
    return ExperimentConfig(
        name=name,
        method="datm",
        ipc=ipc,
        data=DataConfig(dataset=dataset, zca=True),  # type: ignore[arg-type]
        model=ModelConfig(width=128, depth=depth),
        expert=ExpertConfig(num_experts=100, epochs=100, lr=0.01, momentum=0.0, batch_size=256),
        tm=TMConfig(**settings),  # type: ignore[arg-type]
        eval=EvalConfig(num_eval=5, epochs=1000, batch_size=128),
    )


# dd-baselines.md §4.2; batch_syn None where the reference batch covers the whole set.
_OFFICIAL_DATM = {
    "datm-cifar10-ipc1": _datm(
        "datm-cifar10-ipc1",
        "cifar10",
        1,
        3,
        syn_steps=80,
        max_start_epoch=4,
        lr_img=100.0,
        lr_lr=1e-7,
        lr_y=5.0,
        batch_syn=None,
        threshold=1.1,
    ),
    "datm-cifar10-ipc10": _datm(
        "datm-cifar10-ipc10",
        "cifar10",
        10,
        3,
        syn_steps=80,
        current_max_start_epoch=10,
        max_start_epoch=20,
        expansion_end=1000,
        lr_img=100.0,
        lr_lr=1e-5,
        lr_y=2.0,
        batch_syn=None,
    ),
    "datm-cifar10-ipc50": _datm(
        "datm-cifar10-ipc50",
        "cifar10",
        50,
        3,
        syn_steps=80,
        current_max_start_epoch=20,
        max_start_epoch=40,
        expansion_end=2000,
        lr_img=1000.0,
        lr_lr=1e-5,
        lr_y=2.0,
        batch_syn=None,
    ),
    "datm-cifar100-ipc1": _datm(
        "datm-cifar100-ipc1",
        "cifar100",
        1,
        3,
        syn_steps=40,
        expert_epochs=3,
        current_max_start_epoch=10,
        max_start_epoch=20,
        expansion_end=1000,
        lr_img=1000.0,
        lr_lr=1e-5,
        batch_syn=None,
    ),
    "datm-cifar100-ipc10": _datm(
        "datm-cifar100-ipc10",
        "cifar100",
        10,
        3,
        syn_steps=80,
        current_max_start_epoch=30,
        max_start_epoch=50,
        expansion_end=2000,
        lr_img=1000.0,
        lr_lr=1e-5,
        batch_syn=None,
    ),
    "datm-cifar100-ipc50": _datm(
        "datm-cifar100-ipc50",
        "cifar100",
        50,
        3,
        syn_steps=80,
        min_start_epoch=20,
        max_start_epoch=70,
        lr_img=1000.0,
        lr_lr=1e-5,
        batch_syn=1000,
        pix_init="real",
    ),
    "datm-tinyimagenet-ipc1": _datm(
        "datm-tinyimagenet-ipc1",
        "tinyimagenet",
        1,
        4,
        syn_steps=40,
        current_max_start_epoch=15,
        max_start_epoch=20,
        expansion_end=2000,
        lr_img=10000.0,
        lr_lr=1e-4,
        batch_syn=None,
    ),
    "datm-tinyimagenet-ipc10": _datm(
        "datm-tinyimagenet-ipc10",
        "tinyimagenet",
        10,
        4,
        syn_steps=40,
        min_start_epoch=10,
        max_start_epoch=50,
        lr_img=100.0,
        lr_lr=1e-4,
        batch_syn=500,
    ),
    "datm-tinyimagenet-ipc50": _datm(
        "datm-tinyimagenet-ipc50",
        "tinyimagenet",
        50,
        4,
        syn_steps=20,
        min_start_epoch=40,
        max_start_epoch=70,
        lr_img=100.0,
        lr_lr=1e-4,
        batch_syn=1000,
    ),
}

PRESETS: dict[str, ExperimentConfig] = {
    # The embedded default (make demo): DM finishes in about two minutes, DATM in under five.
    "digits": _DIGITS,
    # A CIFAR-10 subset that one noise setting can run through on a 2-core CPU.
    "cifar10-cpu": _CIFAR10_CPU,
    # The reference DM protocol on full CIFAR-10 (dd-baselines.md §5.2, §6); meant for a GPU.
    "dm-cifar10": ExperimentConfig(
        name="dm-cifar10",
        data=DataConfig(dataset="cifar10"),
        model=ModelConfig(width=128, depth=3),
        expert=ExpertConfig(num_experts=1, epochs=50, lr=0.01, momentum=0.0, batch_size=256),
        dm=DMConfig(iterations=20000, lr_img=1.0, batch_real=256),
        eval=EvalConfig(num_eval=5, epochs=1000, batch_size=256),
    ),
    **_OFFICIAL_DATM,
}

DEFAULT_PRESET = {"digits": "digits", "cifar10": "cifar10-cpu"}


def get_preset(name: str) -> ExperimentConfig:
    """The preset called ``name``; unknown names list the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(sorted(PRESETS))}.")
    return PRESETS[name]


def preset_for(dataset: str, name: str | None = None) -> ExperimentConfig:
    """The named preset, or the default one for ``dataset`` (CIFAR-100 and Tiny ImageNet borrow
    the CIFAR-10 CPU preset, with a depth-4 ConvNet for Tiny ImageNet's 64x64 images)."""
    if name is not None:
        return get_preset(name)
    if dataset in DEFAULT_PRESET:
        return get_preset(DEFAULT_PRESET[dataset])
    if dataset not in ("cifar100", "tinyimagenet"):
        raise ValueError(f"unknown dataset {dataset!r}; choose from cifar10, cifar100, digits, tinyimagenet.")
    base = _CIFAR10_CPU
    model = replace(base.model, depth=4) if dataset == "tinyimagenet" else base.model
    return replace(base, name=f"{dataset}-cpu", data=replace(base.data, dataset=dataset), model=model)  # type: ignore[arg-type]


__all__ = ["DEFAULT_PRESET", "PRESETS", "get_preset", "preset_for"]
