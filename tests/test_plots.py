"""Tests for tad.plots: each figure draws what it is given, on tiny inputs, without a display."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from tad.config import TrustConfig
from tad.plots import (
    demo_figure,
    feature_projection,
    loss_mixture_panels,
    peer_division_plot,
    per_class_rate_bars,
    recall_sweep_plot,
    reliability_histograms,
    transition_heatmaps,
    trusted_space_plot,
)
from tad.trust import fit_class_gmms, normalise_losses

NAMES = ("a", "b", "c")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_transition_heatmaps_show_each_matrix_on_a_shared_scale():
    requested = np.array([[0.6, 0.4, 0.0], [0.0, 0.6, 0.4], [0.4, 0.0, 0.6]])
    realised = np.eye(3)
    fig = transition_heatmaps({"requested": requested, "realised": realised}, NAMES)
    heat = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in heat] == ["requested", "realised"]
    for ax, matrix in zip(heat, (requested, realised), strict=True):
        mesh = ax.collections[0]
        np.testing.assert_allclose(np.asarray(mesh.get_array()).reshape(3, 3), matrix)
        assert mesh.get_clim() == (0.0, 1.0)
    assert len(fig.axes) == 3  # two heatmaps and one colour bar


def test_per_class_rate_bars_draw_one_bar_per_class_and_noise():
    rates = {"symmetric": np.array([0.1, 0.2, 0.3]), "pairflip": np.array([0.4, 0.0, 0.5])}
    fig = per_class_rate_bars(rates, NAMES)
    heights = sorted(round(p.get_height(), 6) for p in fig.axes[0].patches if p.get_width() > 0)
    assert heights == sorted([0.1, 0.2, 0.3, 0.4, 0.0, 0.5])


def planted(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(3).repeat_interleave(80)
    correct = torch.rand(240, generator=g) < 0.7
    losses = torch.where(
        correct, 0.2 + 0.05 * torch.randn(240, generator=g), 2.0 + 0.3 * torch.randn(240, generator=g)
    )
    return losses.clamp(min=0), labels, correct


def test_loss_mixture_panels_scale_histograms_as_densities_and_shade_the_trusted_range():
    losses, labels, correct = planted()
    config = TrustConfig()
    fits = fit_class_gmms(losses, labels, 3, config=config, seed=0)
    normalised = normalise_losses(losses, labels, 3).numpy()
    thresholds = np.array([0.5, 0.5, 0.5])
    fig = loss_mixture_panels(normalised, labels.numpy(), correct.numpy(), fits, thresholds, NAMES, columns=2)
    panels = fig.axes[:3]
    assert not fig.axes[3].axison  # the fourth cell of the 2x2 grid is empty
    for ax in panels:
        bars = ax.patches
        width = bars[0].get_width()
        # The top layer of the stacked histogram integrates to one: a density over the class.
        tops = {round(b.get_x(), 9): b.get_y() + b.get_height() for b in bars}
        assert sum(tops.values()) * width == pytest.approx(1.0, abs=1e-6)
        assert len(ax.lines) == 2  # the two mixture components
        assert len(ax.collections) == 1  # the trusted range
        assert "τ = 0.50" in ax.get_title()


def test_trusted_space_plot_stacks_to_one_and_recovers_the_recalled_share():
    history = [
        {"epoch": 1, "trusted_fraction": 1.0, "trusted_size": 200, "precision": 0.6, "recalled_size": 0},
        {"epoch": 2, "trusted_fraction": 0.5, "trusted_size": 100, "precision": 0.9, "recalled_size": 10},
    ]
    fig = trusted_space_plot(history)
    ax = fig.axes[0]
    assert len(ax.collections) == 3
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.0, 0.05])


def test_reliability_histograms_and_recall_sweep():
    reliability = np.array([0.1, 0.5, 0.9, 0.95, 0.2])
    correct = np.array([False, True, True, True, False])
    fig = reliability_histograms(reliability, correct, gamma=0.8)
    ax = fig.axes[0]
    counts = [p.get_height() for p in ax.patches]
    assert sum(counts) == len(reliability)
    assert ax.lines[0].get_xdata()[0] == 0.8
    gammas = np.array([0.5, 0.8])
    fig = recall_sweep_plot(gammas, np.array([0.9, 1.0]), np.array([3, 2]), gamma=0.8, cap=1)
    assert len(fig.axes) == 2  # accuracy and, on a twin axis, the counts
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [0.9, 1.0])
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), [3, 2])
    np.testing.assert_allclose(fig.axes[1].lines[1].get_ydata(), [1, 1])  # the cap


def test_feature_projection_marks_every_anchor_and_the_recalled_samples():
    g = np.random.default_rng(0)
    points = g.normal(size=(30, 2))
    labels = np.repeat(np.arange(3), 10)
    trusted = np.arange(30) % 3 != 0
    recalled = np.zeros(30, dtype=bool)
    recalled[[0, 3]] = True
    anchors = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    fig = feature_projection(points, labels, trusted, anchors, NAMES, recalled=recalled)
    ax = fig.axes[0]
    untrusted, kept, crosses, stars = ax.collections
    assert len(untrusted.get_offsets()) == int((~trusted).sum()) - 2
    assert len(kept.get_offsets()) == int(trusted.sum())
    np.testing.assert_allclose(crosses.get_offsets(), points[[0, 3]])
    np.testing.assert_allclose(stars.get_offsets(), anchors)
    assert [t.get_text() for t in ax.texts] == list(NAMES)


def test_demo_figure_shows_one_image_per_class_for_each_arm_beside_the_bars():
    rng = np.random.default_rng(0)
    ipc, classes = 3, 10
    images = {
        arm: rng.integers(0, 256, (classes * ipc, 1, 16, 16), dtype=np.uint8) for arm in ("vanilla", "tad")
    }
    arms = {
        a: {"acc_mean": m, "acc_std": 1.0, "accs": [m - 1, m + 1]} for a, m in (("vanilla", 60), ("tad", 70))
    }
    fig = demo_figure({"config": {"ipc": ipc}, "arms": arms}, images)
    strips = [ax for ax in fig.axes if ax.images]
    assert len(strips) == 2  # the arms with images, in order
    assert [ax.get_ylabel() for ax in strips] == ["vanilla", "+ TAD"]
    # one 16-pixel tile per class across, with a 1-pixel border: ten tiles
    assert strips[0].images[0].get_array().shape[1] == classes * 17 + 1
    bars = [ax for ax in fig.axes if ax.patches]
    assert [p.get_height() for p in bars[0].patches] == [60, 70]
    plt.close(fig)


def test_peer_division_plot_draws_a_panel_per_setting_and_a_line_per_mode():
    import pandas as pd

    rows = [
        {"setting": s, "division by": m, "expert": e, "epoch": t, "precision": 0.5 + 0.01 * t + 0.1 * e}
        for s in ("pairflip-40", "symmetric-40")
        for m in ("own", "peer")
        for e in (0, 1)
        for t in (4, 5, 6)
    ]
    fig = peer_division_plot(pd.DataFrame(rows))
    assert [ax.get_title() for ax in fig.axes] == ["pairflip-40", "symmetric-40"]
    for ax in fig.axes:
        lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 3]
        assert len(lines) == 2  # one per mode, the experts averaged
        assert sorted(lines[0].get_ydata()) == pytest.approx([0.59, 0.6, 0.61])
    assert fig.axes[-1].get_legend() is not None and fig.axes[0].get_legend() is None
