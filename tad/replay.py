"""One trust-aware expert kept epoch by epoch, and its division replayed at any of them.

The notebooks on the outer and inner loops (02 and 03) train the same expert and then
go back to one of its epochs: they restore the parameters it had then, score every
sample and repeat the outer step alone. With no loss average and no earlier recall,
that step depends only on the network of that epoch, so it shows what the expert's own
division worked with. The default division is sized by each class's estimated share of
wrong labels, which :func:`estimate_rates` takes from two plain experts first. These are
the four calls they share.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import torch
from torch import Tensor

from tad.buffer import plain_noise_rates
from tad.config import ExperimentConfig, NoiseConfig
from tad.context import NoisyData, expert_spec
from tad.diversion import TrustState, trust_step
from tad.experts import ExpertRun, train_expert
from tad.noise_rate import NoiseRateEstimate
from tad.presets import preset_for
from tad.rng import generator
from tad.trust import SampleScores, TrustSplit, everyone_trusted, score_samples


def replay_config(
    dataset: str,
    preset: str | None = None,
    *,
    data_root: str | None = None,
    noise: str = "symmetric",
    rate: float = 0.4,
    noise_seed: int = 0,
    seed: int = 0,
    epochs: int | None = None,
    width: int | None = None,
) -> ExperimentConfig:
    """A preset's compute scale (None: the dataset's CPU preset) with the label noise on top.

    ``noise_seed`` seeds the label corruption, ``seed`` the expert and the divisions;
    ``epochs`` and ``width`` (None: the preset's) resize the expert and its ConvNet.
    """
    config = preset_for(dataset, preset)
    return replace(
        config,
        seed=seed,
        data=replace(config.data, data_root=data_root),
        noise=NoiseConfig(kind=noise, rate=rate, seed=noise_seed),  # type: ignore[arg-type]
        expert=replace(config.expert, epochs=epochs or config.expert.epochs),
        model=replace(config.model, width=width or config.model.width),
    )


def estimate_rates(nd: NoisyData, config: ExperimentConfig, *, device: torch.device) -> NoiseRateEstimate:
    """Each class's share of wrong labels, from two plain experts trained here on ``nd``'s noisy labels
    (:func:`tad.buffer.plain_noise_rates`; nothing is saved). They never read the clean labels."""
    return plain_noise_rates(
        nd.data.train_images,
        nd.noisy_labels,
        nd.clean_labels,
        nd.data.num_classes,
        expert_spec(config),
        root=None,
        device=device,
    )


def train_recorded_expert(
    nd: NoisyData, config: ExperimentConfig, *, device: torch.device, noise_rates: Tensor | None = None
) -> ExpertRun:
    """One trust-aware expert on ``nd``'s noisy labels, with its parameters after every epoch.

    ``noise_rates`` (C,) size its divisions when ``trust.sizing = "estimated"`` (:func:`estimate_rates`).
    The clean labels reach it only for the diagnostics in ``run.history``.
    """
    return train_expert(
        nd.data.train_images,
        nd.noisy_labels,
        num_classes=nd.data.num_classes,
        model=config.model,
        expert=config.expert,
        trust=config.trust,
        recalib=config.recalib,
        augment=config.augment,
        generator=generator(config.seed, "notebook", "expert"),
        device=device,
        clean_labels=nd.clean_labels,
        noise_rates=noise_rates,
        record_trajectory=True,
    )


def replay_division(
    run: ExpertRun,
    epoch: int,
    nd: NoisyData,
    config: ExperimentConfig,
    *,
    noise_rates: Tensor | None = None,
) -> tuple[SampleScores, TrustSplit]:
    """Scores of every sample under the parameters after ``epoch`` epochs, and the outer step on them.

    The step starts from the observed labels with everything trusted and recalls nothing, seeded by
    ``config.seed``, sized by ``noise_rates`` where given (the rates the expert trained with).
    ``run`` must carry its trajectory; its model is left as it is.
    """
    model = copy.deepcopy(run.model)
    device = next(model.parameters()).device
    torch.nn.utils.vector_to_parameters(run.trajectory[epoch].to(device), model.parameters())
    noisy, num_classes = nd.noisy_labels, nd.data.num_classes
    scores = score_samples(model, nd.data.train_images, noisy)
    start = TrustState(split=everyone_trusted(noisy, num_classes))
    outer_only = replace(config.recalib, enabled=False)
    split = trust_step(
        scores,
        start,
        noisy,
        num_classes,
        trust=config.trust,
        recalib=outer_only,
        seed=config.seed,
        noise_rates=noise_rates,
    ).split
    return scores, split


__all__ = ["estimate_rates", "replay_config", "replay_division", "train_recorded_expert"]
