"""Tests for tad.recalibrate: anchors, covariance, Mahalanobis and cosine reliability, and recall."""

from __future__ import annotations

import math

import pytest
import torch

from tad.config import RecalibConfig
from tad.recalibrate import (
    Recalibration,
    anchor_subspace,
    apply_recall,
    class_anchors,
    class_cuts,
    cosine_similarities,
    fit_temperature,
    mahalanobis_distances,
    prepare_features,
    recalibrate,
    reliability_scores,
    select_recalls,
    shared_covariance,
    whitening_matrix,
)
from tad.trust import TrustSplit


def random_spd(d: int, g: torch.Generator) -> torch.Tensor:
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T + 0.5 * torch.eye(d, dtype=torch.float64)


def test_whitening_matrix_inverts_the_covariance():
    cov = random_spd(6, torch.Generator().manual_seed(0))
    w = whitening_matrix(cov)
    torch.testing.assert_close(w @ w.T, torch.linalg.inv(cov), atol=1e-10, rtol=1e-8)


def test_mahalanobis_distances_equal_the_direct_quadratic_form():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(20, 5, generator=g, dtype=torch.float64)
    anchors = torch.randn(3, 5, generator=g, dtype=torch.float64)
    cov = random_spd(5, g)
    inverse = torch.linalg.inv(cov)
    direct = torch.empty(20, 3, dtype=torch.float64)
    for i in range(20):
        for c in range(3):
            diff = z[i] - anchors[c]
            direct[i, c] = torch.sqrt(diff @ inverse @ diff)
    got = mahalanobis_distances(z, anchors, whitening_matrix(cov))
    assert got.shape == (20, 3)
    torch.testing.assert_close(got, direct, atol=1e-4, rtol=0)


def test_mahalanobis_distance_to_itself_is_zero():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(4, 3, generator=g, dtype=torch.float64)
    got = mahalanobis_distances(z, z, whitening_matrix(random_spd(3, g)))
    torch.testing.assert_close(torch.diagonal(got), torch.zeros(4, dtype=torch.float64), atol=1e-6, rtol=0)


def test_class_anchors_are_masked_class_means():
    g = torch.Generator().manual_seed(3)
    features = torch.randn(30, 4, generator=g)
    labels = torch.randint(0, 3, (30,), generator=g)
    labels[:3] = torch.tensor([0, 1, 3])  # class 3 has a single sample ...
    mask = torch.rand(30, generator=g) < 0.6
    mask[2] = False  # ... which is masked out
    anchors = class_anchors(features, labels, mask, 4)
    for c in range(3):
        torch.testing.assert_close(anchors[c], features[mask & (labels == c)].mean(dim=0))
    assert torch.equal(anchors[3], torch.zeros(4))


