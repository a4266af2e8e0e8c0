"""Tests for tad.diversion: one TAD step (divide, re-check, recall) and the trust diagnostics."""

from __future__ import annotations

import pytest
import torch

from tad.config import RecalibConfig, TrustConfig
from tad.diversion import TrustState, trust_diagnostics, trust_step
from tad.trust import SampleScores, TrustSplit, everyone_trusted

NUM_CLASSES = 4


def synthetic_problem(seed: int = 0) -> dict[str, torch.Tensor]:
    """400 samples in 4 well-separated feature clusters, 30% of labels flipped c -> c+1.

    Losses against the observed labels are low for correct labels and high for flipped ones, and the
    classifier predicts the nearest cluster: what a trust model that has learnt the clean signal sees.
    """
    g = torch.Generator().manual_seed(seed)
    clean = torch.arange(NUM_CLASSES).repeat_interleave(100)
    centres = 5.0 * torch.eye(NUM_CLASSES, 8)
    features = centres[clean] + torch.randn(400, 8, generator=g)
    flipped = torch.rand(400, generator=g) < 0.3
    noisy = torch.where(flipped, (clean + 1) % NUM_CLASSES, clean)
    probs = (-torch.cdist(features, centres)).softmax(dim=1)
    return {"clean": clean, "noisy": noisy, "features": features, "probs": probs}


def scores_against(labels: torch.Tensor, problem: dict[str, torch.Tensor], seed: int = 1) -> SampleScores:
    """Bimodal losses: ~N(0.2, 0.05) where ``labels`` are right, ~N(2.0, 0.3) where they are wrong."""
    g = torch.Generator().manual_seed(seed)
    right = labels == problem["clean"]
    low = 0.2 + 0.05 * torch.randn(len(labels), generator=g)
    high = 2.0 + 0.3 * torch.randn(len(labels), generator=g)
    return SampleScores(torch.where(right, low, high).clamp(min=0), problem["probs"], problem["features"])


def step(
    p: dict[str, torch.Tensor],
    state: TrustState,
    scores: SampleScores,
    *,
    trust: TrustConfig | None = None,
    recalib: RecalibConfig | None = None,
    seed: int = 0,
) -> TrustState:
    """One trust step against ``p``'s observed labels (default: the default outer step, no recall)."""
    trust = trust or TrustConfig()
    recalib = recalib or RecalibConfig(enabled=False)
    return trust_step(scores, state, p["noisy"], NUM_CLASSES, trust=trust, recalib=recalib, seed=seed)


def test_trust_step_divides_then_recalls_with_correct_pseudo_labels():
    p = synthetic_problem()
    state = TrustState(split=everyone_trusted(p["noisy"], NUM_CLASSES))
    scores = scores_against(p["noisy"], p)
    new = step(p, state, scores, recalib=RecalibConfig(recall_cap=0.5))
    split = new.split
    assert new.newly_recalled == int(split.recalled.sum()) > 0
    assert int(split.recalled.sum()) <= int(0.5 * (400 - (split.trusted & ~split.recalled).sum()))
    changed = split.labels != p["noisy"]
    assert not (changed & ~split.recalled).any()  # only recalled samples carry a pseudo-label
    assert float((split.labels[split.recalled] == p["clean"][split.recalled]).float().mean()) >= 0.95
    precision = float((split.labels[split.trusted] == p["clean"][split.trusted]).float().mean())
    assert precision >= 0.95 > 0.8 > float((p["noisy"] == p["clean"]).float().mean())
    torch.testing.assert_close(new.loss_average, scores.losses)


def test_trust_step_without_recall_only_divides():
    p = synthetic_problem()
    state = TrustState(split=everyone_trusted(p["noisy"], NUM_CLASSES))
    new = step(p, state, scores_against(p["noisy"], p))
    assert new.newly_recalled == 0 and not new.split.recalled.any()
    assert torch.equal(new.split.labels, p["noisy"])
    correct = p["noisy"] == p["clean"]
    assert float((new.split.trusted == correct).float().mean()) >= 0.95


def test_a_recalled_sample_failing_the_recheck_gets_its_noisy_label_back():
    p = synthetic_problem()
    flipped = torch.nonzero(p["noisy"] != p["clean"]).squeeze(1)
    kept, dropped = int(flipped[0]), int(flipped[1])
    labels = p["noisy"].clone()
    labels[kept] = p["clean"][kept]  # a correct pseudo-label: low loss, passes the re-check
    labels[dropped] = (p["clean"][dropped] + 2) % NUM_CLASSES  # a wrong one: high loss, fails it
    recalled = torch.zeros(400, dtype=torch.bool)
    recalled[[kept, dropped]] = True
    previous = TrustSplit(
        trusted=(p["noisy"] == p["clean"]) | recalled,
        labels=labels,
        recalled=recalled,
        p_clean=torch.ones(400),
        thresholds=torch.full((NUM_CLASSES,), 0.5),
    )
    new = step(p, TrustState(split=previous), scores_against(labels, p))
    split = new.split
    assert split.trusted[kept] and split.recalled[kept] and split.labels[kept] == p["clean"][kept]
    assert not split.trusted[dropped] and not split.recalled[dropped]
    assert split.labels[dropped] == p["noisy"][dropped]


