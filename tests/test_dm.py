"""Tests for tad.distill.dm (and the shared pieces of tad.distill.base): the DM loss and distiller."""

from __future__ import annotations

import pytest
import torch

from tad.augment import sample_dsa
from tad.config import AugmentConfig, DMConfig, ModelConfig
from tad.distill.base import check_pools, class_pools, init_from_real, sample_from_pool
from tad.distill.dm import distill_dm, distribution_matching_loss, dm_step_loss
from tad.models import ConvNet

TINY_MODEL = ModelConfig(width=8, depth=2)
AUGMENT = AugmentConfig()
CPU = torch.device("cpu")


def test_distribution_matching_loss():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(7, 5, generator=g)
    assert float(distribution_matching_loss(real, real)) == 0.0
    assert float(distribution_matching_loss(real, real[torch.randperm(7, generator=g)])) == pytest.approx(0.0)
    syn = torch.randn(3, 5, generator=g)
    manual = float(((real.mean(0) - syn.mean(0)) ** 2).sum())
    assert manual > 0
    assert float(distribution_matching_loss(real, syn)) == pytest.approx(manual)


def per_class_batches(seed: int = 0) -> tuple[ConvNet, list[torch.Tensor], list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = ConvNet(3, 3, 8, width=8, depth=2)
    real = [torch.randn(n, 3, 8, 8, generator=g) for n in (5, 4, 6)]
    syn = [torch.randn(2, 3, 8, 8, generator=g, requires_grad=True) for _ in range(3)]
    return net, real, syn


@pytest.mark.parametrize("augment", [None, AUGMENT], ids=["plain", "dsa"])
def test_dm_step_loss_equals_the_per_class_loop_of_separate_forwards(augment):
    net, real, syn = per_class_batches()
    got = dm_step_loss(net, real, syn, augment, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    expected = torch.zeros(())
    for r, s in zip(real, syn, strict=True):
        if augment is not None:
            t = sample_dsa(augment, 1, generator=g, shared=True)
            r, s = t.apply(r), t.apply(s)
        expected = expected + distribution_matching_loss(net.embed(r), net.embed(s))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    got.backward()
    assert all(s.grad is not None and s.grad.abs().sum() > 0 for s in syn)


def class_data(per_class: int = 10, num_classes: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    images = torch.randn(len(labels), 1, 8, 8, generator=g) + labels.float()[:, None, None, None]
    return images, labels


def distill(images, labels, pool, *, seed: int = 0, **overrides):
    config = DMConfig(**{"iterations": 3, "batch_real": 4, **overrides})
    return distill_dm(
        images,
        labels,
        pool,
        ipc=2,
        num_classes=3,
        config=config,
        model=TINY_MODEL,
        augment=AUGMENT,
        generator=torch.Generator().manual_seed(seed),
        device=CPU,
    )


def test_distill_dm_returns_ipc_images_per_class_and_moves_them():
    images, labels = class_data()
    pool = torch.ones(len(labels), dtype=torch.bool)
    losses = []
    syn = distill_dm(
        images,
        labels,
        pool,
        ipc=2,
        num_classes=3,
        config=DMConfig(iterations=3, batch_real=4),
        model=TINY_MODEL,
        augment=AUGMENT,
        generator=torch.Generator().manual_seed(0),
        device=CPU,
        callback=lambda it, loss: losses.append((it, loss)),
    )
    assert syn.images.shape == (6, 1, 8, 8)
    assert syn.labels.dtype == torch.int64 and syn.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert not syn.soft and syn.lr is None and not syn.images.requires_grad
    assert [it for it, _ in losses] == [1, 2, 3] and all(loss > 0 for _, loss in losses)
    start = init_from_real(images, labels, pool, 2, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(start.labels, syn.labels)
    assert not torch.allclose(start.images, syn.images)
    # each synthetic image started as a real image of its own class
    for image, label in zip(start.images, start.labels, strict=True):
        assert any(torch.equal(image, real) for real in images[labels == label])


def test_distill_dm_draws_real_images_only_from_the_pool():
    images, labels = class_data()
    pool = torch.arange(len(labels)) % 2 == 0
    poisoned = images.clone()
    poisoned[~pool] = float("nan")  # one draw from outside the pool would turn every image into NaN
    syn = distill(poisoned, labels, pool)
    assert torch.isfinite(syn.images).all()
    assert not torch.isfinite(distill(poisoned, labels, torch.ones_like(pool)).images).all()


def test_distill_dm_refuses_a_pool_too_small_for_ipc():
    images, labels = class_data()
    pool = torch.ones(len(labels), dtype=torch.bool)
    pool[(labels == 1).nonzero().squeeze(1)[1:]] = False  # class 1 keeps a single image
    with pytest.raises(ValueError, match=r"too few images for 2 per class \(class: count \{1: 1\}\)"):
        distill(images, labels, pool)


def test_distill_dm_is_seeded():
    images, labels = class_data()
    pool = torch.ones(len(labels), dtype=torch.bool)
    first, second = distill(images, labels, pool, seed=1), distill(images, labels, pool, seed=1)
    assert torch.equal(first.images, second.images)
    assert not torch.equal(first.images, distill(images, labels, pool, seed=2).images)


def test_noise_initialisation_starts_from_no_real_image():
    images, labels = class_data()
    syn = distill(images, labels, torch.ones(len(labels), dtype=torch.bool), init="noise", dsa=False)
    assert syn.images.shape == (6, 1, 8, 8) and torch.isfinite(syn.images).all()
    assert not any(torch.equal(s, r) for s in syn.images for r in images)


def test_class_pools_and_sampling():
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    pool = torch.tensor([True, True, False, True, True, True])
    pools = class_pools(labels, pool, 4)
    assert [p.tolist() for p in pools] == [[0, 5], [1, 4], [3], []]
    g = torch.Generator().manual_seed(0)
    drawn = sample_from_pool(torch.arange(10, 20), 5, g)
    assert len(set(drawn.tolist())) == 5 and all(10 <= i < 20 for i in drawn.tolist())
    assert sorted(sample_from_pool(pools[0], 5, g).tolist()) == [0, 5]
    with pytest.raises(ValueError, match=r"class: count \{2: 1, 3: 0\}"):
        check_pools(pools, 2, "the pool")
