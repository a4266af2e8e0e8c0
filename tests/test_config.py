"""Tests for tad.config (and the presets built from it): validation, round trips, immutability."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from tad.config import (
    ARMS,
    AugmentConfig,
    DataConfig,
    DMConfig,
    EvalConfig,
    ExperimentConfig,
    ExpertConfig,
    ModelConfig,
    NoiseConfig,
    RecalibConfig,
    TMConfig,
    TrustConfig,
    from_dict,
    to_dict,
)
from tad.presets import DEFAULT_PRESET, PRESETS, get_preset, preset_for

INVALID = [
    (NoiseConfig, {"kind": "symmetric", "rate": 1.5}, r"noise rate must lie in \[0, 1\); got 1\.5"),
    (NoiseConfig, {"kind": "symmetric", "rate": -0.1}, r"noise rate must lie in \[0, 1\); got -0\.1"),
    (NoiseConfig, {"kind": "pairflip", "rate": 1.0}, r"noise rate must lie in \[0, 1\)"),
    (NoiseConfig, {"kind": "clean", "rate": 0.2}, r"clean labels take no noise rate"),
    (NoiseConfig, {"kind": "real", "rate": 0.2}, r"real noise takes its rate from the label file"),
    (NoiseConfig, {"kind": "symmetric", "rate": 0.0}, r"symmetric noise needs a rate above 0"),
    (NoiseConfig, {"kind": "bogus"}, r"noise kind must be one of clean, symmetric, .*; got 'bogus'"),
    (NoiseConfig, {"kind": "real", "real_labels": "rand9"}, r"real label set must be one of .*'rand9'"),
    (DataConfig, {"dataset": "foo"}, r"dataset must be one of digits, cifar10, .*; got 'foo'"),
    (DataConfig, {"train_per_class": 0}, r"DataConfig\.train_per_class must be positive; got 0"),
    (DataConfig, {"image_size": 4}, r"image_size must be at least 8; got 4"),
    (ModelConfig, {"width": 0}, r"ModelConfig\.width must be positive"),
    (ModelConfig, {"norm": "foo"}, r"norm must be one of instancenorm, .*'foo'"),
    (AugmentConfig, {"strategy": "color_zoom"}, r"unknown augmentation\(s\) \['zoom'\]"),
    (AugmentConfig, {"strategy": "_"}, r"the augmentation strategy names no operation"),
    (AugmentConfig, {"flip_prob": 1.5}, r"AugmentConfig\.flip_prob must lie in \[0, 1\]"),
    (ExpertConfig, {"epochs": 0}, r"ExpertConfig\.epochs must be positive"),
    (ExpertConfig, {"momentum": 1.5}, r"ExpertConfig\.momentum must lie in \[0, 1\]"),
    (ExpertConfig, {"weight_decay": -1e-4}, r"weight_decay must not be negative"),
    (TrustConfig, {"lambda_cons": -1.0}, r"lambda_cons must not be negative"),
    (TrustConfig, {"tau_min": 0.8, "tau_max": 0.5}, r"tau_min must not exceed tau_max"),
    (TrustConfig, {"tau": 1.5}, r"TrustConfig\.tau must lie in \[0, 1\]; got 1\.5"),
    (TrustConfig, {"warmup_fraction": 1.0}, r"TrustConfig\.warmup_fraction must lie in \[0, 1\); got 1\.0"),
    (TrustConfig, {"loss_ema": 1.0}, r"TrustConfig\.loss_ema must lie in \[0, 1\)"),
    (
        TrustConfig,
        {"threshold_rule": "median"},
        r"threshold_rule must be one of flexmatch, classmean, global",
    ),
    (TrustConfig, {"schedule": "weekly"}, r"trust schedule must be one of dynamic, static"),
    (TrustConfig, {"gmm_max_iter": 0}, r"TrustConfig\.gmm_max_iter must be positive"),
    (TrustConfig, {"warmup_fraction": 0.6}, r"warmup_fraction must not exceed latest_start_fraction"),
    (TrustConfig, {"start_loss_drop": 1.0}, r"TrustConfig\.start_loss_drop must lie in \[0, 1\)"),
    (TrustConfig, {"evidence_separation": -1.0}, r"evidence_separation must not be negative"),
    (TrustConfig, {"evidence_ratio": 0.5}, r"evidence_ratio must be at least 1"),
    (TrustConfig, {"untrusted": "keep"}, r"use of untrusted samples must be one of drop, soft"),
    (TrustConfig, {"rate_snapshots": 0}, r"TrustConfig\.rate_snapshots must be positive"),
    (TrustConfig, {"rate_snapshot_mean": "median"}, r"snapshot mean must be one of probabilities, estimates"),
    (RecalibConfig, {"held_out_fraction": 1.0}, r"RecalibConfig\.held_out_fraction must lie in \[0, 1\)"),
    (RecalibConfig, {"support": 0}, r"RecalibConfig\.support must be positive"),
    (RecalibConfig, {"gamma": 1.2}, r"RecalibConfig\.gamma must lie in \[0, 1\]"),
    (RecalibConfig, {"recall_cap": -0.1}, r"RecalibConfig\.recall_cap must lie in \[0, 1\]"),
    (RecalibConfig, {"temperature": 0.0}, r"RecalibConfig\.temperature must be positive"),
    (RecalibConfig, {"reliability": "euclid"}, r"reliability measure must be one of both, mahalanobis"),
    (DMConfig, {"iterations": 0}, r"DMConfig\.iterations must be positive"),
    (DMConfig, {"init": "predicted_correctly"}, r"DM init must be 'real' or 'noise'"),
    (TMConfig, {"min_start_epoch": 5, "max_start_epoch": 5}, r"need 0 <= min_start_epoch < max_start_epoch"),
    (TMConfig, {"pix_init": "zeros"}, r"pix_init must be one of real, predicted_correctly, noise"),
    (EvalConfig, {"num_eval": 0}, r"EvalConfig\.num_eval must be positive"),
    (EvalConfig, {"weight_decay": -5e-4}, r"weight_decay must not be negative"),
    (ExperimentConfig, {"method": "kip"}, r"method must be one of dm, mtt, datm; got 'kip'"),
    (ExperimentConfig, {"ipc": 0}, r"ExperimentConfig\.ipc must be positive"),
    (ExperimentConfig, {"arms": ()}, r"choose at least one arm"),
    (ExperimentConfig, {"arms": ("random", "foo")}, r"arm must be one of random, vanilla, .*; got 'foo'"),
    (ExperimentConfig, {"arms": ("tad", "tad")}, r"arms are repeated"),
    (
        ExperimentConfig,
        {"expert": ExpertConfig(epochs=1)},
        r"experts train 1 epochs, which leaves none after 1 warm-up epochs",
    ),
    (
        ExperimentConfig,
        {"method": "mtt", "expert": ExpertConfig(epochs=20), "tm": TMConfig(max_start_epoch=20)},
        r"needs experts of at least 21 epochs; got 20",
    ),
]


@pytest.mark.parametrize(("cls", "kwargs", "message"), INVALID)
def test_invalid_values_raise_one_readable_sentence(cls, kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        cls(**kwargs)
    text = str(info.value)
    assert "\n" not in text
    assert text.endswith(".")


@pytest.mark.parametrize(("cls", "kwargs", "message"), INVALID)
def test_replace_validates_too(cls, kwargs, message):
    valid = cls(kind="symmetric", rate=0.4) if cls is NoiseConfig else cls()
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(valid, **kwargs)


def test_defaults_are_valid_and_frozen():
    config = ExperimentConfig()
    assert config.arms == ARMS == ("random", "vanilla", "tad", "clean")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.ipc = 50  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.noise.rate = 0.2  # type: ignore[misc]


def test_boundary_values_are_accepted():
    assert NoiseConfig(kind="symmetric", rate=0.99).rate == 0.99
    assert TrustConfig(tau=0.0, tau_min=0.0, tau_max=0.0, lambda_cons=0.0, warmup_fraction=0.0).tau == 0.0
    assert RecalibConfig(gamma=1.0, recall_cap=0.0, shrinkage=1.0).gamma == 1.0
    assert ExpertConfig(momentum=0.0, weight_decay=0.0).momentum == 0.0


def test_warmup_is_a_share_of_the_epochs_and_at_least_one():
    trust = TrustConfig(warmup_fraction=0.4)
    assert [trust.warmup_epochs(e) for e in (1, 2, 4, 10, 20, 50)] == [1, 1, 2, 4, 8, 20]
    assert TrustConfig(warmup_fraction=0.0).warmup_epochs(20) == 1


def test_warmup_is_not_checked_when_trust_is_disabled():
    vanilla = TrustConfig(enabled=False)
    assert ExperimentConfig(expert=ExpertConfig(epochs=1), trust=vanilla).expert.epochs == 1


def test_augment_operations_skip_empty_names():
    assert AugmentConfig(strategy="crop__flip_").operations == ("crop", "flip")


def non_default_experiment() -> ExperimentConfig:
    return ExperimentConfig(
        name="round-trip",
        ipc=3,
        arms=("tad", "clean"),
        seed=7,
        data=DataConfig(dataset="cifar10", data_root="/data", train_per_class=50, image_size=16, zca=True),
        noise=NoiseConfig(kind="symmetric", rate=0.25, symmetric_include_true=True, seed=3),
        model=ModelConfig(width=16, depth=2, norm="batchnorm"),
        augment=AugmentConfig(strategy="crop_flip", crop=0.25),
        expert=ExpertConfig(epochs=7, lr=0.05, momentum=0.9),
        trust=TrustConfig(warmup_fraction=0.25, threshold_rule="classmean", tau=0.6, loss_ema=0.5),
        recalib=RecalibConfig(reliability="cosine", gamma=0.7, recall_cap=0.2),
        dm=DMConfig(iterations=11, init="noise"),
        eval=EvalConfig(num_eval=2, epochs=9, dsa=False),
    )


def test_to_dict_from_dict_round_trip_through_json():
    config = non_default_experiment()
    values = json.loads(json.dumps(to_dict(config)))
    assert values["arms"] == ["tad", "clean"]
    assert values["trust"]["threshold_rule"] == "classmean"
    assert from_dict(ExperimentConfig, values) == config


def test_from_dict_fills_missing_keys_with_defaults():
    config = from_dict(ExperimentConfig, {"ipc": 4, "noise": {"kind": "pairflip", "rate": 0.3}})
    assert config == ExperimentConfig(ipc=4, noise=NoiseConfig(kind="pairflip", rate=0.3))


def test_from_dict_rejects_unknown_keys_and_validates():
    with pytest.raises(ValueError, match="unknown ExperimentConfig field"):
        from_dict(ExperimentConfig, {"ipcs": 4})
    with pytest.raises(ValueError, match=r"unknown NoiseConfig field.*: noise_rate"):
        from_dict(ExperimentConfig, {"noise": {"noise_rate": 0.3}})
    with pytest.raises(ValueError, match="noise rate must lie"):
        from_dict(ExperimentConfig, {"noise": {"kind": "symmetric", "rate": 2.0}})


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_and_name_themselves(name):
    preset = get_preset(name)
    assert preset.name == name
    assert from_dict(ExperimentConfig, json.loads(json.dumps(to_dict(preset)))) == preset


def test_unknown_preset_and_dataset_list_the_known_ones():
    with pytest.raises(ValueError, match=re.escape(f"choose from {', '.join(sorted(PRESETS))}.")):
        get_preset("huge")
    with pytest.raises(ValueError, match="unknown dataset 'foo'"):
        preset_for("foo")


@pytest.mark.parametrize("dataset", sorted(DEFAULT_PRESET))
def test_default_preset_is_moved_onto_its_dataset(dataset):
    assert preset_for(dataset).data.dataset == dataset
    assert preset_for(dataset, "digits") == get_preset("digits")


@pytest.mark.parametrize("method", ["mtt", "datm"])
def test_trajectory_matching_refuses_batchnorm(method):
    with pytest.raises(ValueError, match="BatchNorm's running statistics would be lost"):
        ExperimentConfig(method=method, model=ModelConfig(norm="batchnorm"), expert=ExpertConfig(epochs=30))
    ExperimentConfig(method="dm", model=ModelConfig(norm="batchnorm"))  # DM keeps no trajectories


@pytest.mark.parametrize(
    ("noise", "name"),
    [
        (NoiseConfig(), "clean"),
        (NoiseConfig(kind="symmetric", rate=0.2), "symmetric-20"),
        (NoiseConfig(kind="asymmetric", rate=0.4, seed=3), "asymmetric-40"),
        (NoiseConfig(kind="pairflip", rate=0.4), "pairflip-40"),
        (NoiseConfig(kind="real", real_labels="aggre"), "cifar10n-aggre"),
        (NoiseConfig(kind="real", real_labels="rand1"), "cifar10n-rand1"),
        (NoiseConfig(kind="real", real_labels="noisy100"), "cifar100n-noisy100"),
    ],
)
def test_a_noise_setting_has_one_name(noise, name):
    assert noise.name == name
    assert "name" not in to_dict(noise)  # a property: the saved configs do not change


def test_the_names_of_the_committed_results_rows_are_their_settings():
    from pathlib import Path

    rows = [
        json.loads(line)
        for path in sorted((Path(__file__).parents[1] / "results").glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    noisy = [r for r in rows if isinstance(r.get("noise"), dict)]
    assert noisy  # resuming finds the committed rows only if the names did not change
    for row in noisy:
        assert from_dict(NoiseConfig, row["noise"]).name == row["setting"]


def test_every_candidate_set_applies_and_holds_the_default_exactly_once():
    # a selection compares the default with its alternatives: a set without the default, or with it
    # twice, could change a default without ever scoring it
    from tad.config import ExperimentConfig, apply_overrides
    from tad.variants import CANDIDATE_SETS

    default = ExperimentConfig()
    for name, candidates in CANDIDATE_SETS.items():
        configs = {c: apply_overrides(default, overrides) for c, overrides in candidates.items()}
        assert len(configs) >= 2, name
        assert sum(config == default for config in configs.values()) == 1, name
        assert len({repr(config) for config in configs.values()}) == len(configs), name