def test_trust_step_is_seeded():
    p = synthetic_problem()
    state = TrustState(split=everyone_trusted(p["noisy"], NUM_CLASSES))
    scores = scores_against(p["noisy"], p)
    runs = [step(p, state, scores, recalib=RecalibConfig(), seed=5) for _ in range(2)]
    assert torch.equal(runs[0].split.trusted, runs[1].split.trusted)
    assert torch.equal(runs[0].split.labels, runs[1].split.labels)


def test_loss_average_carries_over_for_unchanged_labels():
    p = synthetic_problem()
    state = TrustState(split=everyone_trusted(p["noisy"], NUM_CLASSES), loss_average=torch.full((400,), 1.0))
    scores = scores_against(p["noisy"], p)
    new = step(p, state, scores, trust=TrustConfig(loss_ema=0.5))
    torch.testing.assert_close(new.loss_average, 0.5 + 0.5 * scores.losses)


def test_a_recalled_sample_starts_a_fresh_loss_average():
    p = synthetic_problem()
    noisy = p["noisy"]
    flipped = int(torch.nonzero(noisy != p["clean"])[0, 0])
    state = TrustState(split=everyone_trusted(noisy, NUM_CLASSES))
    trust = TrustConfig(loss_ema=0.9)
    no_recall = RecalibConfig(enabled=False)
    scores = scores_against(noisy, p)
    first = trust_step(scores, state, noisy, NUM_CLASSES, trust=trust, recalib=no_recall, seed=0)
    # The inner loop recalls the flipped sample with its correct label (done by hand, to isolate the average).
    labels = first.split.labels.clone()
    labels[flipped] = p["clean"][flipped]
    recalled = first.split.recalled.clone()
    recalled[flipped] = True
    trusted = first.split.trusted.clone()
    trusted[flipped] = True
    split = TrustSplit(trusted, labels, recalled, first.split.p_clean, first.split.thresholds)
    loss_average = first.loss_average.clone()  # measured against the OLD (noisy) label
    second = trust_step(
        scores_against(labels, p, seed=2),
        TrustState(split=split, loss_average=loss_average, average_labels=first.average_labels),
        noisy,
        NUM_CLASSES,
        trust=trust,
        recalib=no_recall,
        seed=0,
    )
    # Against its new, correct label the sample is as easy as any clean one: it should stay recalled.
    assert second.split.recalled[flipped] and second.split.labels[flipped] == p["clean"][flipped]


def hand_made_split() -> tuple[TrustSplit, torch.Tensor, torch.Tensor]:
    clean = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1])
    noisy = torch.tensor([0, 1, 1, 2, 2, 0, 0, 1])  # samples 1, 3 and 5 are flipped
    split = TrustSplit(
        trusted=torch.tensor([True, True, True, True, False, True, False, True]),
        labels=torch.tensor([0, 0, 1, 1, 2, 1, 0, 1]),  # 1 and 3 recalled correctly, 5 wrongly
        recalled=torch.tensor([False, True, False, True, False, True, False, False]),
        p_clean=torch.ones(8),
        thresholds=torch.full((3,), 0.5),
    )
    return split, noisy, clean


def test_trust_diagnostics_on_a_hand_made_split():
    split, noisy, clean = hand_made_split()
    out = trust_diagnostics(split, noisy, clean, 3)
    assert out["trusted_size"] == 6
    assert out["trusted_fraction"] == pytest.approx(0.75)
    assert out["recalled_size"] == 3
    assert out["class_sizes"] == [2, 4, 0]
    assert out["precision"] == pytest.approx(5 / 6)  # trusted 0,1,2,3,5,7; only 5 is wrong
    assert out["recall"] == pytest.approx(3 / 5)  # correct observed labels 0,2,4,6,7; trusted 0,2,7
    assert out["pseudo_label_accuracy"] == pytest.approx(2 / 3)


def test_trust_diagnostics_without_clean_labels_report_sizes_only():
    split, noisy, _ = hand_made_split()
    out = trust_diagnostics(split, noisy, None, 3)
    assert out["trusted_size"] == 6
    assert out["precision"] is None and out["recall"] is None and out["pseudo_label_accuracy"] is None


def test_trust_diagnostics_of_the_initial_split():
    _, noisy, clean = hand_made_split()
    out = trust_diagnostics(everyone_trusted(noisy, 3), noisy, clean, 3)
    assert out["precision"] == pytest.approx(5 / 8)
    assert out["recall"] == 1.0
    assert out["pseudo_label_accuracy"] is None
