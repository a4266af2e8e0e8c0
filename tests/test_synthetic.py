"""Tests for tad.synthetic: the synthetic set's label views and the soft cross-entropy."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tad.synthetic import SyntheticSet, soft_cross_entropy


def test_soft_cross_entropy_with_one_hot_like_targets_is_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 5, generator=g)
    labels = torch.randint(0, 5, (8,), generator=g)
    huge = 1000.0 * F.one_hot(labels, 5).float()
    torch.testing.assert_close(soft_cross_entropy(logits, huge), F.cross_entropy(logits, labels))


def test_soft_cross_entropy_matches_the_soft_target_formula():
    g = torch.Generator().manual_seed(1)
    logits, targets = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    expected = F.cross_entropy(logits, targets.softmax(dim=1))
    torch.testing.assert_close(soft_cross_entropy(logits, targets), expected)


def test_synthetic_set_labels():
    hard = SyntheticSet(torch.zeros(2, 1, 4, 4, requires_grad=True), torch.tensor([1, 0]))
    assert not hard.soft and hard.hard_labels.tolist() == [1, 0]
    soft = SyntheticSet(torch.zeros(2, 1, 4, 4), torch.tensor([[0.1, 2.0], [3.0, -1.0]]), lr=0.02)
    assert soft.soft and soft.hard_labels.tolist() == [1, 0]
    copy = hard.detached()
    assert not copy.images.requires_grad and copy.images.data_ptr() != hard.images.data_ptr()
    assert soft.detached().lr == 0.02
