"""Tests for tad.experts: vanilla, dynamic (TAD) and static trust models on the embedded digits."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch

from tad.config import (
    AugmentConfig,
    DataConfig,
    ExpertConfig,
    ModelConfig,
    NoiseConfig,
    RecalibConfig,
    TrustConfig,
)
from tad.data import load_dataset
from tad.diversion import TrustState, trust_diagnostics
from tad.epoch import train_epoch
from tad.experts import (
    ExpertTask,
    divide_if_due,
    epoch_entry,
    final_division,
    fit_expert,
    train_expert,
    train_trusted_epoch,
)
from tad.models import build_model, flatten_params, parameter_count
from tad.noise import apply_noise

DIGITS_AUGMENT = AugmentConfig(strategy="color_crop_cutout_scale_rotate")
TINY_MODEL = ModelConfig(width=8, depth=3)
CPU = torch.device("cpu")


def noisy_digits(
    train_per_class: int | None, rate: float = 0.4, kind: str = "pairflip"
) -> dict[str, torch.Tensor]:
    data = load_dataset(DataConfig(dataset="digits", train_per_class=train_per_class))
    noisy, report = apply_noise(
        NoiseConfig(kind=kind, rate=rate), "digits", data.train_labels, data.num_classes
    )
    return {
        "images": data.train_images,
        "clean": data.train_labels,
        "noisy": torch.as_tensor(noisy),
        "realised_rate": torch.tensor(report.realised_rate),
    }


@pytest.fixture(scope="module")
def small():
    return noisy_digits(train_per_class=20)


def train(small, trust: TrustConfig, *, epochs: int = 3, seed: int = 0, **kwargs):
    return train_expert(
        small["images"],
        small["noisy"],
        num_classes=10,
        model=TINY_MODEL,
        expert=ExpertConfig(epochs=epochs, lr=0.05, momentum=0.9, batch_size=64),
        trust=trust,
        recalib=RecalibConfig(),
        augment=DIGITS_AUGMENT,
        generator=torch.Generator().manual_seed(seed),
        device=CPU,
        **{"clean_labels": small["clean"], **kwargs},
    )


# Tiny nets learn too little in three epochs for the evidence test to open a class, so these
# schedule tests split unconditionally (the evidence test has its own tests in test_trust.py). They
# divide by the mixture, which needs no noise-rate estimate; the sized division (the default) is
# tested end to end in test_buffer.py and by test_a_sized_expert_needs_its_rates below.
SCHEDULES = {
    "vanilla": TrustConfig(enabled=False),
    "dynamic": TrustConfig(
        sizing="mixture", warmup_fraction=0.25, latest_start_fraction=0.25, evidence=False
    ),
    "static": TrustConfig(sizing="mixture", schedule="static", warmup_fraction=0.25, evidence=False),
}


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_every_schedule_trains_and_records_one_entry_per_epoch(small, schedule):
    seen = []
    run = train(small, SCHEDULES[schedule], callback=lambda epoch, entry: seen.append(epoch))
    assert seen == [1, 2, 3]
    assert [entry["epoch"] for entry in run.history] == [1, 2, 3]
    for entry in run.history:
        assert torch.isfinite(torch.tensor(entry["loss"]))
        assert {"newly_recalled", "trusted_size", "precision", "recall"} <= set(entry)
    split = run.state.split
    n = len(small["noisy"])
    assert split.trusted.shape == split.labels.shape == (n,)
    assert not (split.labels != small["noisy"])[~split.recalled].any()
    if schedule == "vanilla":
        assert split.trusted.all() and torch.equal(split.labels, small["noisy"])
    if schedule == "static":
        assert not split.recalled.any() and not split.trusted.all()
        assert all(entry["trusted_size"] == n for entry in run.history)  # trains plainly, divides at the end
    if schedule == "dynamic":
        assert not split.trusted.all()
        assert run.history[0]["trusted_size"] == n  # the warm-up epoch trusts everyone
        assert run.history[1]["trusted_size"] < n


def test_record_trajectory_gives_epochs_plus_one_flat_vectors(small):
    run = train(small, SCHEDULES["dynamic"], record_trajectory=True)
    size = parameter_count(run.model)
    assert len(run.trajectory) == 4
    assert all(t.shape == (size,) for t in run.trajectory)
    initial = build_model(
        TINY_MODEL, channels=1, num_classes=10, image_size=8, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(run.trajectory[0], flatten_params(initial))
    torch.testing.assert_close(run.trajectory[-1], flatten_params(run.model))
    assert not torch.equal(run.trajectory[0], run.trajectory[1])
    assert train(small, SCHEDULES["dynamic"]).trajectory == []


def test_same_seed_same_expert(small):
    first = train(small, SCHEDULES["dynamic"], seed=4)
    second = train(small, SCHEDULES["dynamic"], seed=4)
    other = train(small, SCHEDULES["dynamic"], seed=5)
    assert torch.equal(flatten_params(first.model), flatten_params(second.model))
    assert torch.equal(first.state.split.trusted, second.state.split.trusted)
    assert torch.equal(first.state.split.labels, second.state.split.labels)
    assert not torch.equal(flatten_params(first.model), flatten_params(other.model))


class Interrupted(Exception):
    pass


def test_an_interrupted_expert_resumes_exactly(small):
    whole = train(small, SCHEDULES["dynamic"], epochs=4, record_trajectory=True)
    saved = []

    def save_then_stop(progress):
        saved.append(copy.deepcopy(progress))  # what a checkpoint would hold
        if progress.epoch == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        train(small, SCHEDULES["dynamic"], epochs=4, record_trajectory=True, on_progress=save_then_stop)
    assert [p.epoch for p in saved] == [1, 2]
    resumed = train(small, SCHEDULES["dynamic"], epochs=4, seed=99, record_trajectory=True, resume=saved[-1])
    assert torch.equal(flatten_params(resumed.model), flatten_params(whole.model))
    assert len(resumed.trajectory) == 5
    assert all(torch.equal(a, b) for a, b in zip(resumed.trajectory, whole.trajectory, strict=True))
    assert resumed.history == whole.history
    assert torch.equal(resumed.state.split.trusted, whole.state.split.trusted)
    assert torch.equal(resumed.state.split.labels, whole.state.split.labels)


def tiny_net_and_optimizer(seed: int = 0):
    net = build_model(
        TINY_MODEL, channels=1, num_classes=10, image_size=8, generator=torch.Generator().manual_seed(seed)
    )
    return net, torch.optim.SGD(net.parameters(), lr=0.1)


def test_untrusted_samples_give_no_cross_entropy_gradient(small):
    net, optimizer = tiny_net_and_optimizer()
    before = flatten_params(net)
    loss = train_epoch(
        net,
        optimizer,
        small["images"],
        small["noisy"],
        batch_size=64,
        generator=torch.Generator().manual_seed(0),
        augment=None,
        trusted=torch.zeros(len(small["noisy"]), dtype=torch.bool),
    )
    assert loss == 0.0
    assert torch.equal(flatten_params(net), before)


def test_train_epoch_with_consistency_moves_the_net_even_without_trusted_samples(small):
    net, optimizer = tiny_net_and_optimizer()
    before = flatten_params(net)
    one_hot = torch.nn.functional.one_hot(small["noisy"], 10).float()
    loss = train_epoch(
        net,
        optimizer,
        small["images"],
        small["noisy"],
        batch_size=64,
        generator=torch.Generator().manual_seed(0),
        augment=DIGITS_AUGMENT,
        trusted=torch.zeros(len(small["noisy"]), dtype=torch.bool),
        targets=one_hot,
        lambda_cons=1.0,
    )
    assert loss > 0.0
    assert not torch.equal(flatten_params(net), before)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "trust"),
    [
        ("symmetric", TrustConfig(sizing="mixture")),
        ("pairflip", TrustConfig(sizing="mixture", evidence=False)),
    ],
    ids=["symmetric-mixture", "pairflip-every-class-split"],
)
def test_tad_trusted_space_is_cleaner_than_the_noisy_labels(kind, trust):
    # Under pair-flip noise the network learns the flip, so the evidence test keeps classes whole; with
    # the test off, the division and the recall clean the data there too. 30 epochs: with the training
    # pass's features (the default scoring) the anchors mature late, and at 20 epochs whether the inner
    # loop recalled anything before the end depended on the machine's floating point.
    digits = noisy_digits(train_per_class=None, rate=0.4, kind=kind)
    run = train_expert(
        digits["images"],
        digits["noisy"],
        num_classes=10,
        model=ModelConfig(width=16, depth=3),
        expert=ExpertConfig(epochs=30, lr=0.1, momentum=0.9, batch_size=64, dsa=False),  # features mature
        trust=replace(trust, warmup_fraction=0.3),  # at least three plain epochs
        recalib=RecalibConfig(),
        augment=DIGITS_AUGMENT,
        generator=torch.Generator().manual_seed(0),
        device=CPU,
        clean_labels=digits["clean"],
    )
    final = trust_diagnostics(run.state.split, digits["noisy"], digits["clean"], 10)
    noisy_precision = 1.0 - float(digits["realised_rate"])
    assert noisy_precision < 0.62
    assert final["precision"] >= noisy_precision + 0.15
    assert final["recall"] >= 0.7
    assert final["recalled_size"] > 0 and final["pseudo_label_accuracy"] >= 0.8


def test_the_method_path_never_reads_the_clean_labels(small):
    # The clean labels feed diagnostics only: without them, or with nonsense in their place, a TAD expert
    # divides, recalls and trains bit for bit the same; only the diagnostics it records change.
    trust = TrustConfig(sizing="mixture", warmup_fraction=0.25, latest_start_fraction=0.25, evidence=False)
    kwargs = {"epochs": 5, "record_trajectory": True}
    with_clean = train(small, trust, **kwargs)
    without = train(small, trust, clean_labels=None, **kwargs)
    shuffled = train(small, trust, clean_labels=small["clean"].flip(0), **kwargs)
    assert not with_clean.state.split.trusted.all()  # it did divide: there is something to compare
    for run in (without, shuffled):
        assert all(torch.equal(a, b) for a, b in zip(run.trajectory, with_clean.trajectory, strict=True))
        assert torch.equal(run.state.split.trusted, with_clean.state.split.trusted)
        assert torch.equal(run.state.split.labels, with_clean.state.split.labels)
    assert with_clean.history[-1]["precision"] != shuffled.history[-1]["precision"]
    assert without.history[-1]["precision"] is None  # no clean labels: no diagnostics


@pytest.mark.parametrize("scoring", ["pass", "online"])
def test_an_expert_is_its_steps_the_trust_step_then_an_epoch_on_the_trusted_space(small, scoring):
    # fit_expert only orchestrates: the steps called by hand, in order, give the same expert bit for bit.
    trust = replace(SCHEDULES["dynamic"], scoring=scoring)
    expert = ExpertConfig(epochs=3, lr=0.05, momentum=0.9, batch_size=64)
    task = ExpertTask(
        small["images"], small["noisy"], 10, TINY_MODEL, expert, trust, RecalibConfig(), DIGITS_AUGMENT
    )
    run = fit_expert(task, generator=torch.Generator().manual_seed(0), device=CPU, record_trajectory=True)
    gen = torch.Generator().manual_seed(0)
    net = task.build_net(gen, CPU)
    sgd = {"lr": expert.lr, "momentum": expert.momentum, "weight_decay": expert.weight_decay}
    optimizer = torch.optim.SGD(net.parameters(), **sgd)  # as fit_expert makes it
    state, targets, recorded, history = TrustState(split=task.initial_split()), None, None, []
    for epoch in range(expert.epochs):
        before = state.split.recalled
        state, targets = divide_if_due(
            task, net, state, targets, recorded, epoch, history, gen.initial_seed()
        )
        record = task.records_scores(epoch)
        loss, recorded = train_trusted_epoch(
            task, net, optimizer, state, targets, generator=gen, record=record
        )
        history.append(epoch_entry(task, state, before, epoch, loss))
        assert torch.equal(flatten_params(net), run.trajectory[epoch + 1])
    assert history == run.history and history[-1]["divided"]
    final = final_division(task, net, state, gen.initial_seed(), recorded).split
    assert torch.equal(final.trusted, run.state.split.trusted) and torch.equal(
        final.labels, run.state.split.labels
    )


def test_a_sized_expert_needs_its_rates_and_trusts_their_share(small):
    # trust.sizing="estimated" without rates would fall back on nothing: refused before any training
    trust = TrustConfig(warmup_fraction=0.25, latest_start_fraction=0.25)
    assert trust.sizing == "estimated"
    with pytest.raises(ValueError, match="pass noise_rates"):
        train(small, trust)
    # with rates, every division trusts each class's (1 - rate) share (a pair-flip 40% label set)
    rates = torch.full((10,), 0.4)
    run = train(small, trust, noise_rates=rates)
    split = run.state.split
    for c in range(10):
        members = split.labels == c
        assert int(split.trusted[members].sum()) == round(0.6 * int(members.sum()))
