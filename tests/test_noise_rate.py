"""The noise-rate estimate and the trusted space it sizes (trust.sizing = "estimated")."""

import math

import pytest
import torch

from tad.buffer import Expert, consensus_split
from tad.config import ExperimentConfig, ExpertConfig, TrustConfig
from tad.noise_rate import (
    NoiseRateEstimate,
    agreement_error,
    corrected_rates,
    estimate_noise_rates,
    mean_estimate,
    prediction_agreement,
)
from tad.trust import divide, sized_division


def confident(true, classes, *, right=0.9):
    """Probabilities of a network sure of ``true``."""
    other = (1.0 - right) / (classes - 1)
    return torch.nn.functional.one_hot(true, classes).float() * (right - other) + other


def test_two_right_networks_estimate_each_class_share_of_flipped_labels_and_none_without_noise():
    true = torch.arange(200) % 4
    labels = true.clone()
    labels[:40] = (true[:40] + 1) % 4  # 10 of the 50 samples of every class flip to the next
    probs = confident(true, 4)
    estimate = estimate_noise_rates(probs, probs.clone(), labels, 4)
    assert estimate.agreement == 1.0 and estimate.error == 0.0
    torch.testing.assert_close(estimate.rates, torch.full((4,), 0.2))
    clean = estimate_noise_rates(probs, probs.clone(), true, 4)
    assert clean.rates.tolist() == [0.0] * 4
    assert set(clean.summary()) == {"raw", "agreement", "error", "rates"}


def test_the_networks_own_errors_are_taken_out_of_the_estimate():
    true = torch.arange(400) % 4
    first, second = confident(true, 4), confident(true, 4)
    # both networks err confidently on a tenth of the clean labels, the second on another tenth too
    first[:40] = confident((true[:40] + 1) % 4, 4)
    second[:80] = confident((true[:80] + 1) % 4, 4)
    estimate = estimate_noise_rates(first, second, true, 4)
    assert estimate.agreement == pytest.approx(0.9)
    assert estimate.error == pytest.approx(1 - math.sqrt(0.9))
    assert (estimate.raw > 0.1).all()  # the raw estimate reads their shared errors as noise ...
    assert (estimate.rates < estimate.raw - 0.04).all()  # ... the corrected one less of it


def test_networks_torn_between_two_classes_agree_on_their_top_two():
    # four samples of class 0 whose labels flip to 1 half the time: both networks put them between
    # classes 0 and 1, and split which one comes first on two of them
    first = torch.tensor([[0.6, 0.4, 0.0], [0.6, 0.4, 0.0], [0.6, 0.4, 0.0], [0.1, 0.2, 0.7]])
    second = torch.tensor([[0.6, 0.4, 0.0], [0.4, 0.6, 0.0], [0.45, 0.55, 0.0], [0.7, 0.2, 0.1]])
    assert prediction_agreement(first, second) == 0.25
    # the first three lie in each other's top two; the last (2 against 0) does not
    assert prediction_agreement(first, second, top=2) == 0.75
    with pytest.raises(ValueError, match="top must be 1 or 2"):
        prediction_agreement(first, second, top=3)
    labels = torch.tensor([0, 1, 0, 2])
    loose = estimate_noise_rates(first, second, labels, 3, agreement_top=2)
    strict = estimate_noise_rates(first, second, labels, 3)
    assert loose.error < strict.error and bool((loose.rates >= strict.rates).all())
    with pytest.raises(ValueError, match="rate agreement"):
        TrustConfig(rate_agreement="top3")


