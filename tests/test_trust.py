"""Tests for tad.trust: the class-wise GMM division, thresholds, scoring and the consistency term."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tad.config import TrustConfig
from tad.device import inference_batch
from tad.models import ConvNet
from tad.trust import (
    class_thresholds,
    clean_posteriors,
    consistency_loss,
    divide,
    everyone_trusted,
    fit_class_gmms,
    gmm_clean_posterior,
    guard_class_minimum,
    normalise_losses,
    score_samples,
    update_loss_average,
)

NUM_CLASSES = 5


def planted_losses(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """300 clean losses ~ N(0.2, 0.05) and 200 noisy ones ~ N(2.0, 0.3), 100 samples in each of 5 classes."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(NUM_CLASSES).repeat_interleave(100)
    is_clean = torch.zeros(500, dtype=torch.bool)
    for c in range(NUM_CLASSES):
        is_clean[c * 100 : c * 100 + 60] = True
    losses = torch.where(
        is_clean,
        0.2 + 0.05 * torch.randn(500, generator=g),
        2.0 + 0.3 * torch.randn(500, generator=g),
    ).clamp(min=0.0)
    order = torch.randperm(500, generator=g)
    return losses[order], labels[order], is_clean[order]


@pytest.mark.parametrize(
    "config",
    [
        TrustConfig(),
        TrustConfig(threshold_rule="classmean"),
        TrustConfig(threshold_rule="global"),
        TrustConfig(classwise_gmm=False),
    ],
    ids=["flexmatch", "classmean", "global", "one-gmm"],
)
def test_divide_recovers_a_planted_bimodal_sample(config):
    losses, labels, is_clean = planted_losses()
    split = divide(losses, labels, torch.zeros(500, dtype=torch.bool), NUM_CLASSES, config=config, seed=0)
    assert float((split.trusted == is_clean).float().mean()) >= 0.95
    assert split.p_clean[is_clean].mean() > 0.9 > 0.1 > split.p_clean[~is_clean].mean()
    assert torch.equal(split.labels, labels)
    assert split.thresholds.shape == (NUM_CLASSES,)
    assert not split.recalled.any()


def test_divide_is_seeded():
    losses, labels, _ = planted_losses(seed=1)
    none = torch.zeros(500, dtype=torch.bool)
    first = divide(losses, labels, none, NUM_CLASSES, config=TrustConfig(), seed=3)
    second = divide(losses, labels, none, NUM_CLASSES, config=TrustConfig(), seed=3)
    assert torch.equal(first.trusted, second.trusted)
    assert torch.equal(first.p_clean, second.p_clean)
    assert torch.equal(first.thresholds, second.thresholds)


def test_divide_keeps_recalled_status_only_for_trusted_samples():
    losses, labels, is_clean = planted_losses()
    recalled = torch.zeros(500, dtype=torch.bool)
    good = torch.nonzero(is_clean)[:3, 0]
    bad = torch.nonzero(~is_clean)[:3, 0]
    recalled[good] = True
    recalled[bad] = True
    split = divide(losses, labels, recalled, NUM_CLASSES, config=TrustConfig(), seed=0)
    assert split.recalled[good].all()
    assert not split.recalled[bad].any()
    assert torch.equal(split.recalled, recalled & split.trusted)


def test_divide_keeps_the_class_minimum():
    losses, labels, _ = planted_losses()
    strict = TrustConfig(threshold_rule="global", tau=1.0, min_trusted_fraction=0.5)
    split = divide(losses, labels, torch.zeros(500, dtype=torch.bool), NUM_CLASSES, config=strict, seed=0)
    assert split.class_sizes(NUM_CLASSES).min() >= 50


def test_per_class_normalisation_is_invariant_to_a_per_class_affine_map():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (200,), generator=g)
    losses = torch.rand(200, generator=g)
    shift = torch.tensor([0.0, 5.0, -2.0, 100.0])
    scale = torch.tensor([1.0, 3.0, 0.5, 20.0])
    moved = losses * scale[labels] + shift[labels]
    normalised = normalise_losses(losses, labels, 4)
    torch.testing.assert_close(normalise_losses(moved, labels, 4), normalised, atol=1e-5, rtol=0)
    for c in range(4):
        assert normalised[labels == c].min() == 0.0
        assert normalised[labels == c].max() == pytest.approx(1.0, abs=1e-6)
    assert not torch.allclose(normalise_losses(moved, labels, 4, per_class=False), normalised, atol=1e-2)


def test_normalisation_leaves_absent_classes_alone_and_handles_constants():
    labels = torch.tensor([0, 0, 2, 2])
    losses = torch.tensor([1.0, 3.0, 5.0, 5.0])
    assert normalise_losses(losses, labels, 3).tolist() == pytest.approx([0.0, 1.0, 0.0, 0.0])


