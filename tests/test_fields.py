"""Tests for tad.fields: key=value overrides of a config, parsed to each field's type, strictly."""

from __future__ import annotations

import pytest

from tad.config import ExperimentConfig, NoiseConfig, TrustConfig, apply_overrides
from tad.fields import override_keys, split_override

BASE = ExperimentConfig()


def test_overrides_parse_every_kind_of_field():
    config = apply_overrides(
        BASE,
        [
            "trust.lambda_cons=0.5",  # float
            "expert.epochs=10",  # int
            "tm.memory_saving=true",  # bool
            "data.zca=Yes",
            "trust.evidence=off",
            "tm.batch_syn=none",  # an optional field
            "tm.loss_gate=2",  # an optional float given as a whole number
            "noise.label_file=/data/a=b.pt",  # a str holding "="
            "arms=tad, clean",  # a tuple
            "trust.threshold_rule=global",  # a Literal
            "name=mine",
        ],
    )
    assert config.trust.lambda_cons == 0.5 and config.expert.epochs == 10
    assert config.tm.memory_saving and config.data.zca and not config.trust.evidence
    assert config.tm.batch_syn is None and config.tm.loss_gate == 2.0
    assert isinstance(config.tm.loss_gate, float)
    assert config.noise.label_file == "/data/a=b.pt" and config.arms == ("tad", "clean")
    assert config.trust.threshold_rule == "global" and config.name == "mine"
    assert config.expert.lr == BASE.expert.lr and config.dm == BASE.dm  # nothing else moves


def test_no_overrides_and_a_later_override_wins():
    assert apply_overrides(BASE, []) is BASE
    assert apply_overrides(BASE, ["expert.epochs=5", "expert.epochs=6"]).expert.epochs == 6


def test_keys_of_one_section_change_together():
    # one at a time, tau_min 0.95 would exceed the default tau_max 0.9
    trust = apply_overrides(BASE, ["trust.tau_min=0.95", "trust.tau_max=0.99"]).trust
    assert (trust.tau_min, trust.tau_max) == (0.95, 0.99)


def test_a_sub_config_takes_its_own_keys():
    assert apply_overrides(TrustConfig(), ["tau=0.6"]).tau == 0.6
    assert apply_overrides(NoiseConfig(), ["kind=symmetric", "rate=0.2"]).name == "symmetric-20"


BAD = [
    ("trust.lamda=1", r"unknown key 'trust.lamda': in trust, TrustConfig's keys are enabled, schedule"),
    ("bogus=1", r"the sections are data, noise, model, augment, .* and the other keys name, method, ipc"),
    ("bogus.tau=1", "unknown key 'bogus.tau'"),
    ("trust=1", r"trust is a section, not a key: TrustConfig's keys are .*; set one as trust.key=value."),
    ("trust.tau.x=1", "trust.tau is a value, not a section; drop what follows it."),
    ("expert.epochs=1.5", r"expert.epochs takes a whole number; got '1.5'."),
    ("trust.tau=high", r"trust.tau takes a number; got 'high'."),
    ("tm.memory_saving=maybe", r"tm.memory_saving takes true or false; got 'maybe'."),
    (
        "noise.kind=bogus",
        r"noise.kind must be one of clean, symmetric, asymmetric, pairflip, real; got 'bogus'.",
    ),
    ("expert.epochs=none", r"expert.epochs takes a whole number; got 'none'."),
    ("trust.tau", r"an override is key=value, such as trust.lambda_cons=0.5; got 'trust.tau'."),
    ("=3", "an override is key=value"),
    ("ipc=", "an override is key=value"),
    ("ipc=0", r"ExperimentConfig.ipc must be positive; got 0."),  # the dataclass's own validation
    ("trust.tau_min=0.95", "tau_min must not exceed tau_max."),
]


@pytest.mark.parametrize(("override", "message"), BAD, ids=[o for o, _ in BAD])
def test_a_bad_override_is_one_sentence(override, message):
    with pytest.raises(ValueError, match=message) as err:
        apply_overrides(BASE, [override])
    assert str(err.value).endswith(".") and "\n" not in str(err.value)


def test_keys_of_overrides():
    assert split_override(" trust.tau = 0.5 ") == ("trust.tau", "0.5")
    assert override_keys(["trust.tau=0.5", "ipc=3", "trust.tau=0.6"]) == {"trust.tau", "ipc"}