def test_the_correction_and_its_bad_inputs():
    assert agreement_error(0.81) == pytest.approx(0.1)
    corrected = corrected_rates(torch.tensor([0.3, 0.05]), 0.1)
    torch.testing.assert_close(corrected, torch.tensor([0.2 / 0.9, 0.0]))
    assert torch.isnan(corrected_rates(torch.tensor([0.3]), 1.0)).all()
    # a class whose every confident sample is counted wrong reads 1, never a rounding above it (which a
    # sized division refuses)
    errors = [i / 10007 for i in range(9000)]
    assert all(float(corrected_rates(torch.tensor([1.0]), e).max()) <= 1.0 for e in errors)
    assert float(corrected_rates(torch.tensor([1.0]), 0.1)) == 1.0
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        agreement_error(1.2)
    with pytest.raises(ValueError, match="shape"):
        estimate_noise_rates(torch.ones(5, 3), torch.ones(5, 4), torch.zeros(5, dtype=torch.long), 3)


def test_the_mean_of_estimates_averages_every_field_and_skips_a_class_one_could_not_read():
    first = NoiseRateEstimate(torch.tensor([0.4, math.nan]), 0.64, 0.2, torch.tensor([0.25, 0.0]))
    second = NoiseRateEstimate(torch.tensor([0.2, 0.3]), 0.81, 0.1, torch.tensor([0.1, 0.2]))
    mean = mean_estimate([first, second])
    torch.testing.assert_close(mean.raw, torch.tensor([0.3, 0.3]))
    torch.testing.assert_close(mean.rates, torch.tensor([0.175, 0.1]))
    assert mean.agreement == pytest.approx(0.725) and mean.error == pytest.approx(0.15)
    assert torch.equal(mean_estimate([first]).rates, first.rates)
    with pytest.raises(ValueError, match="at least one estimate"):
        mean_estimate([])


def test_a_sized_division_trusts_the_lowest_losses_of_each_class_and_a_clean_class_whole():
    labels = torch.tensor([0] * 10 + [1] * 10)
    losses = torch.cat([torch.arange(10.0), torch.arange(10.0).flip(0)])
    rates = torch.tensor([0.0, 0.3])
    trusted, score = sized_division(losses, labels, rates, score="flat")
    assert trusted[:10].all()  # no estimated noise: the class is not split (negative control)
    assert trusted[10:].tolist() == [False] * 3 + [True] * 7  # the 7 lowest losses of class 1
    # flat: trusted samples weigh 1; the untrusted ones less, the higher their loss
    torch.testing.assert_close(score[10:13], torch.tensor([0.25, 0.5, 0.75]))
    assert torch.equal(trusted, score == 1.0)
    # rank: every sample weighs the share of its class with a loss at least its own; same division
    same, rank = sized_division(losses, labels, rates)
    assert torch.equal(same, trusted) and torch.equal(trusted, rank > rates[labels])
    assert rank[0] == 1.0 and rank[9] == pytest.approx(0.1) and rank[10] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="unknown sized score"):
        sized_division(losses, labels, rates, score="posterior")
    with pytest.raises(ValueError, match="one share"):
        sized_division(losses, labels, torch.tensor([0.0, 1.5]))


def test_recalled_samples_add_to_a_sized_class_and_push_no_right_label_out():
    # class 0: ten observed samples, rate 0.4, so its 6 lowest losses (0..5) are trusted; four samples
    # recalled into it with pseudo-labels: three at losses inside the trusted range stay trusted, one
    # above it does not, and the observed samples trusted are the same 6 as without them
    labels = torch.zeros(14, dtype=torch.long)
    losses = torch.tensor([*range(10), 0.5, 1.5, 2.5, 9.5], dtype=torch.float)
    recalled = torch.tensor([False] * 10 + [True] * 4)
    rates = torch.tensor([0.4])
    trusted, _ = sized_division(losses, labels, rates, recalled=recalled)
    assert trusted.tolist() == [True] * 6 + [False] * 4 + [True] * 3 + [False]
    # counted toward the size, the recalls would push the observed sample with loss 5 out
    plain, _ = sized_division(losses, labels, rates)
    assert int(plain.sum()) == round(0.6 * 14) and not plain[5] and plain[10:13].all()
    # divide passes its recalled samples on; a recall that is no longer trusted loses its status
    split = divide(losses, labels, recalled, 1, config=TrustConfig(), seed=0, noise_rates=rates)
    assert torch.equal(split.trusted, trusted) and torch.equal(split.recalled, recalled & trusted)
    # two of class 0's observed samples (losses 8, 9) recalled out into class 1: taken for two of its
    # four wrong labels, they leave the six trusted places of class 0 to the others
    moved = torch.tensor([0] * 8 + [1] * 2)
    out = torch.tensor([False] * 8 + [True] * 2)
    rates = torch.tensor([0.4, 0.0])
    observed = torch.zeros(10, dtype=torch.long)
    kept, _ = sized_division(torch.arange(10.0), moved, rates, recalled=out, observed=observed)
    assert kept[:8].tolist() == [True] * 6 + [False] * 2
    # counted on the labels alone, class 0 would keep 60% of its eight, five
    assert int(sized_division(torch.arange(10.0), moved, rates, recalled=out)[0][:8].sum()) == 5


