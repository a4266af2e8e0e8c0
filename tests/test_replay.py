"""Tests for tad.replay: the expert notebooks 2 and 3 share, and its division replayed at one epoch."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from tad.config import NoiseConfig
from tad.context import prepare_data
from tad.models import flatten_params
from tad.presets import preset_for
from tad.replay import estimate_rates, replay_config, replay_division, train_recorded_expert
from tad.trust import divide, score_samples


def test_the_config_is_the_preset_with_the_noise_on_top():
    base = preset_for("digits", None)
    config = replay_config("digits", noise="pairflip", rate=0.2, noise_seed=3, seed=4, epochs=5, width=16)
    assert config.noise == NoiseConfig(kind="pairflip", rate=0.2, seed=3)  # noise_seed seeds the noise only
    assert config.seed == 4 and config.expert.epochs == 5 and config.model.width == 16
    restored = replace(config, noise=base.noise, seed=base.seed, expert=base.expert, model=base.model)
    assert restored == base
    default = replay_config("digits")
    assert (default.expert.epochs, default.model.width) == (base.expert.epochs, base.model.width)


@pytest.fixture(scope="module")
def recorded():
    config = replay_config("digits", noise="symmetric", rate=0.4, noise_seed=1, seed=2, epochs=4, width=8)
    nd = prepare_data(config)
    rates = estimate_rates(nd, config, device=torch.device("cpu")).rates
    return config, nd, rates, train_recorded_expert(nd, config, device=torch.device("cpu"), noise_rates=rates)


def test_the_rates_come_from_two_plain_experts_that_never_read_the_clean_labels(recorded):
    config, nd, rates, _ = recorded
    assert rates.shape == (nd.data.num_classes,) and bool(((rates >= 0) & (rates <= 1)).all())
    shuffled = replace(nd, data=replace(nd.data, train_labels=nd.clean_labels.flip(0)))
    assert torch.equal(estimate_rates(shuffled, config, device=torch.device("cpu")).rates, rates)


def test_the_expert_keeps_its_parameters_after_every_epoch(recorded):
    config, _, _, run = recorded
    assert len(run.trajectory) == config.expert.epochs + 1 and len(run.history) == config.expert.epochs
    assert torch.equal(run.trajectory[-1], flatten_params(run.model))


def test_a_replayed_division_is_the_outer_step_alone_on_that_epochs_network(recorded):
    config, nd, rates, run = recorded
    before = flatten_params(run.model)
    first_scores, _ = replay_division(run, 0, nd, config, noise_rates=rates)
    scores, split = replay_division(run, config.expert.epochs, nd, config, noise_rates=rates)
    assert torch.equal(flatten_params(run.model), before)  # the expert is left as it was
    direct = score_samples(run.model, nd.data.train_images, nd.noisy_labels)
    assert torch.equal(scores.losses, direct.losses) and torch.equal(scores.features, direct.features)
    assert not torch.equal(first_scores.losses, scores.losses)  # epoch 0 is the initial network
    none = torch.zeros_like(nd.noisy_labels, dtype=torch.bool)
    expected = divide(
        scores.losses,
        nd.noisy_labels,
        none,
        nd.data.num_classes,
        config=config.trust,
        seed=config.seed,
        predictions=scores.probs.argmax(dim=1),
        noise_rates=rates,
    )
    assert torch.equal(split.trusted, expected.trusted) and torch.equal(split.p_clean, expected.p_clean)
    assert torch.equal(split.labels, nd.noisy_labels) and not split.recalled.any()
