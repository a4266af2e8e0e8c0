"""Expert trajectories on disk: one file per expert, with metadata, resumable.

Three kinds of experts feed trajectory matching:

* ``vanilla``: trained on every sample with its noisy label (the DD_LNL baseline);
* ``tad``: trust-aware: after a warm-up, the outer and inner loops run every epoch;
* ``clean``: trained with the true labels (the reference upper bound);
* ``oracle``: trained on the truly clean samples only (diagnosis: a perfect division);
* ``diverted``: trained from the first epoch on the ``tad`` experts' final trusted space and its
  labels (``trust.trajectories = "retrained"``).

Each expert is written atomically to ``<root>/<kind>/expert_<k>.pt`` with its flat
parameters after every epoch, its per-epoch trust diagnostics and its final trusted
space. An unfinished expert keeps ``expert_<k>.partial.pt`` (rewritten after every
epoch), so a rerun skips finished experts and continues an interrupted one. Expert
``k`` of a kind draws from its own random stream, so the files do not depend on
whether the run was interrupted. Expert ``k`` of every kind shares that stream
(initialisation, batch order, augmentation draws), so a vanilla and a TAD expert
differ only by what TAD changes.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from tad import __version__, distributed
from tad.checkpoint import ADDED_AT_EARLIER_BEHAVIOUR, atomic_save, load_checkpoint
from tad.config import (
    AugmentConfig,
    DataConfig,
    ExpertConfig,
    ModelConfig,
    NoiseConfig,
    RecalibConfig,
    TrustConfig,
    to_dict,
)
from tad.distributed import SINGLE, World
from tad.diversion import TrustState
from tad.experts import ExpertProgress, ExpertTask, fit_expert
from tad.models import build_model
from tad.noise_rate import NoiseRateEstimate, estimate_noise_rates, mean_estimate
from tad.rng import generator
from tad.trust import SampleScores, TrustSplit, divide, score_samples, sized_division

EXPERT_KINDS = ("vanilla", "tad", "clean", "oracle", "diverted")
FIXED_SPLIT_KINDS = ("oracle", "diverted")  # the kinds that train on a given trusted space
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ExpertSpec:
    """What determines an expert's trajectory (its metadata)."""

    data: DataConfig
    noise: NoiseConfig
    model: ModelConfig
    augment: AugmentConfig
    expert: ExpertConfig
    trust: TrustConfig
    recalib: RecalibConfig
    seed: int

    def meta(self, kind: str) -> dict:
        """The metadata of an expert of ``kind``; trust settings only matter for ``tad``."""
        meta = {
            "kind": kind,
            "data": to_dict(self.data),
            "noise": to_dict(self.noise) if kind != "clean" else "clean labels",
            "model": to_dict(self.model),
            "augment": to_dict(self.augment),
            "expert": to_dict(replace(self.expert, num_experts=1)),
            "seed": self.seed,
            "streams": "expert k of every kind shares its random stream",
        }
        if kind in ("tad", "diverted"):
            meta["trust"], meta["recalib"] = to_dict(self.trust), to_dict(self.recalib)
        if kind == "tad":  # a dividing expert is the same whoever matches its trajectory afterwards
            del meta["trust"]["trajectories"]
        # A setting added later, at the value that behaves as older experts did, stays out of the
        # identity, so those experts keep their folders.
        for section, fields in ADDED_AT_EARLIER_BEHAVIOUR.items():
            for name, earlier in fields.items():
                if section in meta and meta[section].get(name) == earlier:
                    del meta[section][name]
        return meta

    def folder(self, root: str | Path, kind: str) -> Path:
        """``<root>/<dataset>-<noise>-<hash>/<kind>``: experts of equal metadata are shared across runs."""
        meta = self.meta(kind)
        digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:10]
        noise = "clean" if kind == "clean" else f"{self.noise.kind}{self.noise.rate:g}"
        if self.noise.kind == "real" and kind != "clean":
            noise = f"real-{self.noise.real_labels}"
        return Path(root) / f"{self.data.dataset}-{noise}-{digest}" / kind

    def task(
        self,
        kind: str,
        images: Tensor,
        noisy_labels: Tensor,
        clean_labels: Tensor,
        num_classes: int,
        fixed_split: TrustSplit | None = None,
        noise_rates: Tensor | None = None,
    ) -> ExpertTask:
        """What an expert of ``kind`` trains on: ``clean`` reads the true labels; only ``tad`` divides,
        by ``noise_rates`` when ``trust.sizing = "estimated"``."""
        return ExpertTask(
            images,
            clean_labels if kind == "clean" else noisy_labels,
            num_classes,
            model=self.model,
            expert=self.expert,
            trust=self.trust if kind == "tad" else replace(self.trust, enabled=False),
            recalib=self.recalib,
            augment=self.augment,
            clean_labels=clean_labels,
            fixed_split=fixed_split,
            noise_rates=noise_rates if kind == "tad" else None,
        )