def within_class_data(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    features = torch.randn(40, 3, generator=g, dtype=torch.float64)
    labels = torch.arange(40) % 3
    features += 4.0 * labels[:, None].double()
    mask = torch.rand(40, generator=g) < 0.7
    return features, labels, mask


def test_shared_covariance_without_shrinkage_is_the_pooled_within_class_covariance():
    features, labels, mask = within_class_data(torch.Generator().manual_seed(4))
    anchors = class_anchors(features, labels, mask, 3)
    pooled = torch.zeros(3, 3, dtype=torch.float64)
    for c in range(3):
        members = features[mask & (labels == c)]
        centred = members - members.mean(dim=0)
        pooled += centred.T @ centred
    pooled /= int(mask.sum())
    got = shared_covariance(features, labels, mask, anchors, shrinkage=0.0)
    torch.testing.assert_close(got, pooled)


def test_full_shrinkage_gives_the_scaled_identity_and_half_mixes():
    features, labels, mask = within_class_data(torch.Generator().manual_seed(5))
    anchors = class_anchors(features, labels, mask, 3)
    raw = shared_covariance(features, labels, mask, anchors, shrinkage=0.0)
    identity = torch.eye(3, dtype=torch.float64) * torch.trace(raw) / 3
    torch.testing.assert_close(shared_covariance(features, labels, mask, anchors, shrinkage=1.0), identity)
    half = shared_covariance(features, labels, mask, anchors, shrinkage=0.5)
    torch.testing.assert_close(half, 0.5 * raw + 0.5 * identity)


def test_cosine_similarities():
    g = torch.Generator().manual_seed(6)
    z = torch.randn(15, 4, generator=g)
    anchors = torch.randn(3, 4, generator=g)
    got = cosine_similarities(z, anchors)
    assert got.shape == (15, 3)
    assert ((got >= -1 - 1e-6) & (got <= 1 + 1e-6)).all()
    manual = torch.tensor(
        [[float(torch.nn.functional.cosine_similarity(zi, a, dim=0)) for a in anchors] for zi in z]
    )
    torch.testing.assert_close(got, manual, atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.diagonal(cosine_similarities(anchors, anchors)), torch.ones(3))


def test_prepare_features_centres_on_the_trusted_mean():
    g = torch.Generator().manual_seed(7)
    features = torch.rand(12, 5, generator=g) + 3.0
    trusted = torch.arange(12) < 8
    centred = prepare_features(features, trusted, normalise=False)
    torch.testing.assert_close(centred[trusted].mean(dim=0), torch.zeros(5), atol=1e-6, rtol=0)
    unit = prepare_features(features, trusted, normalise=True)
    torch.testing.assert_close(unit.norm(dim=1), torch.ones(12))


DISTANCES = torch.tensor([[0.1, 2.0, 3.0], [1.0, 0.5, 2.0], [0.2, 0.3, 5.0]])
COSINES = torch.tensor([[0.9, 0.1, -0.2], [0.8, 0.3, 0.1], [-0.5, 0.2, 0.1]])


def test_mahalanobis_reliability():
    cand, rel, agree = reliability_scores(DISTANCES, COSINES, mode="mahalanobis", temperature=0.5)
    assert cand.tolist() == [0, 1, 0]
    expected = (-(DISTANCES**2) / (2 * 0.5)).softmax(dim=1)[torch.arange(3), cand]
    torch.testing.assert_close(rel, expected)
    assert agree.all()
    _, sharper, _ = reliability_scores(DISTANCES, COSINES, mode="mahalanobis", temperature=0.1)
    assert (sharper > rel).all()


def test_cosine_reliability():
    cand, rel, agree = reliability_scores(DISTANCES, COSINES, mode="cosine", temperature=1.0)
    assert cand.tolist() == [0, 0, 1]
    torch.testing.assert_close(rel, torch.tensor([0.9, 0.8, 0.2]))
    assert agree.all()
    _, clipped, _ = reliability_scores(DISTANCES, -COSINES.abs(), mode="cosine", temperature=1.0)
    assert torch.equal(clipped, torch.zeros(3))


def test_combined_reliability_needs_both_measures_to_agree():
    cand, rel, agree = reliability_scores(DISTANCES, COSINES, mode="both", temperature=1.0)
    maha = (-(DISTANCES**2) / 2).softmax(dim=1)
    assert cand.tolist() == [0, 1, 0]
    assert agree.tolist() == [True, False, False]
    expected = torch.stack([maha[0, 0] * 0.9, maha[1, 1] * 0.3, maha[2, 0] * 0.0])
    torch.testing.assert_close(rel, expected)
    assert ((rel >= 0) & (rel <= 1)).all()


def test_select_recalls_respects_gamma_eligibility_and_cap():
    reliability = torch.tensor([0.9, 0.95, 0.5, 0.99, 0.85])
    eligible = torch.tensor([True, True, True, False, True])
    everyone = select_recalls(reliability, eligible, gamma=0.8, cap=10)
    assert torch.equal(everyone, torch.tensor([True, True, False, False, True]))
    capped = select_recalls(reliability, eligible, gamma=0.8, cap=2)
    assert torch.equal(capped, torch.tensor([True, True, False, False, False]))
    assert not select_recalls(reliability, eligible, gamma=0.8, cap=0).any()
    assert not select_recalls(reliability, eligible, gamma=0.999, cap=10).any()


def gaussian_clusters(separation: float = 5.0, seed: int = 0) -> dict[str, torch.Tensor]:
    """Four classes of 100 samples in 8-d around ``separation``·e_c; 30% of labels flipped c -> c+1.

    The trusted space holds 80% of the correctly-labelled samples; the classifier predicts the nearest centre.
    """
    g = torch.Generator().manual_seed(seed)
    num_classes, per_class = 4, 100
    centres = separation * torch.eye(num_classes, 8)
    clean = torch.arange(num_classes).repeat_interleave(per_class)
    features = centres[clean] + torch.randn(len(clean), 8, generator=g)
    flipped = torch.rand(len(clean), generator=g) < 0.3
    noisy = torch.where(flipped, (clean + 1) % num_classes, clean)
    trusted = ~flipped & (torch.rand(len(clean), generator=g) < 0.8)
    probs = (-torch.cdist(features, centres)).softmax(dim=1)
    split = TrustSplit(
        trusted=trusted,
        labels=noisy,
        recalled=torch.zeros_like(trusted),
        p_clean=trusted.float(),
        thresholds=torch.full((num_classes,), 0.5),
    )
    return {"features": features, "probs": probs, "clean": clean, "split": split}


@pytest.mark.parametrize("reliability", ["both", "mahalanobis", "cosine"])
def test_recalibrate_recalls_correct_pseudo_labels_from_the_untrusted_space(reliability):
    data = gaussian_clusters()
    split = data["split"]
    config = RecalibConfig(reliability=reliability, recall_cap=1.0, gamma=0.8)
    recal = recalibrate(data["features"], data["probs"], split, 4, config=config)
    recalled = recal.recalled
    assert not (recalled & split.trusted).any()
    assert int(recalled.sum()) >= 0.5 * int(split.untrusted.sum())
    accuracy = float((recal.candidates[recalled] == data["clean"][recalled]).float().mean())
    assert accuracy >= 0.9
    # every recall clears the cut of its candidate class, fitted on held-out trusted samples
    assert (recal.reliability[recalled] >= recal.cuts[recal.candidates[recalled]]).all()
    assert ((recal.reliability >= 0) & (recal.reliability <= 1)).all()


def test_reliability_filters_out_wrong_candidates_on_overlapping_clusters():
    data = gaussian_clusters(separation=2.5)
    untrusted = data["split"].untrusted
    config = RecalibConfig(reliability="mahalanobis", recall_cap=1.0, gamma=0.8)
    recal = recalibrate(data["features"], data["probs"], data["split"], 4, config=config)
    correct = recal.candidates == data["clean"]
    assert int(recal.recalled.sum()) >= 20
    assert float(correct[untrusted].float().mean()) < 0.97
    assert float(correct[recal.recalled].float().mean()) > float(correct[untrusted].float().mean())


def test_recall_cap_limits_one_step():
    data = gaussian_clusters()
    untrusted = int(data["split"].untrusted.sum())
    config = RecalibConfig(recall_cap=0.1)
    recal = recalibrate(data["features"], data["probs"], data["split"], 4, config=config)
    assert 0 < int(recal.recalled.sum()) <= int(0.1 * untrusted)


def test_prediction_agreement_is_required_when_asked():
    data = gaussian_clusters()
    wrong = data["probs"].roll(1, dims=1)  # the classifier now always disagrees with the nearest centre
    asked = RecalibConfig(recall_cap=1.0, require_prediction_agreement=True)
    assert not recalibrate(data["features"], wrong, data["split"], 4, config=asked).recalled.any()
    free = RecalibConfig(recall_cap=1.0, require_prediction_agreement=False)
    assert recalibrate(data["features"], wrong, data["split"], 4, config=free).recalled.any()


def test_recalibrate_is_deterministic():
    data = gaussian_clusters(separation=2.0)
    first = recalibrate(data["features"], data["probs"], data["split"], 4, config=RecalibConfig())
    second = recalibrate(data["features"], data["probs"], data["split"], 4, config=RecalibConfig())
    assert torch.equal(first.recalled, second.recalled)
    assert torch.equal(first.reliability, second.reliability)


def test_apply_recall_changes_only_recalled_samples():
    split = TrustSplit(
        trusted=torch.tensor([True, False, False, True, False]),
        labels=torch.tensor([0, 1, 2, 0, 1]),
        recalled=torch.tensor([False, False, False, True, False]),
        p_clean=torch.tensor([0.9, 0.1, 0.2, 0.8, 0.3]),
        thresholds=torch.tensor([0.5, 0.5, 0.5]),
    )
    recal = Recalibration(
        candidates=torch.tensor([2, 0, 0, 1, 2]),
        reliability=torch.tensor([0.99, 0.95, 0.3, 0.99, 0.9]),
        agree=torch.ones(5, dtype=torch.bool),
        recalled=torch.tensor([False, True, False, False, True]),
    )
    new = apply_recall(split, recal)
    assert new.labels.tolist() == [0, 0, 2, 0, 2]
    assert new.trusted.tolist() == [True, True, False, True, True]
    assert new.recalled.tolist() == [False, True, False, True, True]
    # a recalled sample is as trusted as its pseudo-label is reliable; the others keep their posterior
    torch.testing.assert_close(new.p_clean, torch.tensor([0.9, 0.95, 0.2, 0.8, 0.9]))
    assert torch.equal(new.thresholds, split.thresholds)
    assert split.labels.tolist() == [0, 1, 2, 0, 1]  # the old split is untouched


def test_anchor_subspace_is_an_orthonormal_basis_of_the_centred_anchors():
    g = torch.Generator().manual_seed(0)
    anchors = torch.randn(5, 40, generator=g, dtype=torch.float64)
    basis = anchor_subspace(anchors)
    assert basis.shape == (40, 4)  # C anchors span C - 1 directions once centred
    torch.testing.assert_close(basis.T @ basis, torch.eye(4, dtype=torch.float64))
    centred = anchors - anchors.mean(0)
    torch.testing.assert_close(centred @ basis @ basis.T, centred)  # nothing of the anchors is lost


def test_squared_distances_in_the_anchor_subspace_reach_confident_posteriors_in_high_dimension():
    # 512-d features, four well-separable classes: the old reliability (unsquared whitened
    # distances over all 512 dimensions) stays far below any useful γ; the new one does not.
    g = torch.Generator().manual_seed(1)
    centres = 0.5 * torch.randn(4, 512, generator=g)
    labels = torch.arange(4).repeat_interleave(200)
    features = centres[labels] + 3.0 * torch.randn(800, 512, generator=g)
    trusted = torch.ones(800, dtype=torch.bool)
    split = TrustSplit(trusted, labels, ~trusted, trusted.float(), torch.full((4,), 0.5))
    recal = recalibrate(features, torch.eye(4)[labels], split, 4, config=RecalibConfig(), seed=0)
    assert float(recal.reliability.median()) > 0.9
    assert float((recal.candidates == labels).float().mean()) > 0.95
    z = prepare_features(features, trusted, normalise=True)
    anchors = class_anchors(z, labels, trusted, 4)
    cov = shared_covariance(z, labels, trusted, anchors, shrinkage=0.1)
    old = (-mahalanobis_distances(z, anchors, whitening_matrix(cov))).softmax(dim=1).max(dim=1).values
    assert float(old.median()) < 0.7


def test_fit_temperature_matches_the_confidence_to_the_accuracy():
    g = torch.Generator().manual_seed(2)
    labels = torch.randint(0, 3, (3000,), generator=g)
    # distances whose right-class posterior at T = 4 is the truth: samples drawn from that posterior
    raw = torch.rand(3000, 3, generator=g) * 3.0
    posterior = (-(raw**2) / (2 * 4.0)).softmax(dim=1)
    drawn = torch.multinomial(posterior, 1, generator=g).squeeze(1)
    assert fit_temperature(raw, drawn) == pytest.approx(4.0, rel=0.35)
    del labels


def test_class_cuts_reach_the_precision_target_on_the_held_out_samples():
    reliability = torch.tensor([0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    candidates = torch.zeros(8, dtype=torch.long)
    labels = torch.tensor([0, 0, 0, 0, 1, 0, 1, 1])
    cuts = class_cuts(reliability, candidates, labels, 2, precision=0.8, support=3)
    # prefix precisions 1, 1, 1, 1, .8, .83, .71, .625: the lowest cut keeping >= .8 is 0.6
    assert cuts[0] == pytest.approx(0.6)
    assert math.isinf(cuts[1])  # no held-out sample has candidate 1
    strict = class_cuts(reliability, candidates, labels, 2, precision=1.0, support=5)
    assert math.isinf(strict[0])  # only four perfect samples: below the support


def test_nothing_is_recalled_before_the_features_mature():
    # heavily overlapping clusters: the nearest anchor names few held-out trusted labels right
    data = gaussian_clusters(separation=1.0)
    recal = recalibrate(
        data["features"], data["probs"], data["split"], 4, config=RecalibConfig(recall_cap=1.0)
    )
    assert recal.maturity < 0.9 and not recal.recalled.any() and torch.isinf(recal.cuts).all()
    mature = recalibrate(
        *(gaussian_clusters()[k] for k in ("features", "probs", "split")),
        4,
        config=RecalibConfig(recall_cap=1.0),
    )
    assert mature.maturity >= 0.9 and mature.recalled.any()
    assert recal.summary(4)["maturity"] == recal.maturity


def test_the_maturity_gate_can_be_switched_off():
    data = gaussian_clusters(separation=1.0)
    free = RecalibConfig(recall_cap=1.0, require_maturity=False)
    recal = recalibrate(data["features"], data["probs"], data["split"], 4, config=free)
    assert recal.maturity < 0.9 and not torch.isinf(recal.cuts).all()