def test_gmm_posterior_orders_components_and_skips_degenerate_inputs():
    values = torch.cat([torch.linspace(0.0, 0.1, 20), torch.linspace(0.9, 1.0, 20)])
    posterior, (low, high) = gmm_clean_posterior(values, config=TrustConfig(), seed=0)
    assert low < 0.2 < 0.8 < high
    assert (posterior[:20] > 0.99).all() and (posterior[20:] < 0.01).all()
    few, _ = gmm_clean_posterior(torch.tensor([0.0, 1.0, 2.0]), config=TrustConfig(), seed=0)
    flat, _ = gmm_clean_posterior(torch.full((10,), 0.5), config=TrustConfig(), seed=0)
    assert torch.equal(few, torch.ones(3)) and torch.equal(flat, torch.ones(10))


def test_clean_posteriors_skip_empty_classes():
    losses, labels, _ = planted_losses()
    w = clean_posteriors(losses, labels, NUM_CLASSES + 2, config=TrustConfig(), seed=0)
    assert w.shape == (500,) and ((w >= 0) & (w <= 1)).all()


def posteriors_with_pass_shares(shares: list[float], tau: float, per_class: int = 10) -> tuple:
    """p_clean and labels where class c has ``shares[c]`` of its samples at or above ``tau``."""
    labels = torch.arange(len(shares)).repeat_interleave(per_class)
    p_clean = torch.zeros(len(labels))
    for c, share in enumerate(shares):
        passing = round(share * per_class)
        p_clean[c * per_class : c * per_class + passing] = 1.0
        p_clean[c * per_class + passing : (c + 1) * per_class] = tau / 2
    return p_clean, labels


def test_global_thresholds_are_tau():
    p_clean, labels = posteriors_with_pass_shares([1.0, 0.5, 0.0], 0.6)
    config = TrustConfig(threshold_rule="global", tau=0.6)
    assert class_thresholds(p_clean, labels, 3, config=config).tolist() == pytest.approx([0.6] * 3)


def test_classmean_thresholds_are_clipped_class_means():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    p_clean = torch.tensor([0.1, 0.1, 0.4, 0.6, 1.0, 0.98])
    config = TrustConfig(threshold_rule="classmean", tau_min=0.3, tau_max=0.9)
    got = class_thresholds(p_clean, labels, 3, config=config)
    assert got.tolist() == pytest.approx([0.3, 0.5, 0.9])


def test_flexmatch_thresholds_scale_with_the_passing_share():
    p_clean, labels = posteriors_with_pass_shares([0.8, 0.4, 0.2, 0.0], 0.5)
    config = TrustConfig(threshold_rule="flexmatch", tau=0.5, tau_min=0.2)
    got = class_thresholds(p_clean, labels, 4, config=config)
    assert got.tolist() == pytest.approx([0.5, 0.25, 0.2, 0.2])
    assert float(got.max()) == pytest.approx(config.tau)
    assert (got >= config.tau_min).all()


def test_guard_class_minimum_trusts_the_best_scored_samples_of_a_short_class():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 2, 2])
    scores = torch.tensor([0.1, 0.9, 0.5, 0.7, 0.3, 0.2, 0.8, 0.4, 0.6])
    trusted = torch.tensor([True, False, False, False, True, False, True, False, False])
    before = trusted.clone()
    minimum = torch.tensor([3, 1, 5])
    guarded = guard_class_minimum(trusted, scores, labels, 3, minimum)
    # Class 0 has one trusted sample of the three it needs: its three best-scored ones join it (so it
    # ends with four); class 1 already has enough; class 2 is smaller than its minimum: all trusted.
    expected = torch.tensor([True, True, True, True, True, False, True, True, True])
    assert torch.equal(guarded, expected)
    assert torch.equal(trusted, before)  # the input is not modified
    assert torch.equal(guard_class_minimum(expected, scores, labels, 3, minimum), expected)


def test_update_loss_average():
    old, new = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([3.0, 0.0, 1.0])
    reset = torch.tensor([False, False, True])
    assert torch.equal(update_loss_average(None, new, momentum=0.9, reset=reset), new)
    assert torch.equal(update_loss_average(old, new, momentum=0.0, reset=reset), new)
    got = update_loss_average(old, new, momentum=0.75, reset=reset)
    assert got.tolist() == pytest.approx([1.5, 1.5, 1.0])


def test_everyone_trusted_and_split_properties():
    labels = torch.tensor([2, 0, 2, 1])
    split = everyone_trusted(labels, 4)
    assert split.fraction == 1.0 and not split.untrusted.any() and not split.recalled.any()
    assert split.class_sizes(4).tolist() == [1, 1, 2, 0]
    labels[0] = 3
    assert split.labels[0] == 2  # a copy, not a view of the caller's labels