@dataclass(frozen=True)
class Expert:
    """A finished expert as stored on disk."""

    trajectory: Tensor  # (epochs + 1, P) flat parameters at init and after every epoch
    history: list[dict]
    trusted: Tensor  # bool (N,) its final trusted space (all True for vanilla and clean)
    labels: Tensor  # int64 (N,) its final labels (pseudo-labels where recalled)
    timings: list[dict]
    p_clean: Tensor | None = None  # (N,) its final clean posterior (None: every sample trusted, w = 1)
    noise_rates: Tensor | None = None  # (C,) the estimated shares of wrong labels that sized its divisions

    @property
    def final_params(self) -> Tensor:
        return self.trajectory[-1]


def train_experts(
    kind: str,
    images: Tensor,
    noisy_labels: Tensor,
    clean_labels: Tensor,
    num_classes: int,
    spec: ExpertSpec,
    *,
    root: str | Path | None,
    device: torch.device,
    progress: Progress | None = None,
    fixed_split: TrustSplit | None = None,
    world: World = SINGLE,
) -> list[Expert]:
    """The ``num_experts`` experts of ``kind``: loaded when saved, else trained (or resumed).

    ``fixed_split`` is the trusted space of the kinds that train on one (``FIXED_SPLIT_KINDS``:
    the oracle's truly clean samples, the ``tad`` experts' final space for ``diverted``). Under ``torchrun``
    (``world``, see :mod:`tad.distributed`) rank ``r`` trains experts ``r, r + N, ...`` into
    the shared folder, and after a barrier every rank reads all of them from it.
    """
    if kind not in EXPERT_KINDS:
        raise ValueError(f"unknown expert kind {kind!r}; choose from {', '.join(EXPERT_KINDS)}.")
    if (kind in FIXED_SPLIT_KINDS) != (fixed_split is not None):
        raise ValueError(f"{' and '.join(FIXED_SPLIT_KINDS)} experts, and only they, train on a given split.")
    folder = None if root is None else spec.folder(root, kind)
    if kind == "tad" and spec.trust.enabled and spec.trust.schedule == "static":
        fixed_split = static_filter(
            images, noisy_labels, clean_labels, num_classes, spec, root=root, device=device
        )
    if world.distributed and folder is None:
        raise ValueError("experts shared by several ranks need a buffer folder that they all see.")

    @functools.cache
    def task() -> ExpertTask:
        """What an expert trains on; the noise-rate estimate is computed only when one must train."""
        rates = None
        if kind == "tad" and spec.trust.enabled and spec.trust.sizing == "estimated":
            rates = plain_noise_rates(
                images, noisy_labels, clean_labels, num_classes, spec, root=root, device=device, world=world
            ).rates
        return spec.task(kind, images, noisy_labels, clean_labels, num_classes, fixed_split, rates)

    if world.distributed:
        task()  # every rank computes it together (its vanilla experts are shared), trained or not
    n = spec.expert.num_experts
    share, mine = world.share(range(n)), {}
    for k in share:
        mine[k] = _expert(task, spec, kind, k, folder, device)
        if progress is not None:
            progress(f"{kind} experts", len(mine), len(share))
    distributed.barrier(world)
    # The other ranks' experts are in the folder now: read them (a damaged file is retrained here).
    return [mine[k] if k in mine else _expert(task, spec, kind, k, folder, device) for k in range(n)]


# The project classes an expert file or a partial expert may hold (tad.checkpoint.safe_load).
_SAVED = (Expert, ExpertProgress, TrustState, TrustSplit, SampleScores)


