"""The base distillers' settings: distribution matching (DM) and trajectory matching (MTT, DATM).

Frozen dataclasses validated when built, like every config of ``tad.config``, which
re-exports them: ``from tad.config import DMConfig, TMConfig`` is the usual import.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from tad.fields import fraction, one_of, positive, require

PixInit = Literal["real", "predicted_correctly", "noise"]


@dataclass(frozen=True)
class DMConfig:
    """Distribution matching (Zhao & Bilen 2023; dd-baselines.md §5.2)."""

    iterations: int = 20000
    lr_img: float = 1.0
    momentum: float = 0.5
    batch_real: int = 256
    init: PixInit = "real"
    dsa: bool = True

    def __post_init__(self) -> None:
        positive(self, "iterations", "lr_img", "batch_real")
        require(self.init in ("real", "noise"), f"DM init must be 'real' or 'noise'; got {self.init!r}.")
        fraction(self, "momentum")


@dataclass(frozen=True)
class TMConfig:
    """Trajectory matching: MTT (Cazenavette et al. 2022) and DATM (Guo et al. 2024) on top of it.

    Names follow the reference code (dd-baselines.md §3-4). DATM's additions are the
    sequential start-epoch window (``current_max_start_epoch`` and ``expansion_end``),
    learned soft labels (``soft_labels``, ``lr_y``), the loss gate (``loss_gate``, DATM's ``threshold``) and
    ``pix_init="predicted_correctly"``; with them off this is MTT.
    """

    iterations: int = 5000
    syn_steps: int = 20
    expert_epochs: int = 2
    min_start_epoch: int = 0
    current_max_start_epoch: int | None = None  # None: a fixed window [min, max)
    max_start_epoch: int = 20
    expansion_end: int = 1000
    lr_img: float = 100.0
    lr_lr: float = 1e-5
    # Initial value of the learned student step size syn_lr (alpha). The reference configs call it
    # lr_teacher, like the experts' learning rate (ExpertConfig.lr), but the two differ: MTT's CIFAR-10
    # IPC 10 starts alpha at 0.001 on experts trained at 0.01, and DD_LNL lowers alpha alone under noise.
    syn_lr_init: float = 0.01
    lr_y: float = 2.0
    momentum_y: float = 0.9
    batch_syn: int | None = None  # None: the whole synthetic set in every inner step
    soft_labels: bool = False
    loss_gate: float | None = None  # skip the update when the matching loss exceeds this
    pix_init: PixInit = "real"
    memory_saving: bool = False  # exact gradients with memory constant in syn_steps (recomputation)
    checkpoint_every: int = 50

    def __post_init__(self) -> None:
        positive(self, "iterations", "syn_steps", "expert_epochs", "max_start_epoch", "expansion_end")
        positive(self, "lr_img", "lr_lr", "syn_lr_init", "lr_y", "checkpoint_every")
        one_of(self.pix_init, PixInit, "pix_init")
        fraction(self, "momentum_y")
        require(
            0 <= self.min_start_epoch < self.max_start_epoch, "need 0 <= min_start_epoch < max_start_epoch."
        )
        if self.current_max_start_epoch is not None:
            require(
                self.min_start_epoch < self.current_max_start_epoch <= self.max_start_epoch,
                "current_max_start_epoch must lie in (min_start_epoch, max_start_epoch].",
            )
        if self.batch_syn is not None:
            positive(self, "batch_syn")
        if self.loss_gate is not None:
            positive(self, "loss_gate")

    @property
    def snapshots_needed(self) -> int:
        """How many expert epochs a trajectory must have (the last start epoch plus ``expert_epochs``)."""
        return self.max_start_epoch - 1 + self.expert_epochs

    def as_mtt(self) -> TMConfig:
        """The same settings with DATM's additions switched off (plain MTT)."""
        return replace(self, soft_labels=False, loss_gate=None, current_max_start_epoch=None, pix_init="real")


__all__ = ["DMConfig", "PixInit", "TMConfig"]