def test_score_samples_equals_a_manual_forward():
    torch.manual_seed(0)
    net = ConvNet(1, 3, 8, width=4, depth=2)
    images = torch.randn(10, 1, 8, 8)
    labels = torch.randint(0, 3, (10,))
    net.train()
    scores = score_samples(net, images, labels, batch_size=3)
    assert net.training  # the mode is restored
    with torch.no_grad():
        logits = net(images)
        features = net.embed(images)
    assert scores.losses.shape == (10,)
    assert scores.probs.shape == (10, 3)
    assert scores.features.shape == (10, net.feature_dim)
    torch.testing.assert_close(scores.losses, F.cross_entropy(logits, labels, reduction="none"))
    torch.testing.assert_close(scores.probs, logits.softmax(dim=1))
    torch.testing.assert_close(scores.features, features)
    net.eval()
    score_samples(net, images, labels)
    assert not net.training


def test_consistency_loss_value_and_gradient():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 4, generator=g, requires_grad=True)
    same = logits.detach().softmax(dim=1).requires_grad_(True)
    assert float(consistency_loss(logits, same).detach()) == pytest.approx(0.0, abs=1e-12)
    targets = torch.rand(6, 4, generator=g).softmax(dim=1).requires_grad_(True)
    loss = consistency_loss(logits, targets)
    manual = ((logits.softmax(dim=1) - targets) ** 2).sum(dim=1).mean()
    assert float(loss.detach()) == pytest.approx(float(manual.detach()))
    loss.backward()
    assert targets.grad is None
    assert logits.grad is not None and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("classwise", [True, False], ids=["per-class", "global"])
def test_fit_class_gmms_are_the_mixtures_the_division_used(classwise):
    losses, labels, _ = planted_losses()
    config = TrustConfig(classwise_gmm=classwise)
    fits = fit_class_gmms(losses, labels, NUM_CLASSES, config=config, seed=3)
    posterior = clean_posteriors(losses, labels, NUM_CLASSES, config=config, seed=3)
    normalised = normalise_losses(losses, labels, NUM_CLASSES, per_class=classwise)
    assert len(fits) == NUM_CLASSES
    for c, fit in enumerate(fits):
        idx = labels == c
        assert fit is not None and fit.means[0] < fit.means[1]
        assert sum(fit.weights) == pytest.approx(1.0)
        assert min(fit.variances) > 0
        # The planted split is 60% clean, 40% noisy in every class.
        assert fit.weights[0] == pytest.approx(0.6, abs=0.05)
        recomputed = torch.from_numpy(fit.clean_posterior(normalised[idx].numpy())).float()
        torch.testing.assert_close(recomputed, posterior[idx], atol=1e-5, rtol=0)


def test_mixture_fit_densities_integrate_to_the_weights():
    losses, labels, _ = planted_losses()
    fit = fit_class_gmms(losses, labels, NUM_CLASSES, config=TrustConfig(), seed=0)[0]
    grid = np.linspace(-2.0, 3.0, 20001)
    mass = fit.densities(grid).sum(axis=0) * (grid[1] - grid[0])
    np.testing.assert_allclose(mass, fit.weights, atol=1e-4)


def test_fit_class_gmms_marks_an_unsplittable_class():
    losses = torch.tensor([0.1, 0.5, 0.9, 0.3, 0.7, 1.0, 1.0])
    labels = torch.tensor([0, 0, 0, 0, 0, 1, 1])  # class 1 has two samples; class 2 has none
    fits = fit_class_gmms(losses, labels, 3, config=TrustConfig(), seed=0)
    assert fits[0] is not None and fits[1] is None and fits[2] is None


def test_the_first_division_waits_for_the_loss_to_fall():
    trust = TrustConfig(warmup_fraction=0.2, latest_start_fraction=0.5, start_loss_drop=0.1)
    ln10 = float(np.log(10))
    assert not trust.ready_to_divide(1, 20, 0.5, 10)  # before the earliest start, whatever the loss
    assert not trust.ready_to_divide(4, 20, 0.95 * ln10, 10)  # the loss has not fallen 10% below ln C
    assert trust.ready_to_divide(4, 20, 0.85 * ln10, 10)
    assert trust.ready_to_divide(10, 20, ln10, 10)  # the latest start, whatever the loss


def test_the_scoring_batch_size_changes_nothing_but_the_speed():
    # inference_batch picks small CPU batches for speed; each image's scores must not depend on them
    torch.manual_seed(0)
    net = ConvNet(3, 4, 16, width=8, depth=2)
    images = torch.randn(300, 3, 16, 16)
    labels = torch.randint(0, 4, (300,))
    assert inference_batch(torch.device("cpu")) == 128
    assert inference_batch(torch.device("cuda")) == 1024
    default, large = score_samples(net, images, labels), score_samples(net, images, labels, batch_size=300)
    for field in ("losses", "probs", "features"):
        torch.testing.assert_close(getattr(default, field), getattr(large, field), rtol=1e-5, atol=1e-6)