def test_divide_with_rates_splits_off_the_injected_flips_and_keeps_the_clean_class():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(300) % 3
    losses = torch.rand(300, generator=gen) * 0.5
    flipped = (labels == 1) & (torch.arange(300) < 120)  # 40 of class 1's 100 samples: high losses
    losses[flipped] += 2.0
    none = torch.zeros(300, dtype=torch.bool)
    rates = torch.tensor([0.0, 0.4, 0.0])
    split = divide(losses, labels, none, 3, config=TrustConfig(), seed=0, noise_rates=rates)
    assert torch.equal(split.untrusted, flipped)
    assert torch.equal(split.thresholds, rates)


def test_the_consensus_of_sized_experts_keeps_the_estimated_size():
    rates = torch.tensor([0.5, 0.0])
    labels = torch.tensor([0, 0, 0, 0, 1, 1])

    def expert(score):
        s = torch.tensor(score)
        return Expert(torch.zeros(1, 1), [], s == 1.0, labels, [], s, rates)

    experts = [expert([1.0, 1.0, 0.6, 0.3, 1.0, 1.0]), expert([1.0, 0.6, 1.0, 0.3, 1.0, 1.0])]
    trusted, majority, _ = consensus_split(experts)
    assert torch.equal(majority, labels)
    # class 0 keeps 2 of 4 by mean score (1.0, 0.8, 0.8, 0.3): sample 0, then sample 1 of the tie;
    # class 1 whole
    assert trusted.tolist() == [True, True, False, False, True, True]
    # sample 5, observed as class 1, was recalled into class 0 by both experts with a high score: it
    # joins class 0's trusted samples without taking the place of an observed one
    relabelled = labels.clone()
    relabelled[5] = 0
    recalled = [
        Expert(torch.zeros(1, 1), [], torch.tensor(s) > 0.5, relabelled, [], torch.tensor(s), rates)
        for s in ([1.0, 1.0, 0.6, 0.3, 1.0, 0.9], [1.0, 0.6, 1.0, 0.3, 1.0, 0.9])
    ]
    trusted, majority, _ = consensus_split(recalled, observed=labels)
    assert torch.equal(majority, relabelled)
    assert trusted.tolist() == [True, True, False, False, True, True]
    # counted toward class 0's size instead, it would push the observed sample 1 out
    assert consensus_split(recalled)[0].tolist() == [True, False, False, False, True, True]


def test_estimated_sizing_needs_two_plain_experts():
    with pytest.raises(ValueError, match="num_experts to at least 2"):
        ExperimentConfig(expert=ExpertConfig(num_experts=1), trust=TrustConfig(sizing="estimated"))
    with pytest.raises(ValueError, match="trust sizing"):
        TrustConfig(sizing="guess")
    with pytest.raises(ValueError, match="sized score"):
        TrustConfig(sized_score="posterior")