def _expert(
    make_task: Callable[[], ExpertTask],
    spec: ExpertSpec,
    kind: str,
    k: int,
    folder: Path | None,
    device: torch.device,
) -> Expert:
    """Expert ``k`` of ``kind``: loaded when finished, else trained (continuing a partial one) on
    ``make_task()`` and saved."""
    meta = {**spec.meta(kind), "index": k, "version": __version__}
    path = None if folder is None else folder / f"expert_{k:03d}.pt"
    partial = None if path is None else path.with_name(f"expert_{k:03d}.partial.pt")
    if path is not None and (saved := load_checkpoint(path, meta, ignore=("version",), allowed=_SAVED)):
        return saved["expert"]
    resume = None
    if partial is not None and (saved := load_checkpoint(partial, meta, ignore=("version",), allowed=_SAVED)):
        resume = saved["progress"]

    def checkpoint(progress: ExpertProgress) -> None:
        if partial is not None:
            atomic_save({"meta": meta, "progress": progress}, partial)

    task = make_task()
    run = fit_expert(
        task,
        generator=generator(spec.seed, "expert", k),  # shared by every kind: common random numbers
        device=device,
        record_trajectory=True,
        resume=resume,
        on_progress=checkpoint,
    )
    split = run.state.split
    trajectory = torch.stack(run.trajectory)
    expert = Expert(
        trajectory, run.history, split.trusted, split.labels, run.timings, split.p_clean, task.noise_rates
    )
    if path is not None:
        atomic_save({"meta": meta, "expert": expert}, path)
        partial.unlink(missing_ok=True)
    return expert


def final_scores(
    expert: Expert,
    model: ModelConfig,
    images: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    device: torch.device | None = None,
) -> SampleScores:
    """``expert``'s final network scoring every sample of ``images`` against ``labels`` (on the CPU by
    default)."""
    device = device or torch.device("cpu")
    shape = {"channels": images.shape[1], "num_classes": num_classes, "image_size": images.shape[-1]}
    net = build_model(model, **shape).to(device)
    torch.nn.utils.vector_to_parameters(expert.final_params.to(device), net.parameters())
    return score_samples(net, images, labels)


@torch.no_grad()
def checkpoint_probs(
    expert: Expert,
    model: ModelConfig,
    images: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    snapshots: int = 1,
    device: torch.device | None = None,
) -> list[Tensor]:
    """(N, C) softmax of each of ``expert``'s last ``snapshots`` checkpoints, the final one first."""
    epochs = len(expert.trajectory) - 1
    if not 1 <= snapshots <= epochs:
        raise ValueError(f"snapshots must be between 1 and the expert's {epochs} epochs; got {snapshots}.")
    device = device or torch.device("cpu")
    shape = {"channels": images.shape[1], "num_classes": num_classes, "image_size": images.shape[-1]}
    net = build_model(model, **shape).to(device)
    probs = []
    for back in range(1, snapshots + 1):
        torch.nn.utils.vector_to_parameters(expert.trajectory[-back].to(device), net.parameters())
        probs.append(score_samples(net, images, labels).probs)
    return probs


def snapshot_probs(
    expert: Expert,
    model: ModelConfig,
    images: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    snapshots: int = 1,
    device: torch.device | None = None,
) -> Tensor:
    """(N, C) the mean softmax of ``expert``'s last ``snapshots`` checkpoints (1: its final network)."""
    each = checkpoint_probs(expert, model, images, labels, num_classes, snapshots=snapshots, device=device)
    return (torch.stack(each).double().mean(dim=0)).float()


def static_filter(
    images: Tensor,
    noisy_labels: Tensor,
    clean_labels: Tensor,
    num_classes: int,
    spec: ExpertSpec,
    *,
    root: str | Path | None,
    device: torch.device,
) -> TrustSplit:
    """The two-stage baseline's filter: one division by a plainly trained expert, before distillation.

    The first vanilla expert (shared with the vanilla arm) scores every sample with its
    final parameters; one division, without recall, gives the trusted space on which the
    baseline's experts then train from scratch. The division is the one ``trust.sizing`` names:
    a class-wise GMM, or each class sized by the noise rates of :func:`plain_noise_rates`.
    """
    single = replace(spec, expert=replace(spec.expert, num_experts=1))
    plain = train_experts(
        "vanilla", images, noisy_labels, clean_labels, num_classes, single, root=root, device=device
    )[0]
    scores = final_scores(plain, spec.model, images, noisy_labels, num_classes, device=device)
    none = torch.zeros_like(noisy_labels, dtype=torch.bool)
    rates = None
    if spec.trust.sizing == "estimated":
        rates = plain_noise_rates(
            images, noisy_labels, clean_labels, num_classes, spec, root=root, device=device
        ).rates
    return divide(
        scores.losses, noisy_labels, none, num_classes, config=spec.trust, seed=spec.seed, noise_rates=rates
    )


