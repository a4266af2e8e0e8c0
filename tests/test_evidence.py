"""Tests for tad.evidence: the noise-evidence test, alone and as the division uses it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from tad.config import TrustConfig
from tad.evidence import class_evidence, class_seed, noise_evidence
from tad.trust import clean_posteriors, divide


def skewed_clean_and_flipped(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class 0: 400 clean samples with skewed (gamma) losses, a long tail of hard ones.
    Class 1: 240 such clean samples and 160 flipped ones whose loss sits near -log(0.03)."""
    g = np.random.default_rng(seed)
    clean0 = g.gamma(1.5, 0.3, 400)
    clean1 = g.gamma(1.5, 0.3, 240)
    flipped = g.normal(3.5, 0.4, 160)
    losses = torch.tensor(np.concatenate([clean0, clean1, flipped]), dtype=torch.float32)
    labels = torch.tensor([0] * 400 + [1] * 400)
    is_flipped = torch.tensor([False] * 640 + [True] * 160)
    return losses, labels, is_flipped


def test_evidence_leaves_a_clean_class_whole_and_splits_a_class_with_flips():
    losses, labels, is_flipped = skewed_clean_and_flipped()
    config = TrustConfig()
    # ten classes (eight of them absent), so a label the model knows nothing about costs ln 10
    evidence = class_evidence(losses, labels, 10, config=config, seed=0)
    assert not evidence[0].split  # negative control: no wrong-label component
    assert evidence[1].split  # positive control: a component at the loss of a wrong label
    assert evidence[1].high_loss > np.log(10) > evidence[0].high_loss
    w = clean_posteriors(losses, labels, 10, config=config, seed=0)
    assert torch.equal(w[labels == 0], torch.ones(400))
    split = divide(losses, labels, torch.zeros(800, dtype=torch.bool), 10, config=config, seed=0)
    assert split.trusted[labels == 0].all()
    assert float((split.trusted[labels == 1] == ~is_flipped[labels == 1]).float().mean()) > 0.95
    # without the test, the skewed clean class is split like any other: the easiness filter
    forced = divide(
        losses, labels, torch.zeros(800, dtype=torch.bool), 10, config=replace(config, evidence=False), seed=0
    )
    assert not forced.trusted[labels == 0].all()


def test_each_evidence_criterion_can_refuse_a_split():
    losses, labels, _ = skewed_clean_and_flipped()
    noisy = losses[labels == 1]
    assert noise_evidence(noisy, 10, config=TrustConfig(), seed=0).split
    assert not noise_evidence(noisy, 10, config=TrustConfig(evidence_separation=50.0), seed=0).split
    assert not noise_evidence(noisy, 10, config=TrustConfig(evidence_wrong_level=2.0), seed=0).split
    assert not noise_evidence(noisy, 10, config=TrustConfig(evidence_bic=1e6), seed=0).split
    assert not noise_evidence(noisy[:10], 10, config=TrustConfig(), seed=0).split  # too few samples
    # the optional ratio test: split when the high component sits far above the right-label loss
    agreed = torch.arange(noisy.numel()) < 240
    ratio = TrustConfig(evidence_wrong_level=2.0, evidence_ratio=3.0)
    assert noise_evidence(noisy, 10, config=ratio, seed=0, agreed=agreed).split
    assert not noise_evidence(noisy, 10, config=ratio, seed=0).split  # no right-label level known


def test_class_seeds_differ_by_class_and_follow_the_seed():
    assert [class_seed(7, c) for c in range(3)] == [7, 8, 9]
