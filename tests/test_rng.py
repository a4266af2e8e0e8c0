"""Tests for tad.rng: named random streams derived from one experiment seed."""

from __future__ import annotations

import torch
from sklearn.mixture import GaussianMixture

from tad.rng import child_seed, generator, stream_seed


def test_stream_seed_is_deterministic_and_in_range():
    assert stream_seed(0, "distill", "tad") == stream_seed(0, "distill", "tad")
    seeds = [stream_seed(s, *names) for s in range(5) for names in [("a",), ("a", "b"), ("b",), (1, 2)]]
    assert all(0 <= seed < 2**63 for seed in seeds)


def test_stream_seeds_differ_across_names_seeds_and_order():
    names = [("trust-model",), ("distill", "random"), ("distill", "vanilla"), ("distill", "tad"), ("eval",)]
    seeds = {stream_seed(0, *n) for n in names} | {stream_seed(1, *n) for n in names}
    assert len(seeds) == 2 * len(names)
    assert stream_seed(0, "a", "b") != stream_seed(0, "b", "a")
    assert stream_seed(0, "a") != stream_seed(0, "a", "")


def test_generators_of_one_stream_draw_the_same_numbers():
    first = torch.rand(5, generator=generator(3, "trust-model"))
    assert torch.equal(first, torch.rand(5, generator=generator(3, "trust-model")))
    assert not torch.equal(first, torch.rand(5, generator=generator(3, "distill", "tad")))


def test_child_seed_fits_scikit_learn_and_follows_the_generator():
    g = generator(0, "children")
    seeds = [child_seed(g) for _ in range(1000)]
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in seeds)
    assert len(set(seeds)) > 990
    again = generator(0, "children")
    assert [child_seed(again) for _ in range(1000)] == seeds
    GaussianMixture(n_components=1, random_state=max(seeds)).fit([[0.0], [1.0]])