def plain_noise_rates(
    images: Tensor,
    noisy_labels: Tensor,
    clean_labels: Tensor,
    num_classes: int,
    spec: ExpertSpec,
    *,
    root: str | Path | None,
    device: torch.device,
    world: World = SINGLE,
) -> NoiseRateEstimate:
    """Each class's share of wrong labels, from vanilla experts 0 and 1: their final networks, or with
    ``trust.rate_snapshots`` > 1 their last checkpoints (every one when they train fewer epochs), either
    as snapshot ensembles (:func:`snapshot_probs`; ``trust.rate_snapshot_mean = "probabilities"``) or
    checkpoint by checkpoint, the estimates then averaged (``"estimates"``).

    Those are the vanilla arm's first two experts (same files in the buffer), so a grid that runs
    the vanilla arm pays nothing more for them. :func:`tad.noise_rate.estimate_noise_rates` says how.
    """
    pair = replace(spec, expert=replace(spec.expert, num_experts=2))
    plain = train_experts(
        "vanilla",
        images,
        noisy_labels,
        clean_labels,
        num_classes,
        pair,
        root=root,
        device=device,
        world=world,
    )
    trust, args = spec.trust, (spec.model, images, noisy_labels, num_classes)
    top = 2 if trust.rate_agreement == "top2" else 1
    count = {"snapshots": min(trust.rate_snapshots, spec.expert.epochs), "device": device}
    if trust.rate_snapshot_mean == "probabilities":
        first, second = (snapshot_probs(e, *args, **count) for e in plain)
        return estimate_noise_rates(first, second, noisy_labels, num_classes, agreement_top=top)
    first, second = (checkpoint_probs(e, *args, **count) for e in plain)
    each = [
        estimate_noise_rates(a, b, noisy_labels, num_classes, agreement_top=top)
        for a, b in zip(first, second, strict=True)
    ]
    return mean_estimate(each)


def consensus_split(
    experts: list[Expert], *, level: float = 0.5, observed: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """The trusted space of several experts: majority labels, mean clean-probability, trusted set.

    Each expert contributes its clean posterior for a sample when its label is the majority
    label, and 0 when it is not (a recalled sample's posterior is that of its pseudo-label).
    A sample is trusted when the mean over experts reaches ``level``. Reconstruction: the
    paper's rule is unknown; a mean posterior, unlike requiring every expert's vote, does not
    shrink the trusted space as experts are added.

    Experts whose divisions were sized by estimated noise rates (``trust.sizing = "estimated"``)
    carry a rank score instead of a posterior; their consensus keeps the same size: in each class
    of the majority labels, the ``1 - rate`` share with the highest mean score among the samples whose
    majority label is their ``observed`` one (the share of each class's observed count), and the
    relabelled (recalled) samples scored at least as high (:func:`tad.trust.sized_division`; without
    ``observed``, every sample counts toward the size).
    """
    labels = torch.stack([e.labels for e in experts])  # (E, N)
    majority = torch.mode(labels, dim=0).values
    posteriors = torch.stack(
        [
            e.p_clean if e.p_clean is not None else torch.ones_like(e.labels, dtype=torch.float)
            for e in experts
        ]
    )
    score = (posteriors * (labels == majority)).mean(dim=0)
    rates = experts[0].noise_rates
    if rates is not None:
        relabelled = None if observed is None else majority != observed
        trusted, _ = sized_division(-score, majority, rates, recalled=relabelled, observed=observed)
        return trusted, majority, score
    return score >= level, majority, score


__all__ = [
    "EXPERT_KINDS",
    "FIXED_SPLIT_KINDS",
    "Expert",
    "ExpertSpec",
    "checkpoint_probs",
    "consensus_split",
    "final_scores",
    "plain_noise_rates",
    "snapshot_probs",
    "static_filter",
    "train_experts",
]
