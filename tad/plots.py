"""The figures that the command line, the notebooks and the book share.

Every function returns a matplotlib ``Figure`` and draws nothing else; saving and
showing are the caller's business.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from tad.trust import MixtureFit

CORRECT_COLOUR, WRONG_COLOUR, UNTRUSTED_COLOUR = "#3182bd", "#e6550d", "#bdbdbd"


def image_grid(images: Tensor, nrow: int, *, pad: int = 1) -> np.ndarray:
    """Tile (M, C, H, W) images in [0, 1] into one (H', W', 3) array, ``nrow`` images per row."""
    m, c, h, w = images.shape
    ncol = nrow
    rows = (m + ncol - 1) // ncol
    grid = np.ones((rows * (h + pad) + pad, ncol * (w + pad) + pad, 3), dtype=np.float32)
    arr = images.detach().cpu().float().clamp(0, 1).numpy()
    for i in range(m):
        r, q = divmod(i, ncol)
        tile = np.repeat(arr[i], 3, axis=0) if c == 1 else arr[i][:3]
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + q * (w + pad) : pad + q * (w + pad) + w] = (
            tile.transpose(1, 2, 0)
        )
    return grid


def synthetic_grid(
    panels: dict[str, Tensor], *, ipc: int, class_names: tuple[str, ...], titles: dict[str, str] | None = None
) -> Figure:
    """One panel per arm: classes down the rows, the ``ipc`` images of a class across.

    ``panels`` maps an arm name to its synthetic images already mapped to display
    range, ordered class by class (``ipc`` images each).
    """
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.6), squeeze=False)
    for ax, (name, images) in zip(axes[0], panels.items(), strict=True):
        ax.imshow(image_grid(images, ipc), interpolation="nearest")
        ax.set_title((titles or {}).get(name, name), fontsize=9)
        h = images.shape[-2] + 1
        ax.set_yticks([1 + h * i + h / 2 for i in range(len(class_names))])
        ax.set_yticklabels(class_names, fontsize=7)
        ax.set_xticks([])
    fig.tight_layout()
    return fig


def accuracy_bars(arms: dict[str, dict], *, title: str = "", ax: Axes | None = None) -> Figure:
    """Mean ± std accuracy per arm, with each evaluation network as a dot; draws on ``ax`` if given."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
    else:
        fig = ax.figure
    names = list(arms)
    means = [arms[a]["acc_mean"] for a in names]
    stds = [arms[a]["acc_std"] for a in names]
    ax.bar(names, means, yerr=stds, capsize=4, color="#9ecae1", edgecolor="#3182bd")
    for i, a in enumerate(names):
        accs = arms[a]["accs"]
        ax.scatter(np.full(len(accs), i), accs, s=10, color="#08519c", zorder=3)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def demo_figure(results: dict, images: dict[str, np.ndarray], *, per_class: int = 1) -> Figure:
    """Synthetic images of the vanilla, TAD and clean arms beside every arm's accuracy bars.

    ``results`` is a run's ``results.json``; ``images`` maps arms to uint8 (N, C, H, W) arrays as in
    its ``synthetic.npz`` (class by class, ``ipc`` images each). Shows ``per_class`` images of every
    class per arm.
    """
    ipc = results["config"]["ipc"]
    arms = [a for a in ("vanilla", "tad", "clean") if a in images]
    labels = {"vanilla": "vanilla", "tad": "+ TAD", "clean": "clean labels"}
    fig = plt.figure(figsize=(9.5, 3.0))
    grid = fig.add_gridspec(len(arms), 2, width_ratios=(2.2, 1.0))
    for row, arm in enumerate(arms):
        ax = fig.add_subplot(grid[row, 0])
        chosen = np.concatenate(
            [images[arm][c * ipc : c * ipc + per_class] for c in range(len(images[arm]) // ipc)]
        )
        tiles = torch.from_numpy(chosen.astype(np.float32) / 255.0)
        ax.imshow(image_grid(tiles, len(chosen)), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(labels[arm], rotation=0, ha="right", va="center", fontsize=9)
    accuracy_bars(results["arms"], ax=fig.add_subplot(grid[:, 1]))
    fig.tight_layout()
    return fig


def transition_heatmaps(
    matrices: dict[str, np.ndarray], class_names: Sequence[str], *, annotate: bool = True
) -> Figure:
    """One heatmap per (C, C) row-stochastic matrix, on a shared 0-1 colour scale.

    Rows are the clean class, columns the observed label, as in ``P[i, j] = P(noisy = j | clean = i)``.
    """
    n = len(matrices)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n + 0.6, 3.6), squeeze=False)
    for k, (ax, (title, matrix)) in enumerate(zip(axes[0], matrices.items(), strict=True)):
        sns.heatmap(
            np.asarray(matrix),
            ax=ax,
            vmin=0.0,
            vmax=1.0,
            cmap="Blues",
            square=True,
            annot=annotate,
            fmt=".2f",
            annot_kws={"fontsize": 5},
            cbar=k == n - 1,
            xticklabels=class_names,
            yticklabels=class_names,
        )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("observed label")
        ax.set_ylabel("clean class" if k == 0 else "")
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return fig


def peer_division_plot(epochs: pd.DataFrame) -> Figure:
    """Precision of the trusted space per epoch, one panel per setting, a line per way of dividing
    (mean over the experts; :func:`tad.study_tables.peer_division_epochs`)."""
    settings = list(dict.fromkeys(epochs["setting"]))
    fig, axes = plt.subplots(1, len(settings), figsize=(3.4 * len(settings) + 0.4, 2.8), squeeze=False)
    for ax, setting in zip(axes[0], settings, strict=True):
        mine = epochs[epochs["setting"] == setting]
        means = mine.groupby(["division by", "epoch"], sort=False)["precision"].mean().reset_index()
        sns.lineplot(data=means, x="epoch", y="precision", hue="division by", style="division by", ax=ax)
        ax.set_title(setting, fontsize=9)
        ax.set_ylabel("precision of the trusted space")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax is not axes[0][-1]:
            ax.get_legend().remove()
        else:
            ax.legend(fontsize=7, title=None)
    fig.tight_layout()
    return fig


def per_class_rate_bars(rates: dict[str, np.ndarray], class_names: Sequence[str]) -> Figure:
    """Grouped bars: the share of each clean class whose label was changed, one colour per noise."""
    data: dict[str, list] = {"class": [], "noise rate": [], "noise": []}
    for name, values in rates.items():
        data["class"] += list(class_names)
        data["noise rate"] += [float(v) for v in values]
        data["noise"] += [name] * len(class_names)
    fig, ax = plt.subplots(figsize=(7, 3))
    sns.barplot(data=data, x="class", y="noise rate", hue="noise", ax=ax, palette="deep")
    ax.set_xlabel("clean class")
    ax.tick_params(axis="x", labelsize=7, rotation=30)
    ax.legend(fontsize=7, title=None, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def loss_mixture_panels(
    normalised_losses: np.ndarray,
    labels: np.ndarray,
    correct: np.ndarray,
    fits: Sequence[MixtureFit | None],
    thresholds: np.ndarray,
    class_names: Sequence[str],
    *,
    cuts: np.ndarray | None = None,
    bins: int = 25,
    columns: int = 5,
) -> Figure:
    """Per class: a stacked histogram of normalised losses (right vs wrong label), the two fitted
    mixture components, and the shaded range of losses whose clean posterior reaches ``τ_c``.

    With ``cuts`` (C,), the shaded range is instead every normalised loss up to ``cuts[c]``: the
    trusted range of a division sized by noise rates (``thresholds`` then holds the rates). The
    histogram is scaled as a density, so it and the weighted component densities share an axis.
    """
    num_classes = len(class_names)
    rows = (num_classes + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(2.3 * columns, 2.0 * rows), squeeze=False)
    grid = np.linspace(0.0, 1.0, 401)
    edges = np.linspace(0.0, 1.0, bins + 1)
    for c, ax in enumerate(axes.ravel()):
        if c >= num_classes:
            ax.axis("off")
            continue
        mine = labels == c
        values = [normalised_losses[mine & correct], normalised_losses[mine & ~correct]]
        scale = 1.0 / max(int(mine.sum()), 1) / (edges[1] - edges[0])
        weights = [np.full(len(v), scale) for v in values]
        ax.hist(values, bins=edges, weights=weights, stacked=True, color=[CORRECT_COLOUR, WRONG_COLOUR])
        fit = fits[c]
        if fit is not None:
            dens = fit.densities(grid)
            ax.plot(grid, dens[:, 0], color="k", lw=1)
            ax.plot(grid, dens[:, 1], color="k", lw=1, ls="--")
        trusted = None
        if cuts is not None:
            trusted = grid <= float(cuts[c])
        elif fit is not None:
            trusted = fit.clean_posterior(grid) >= float(thresholds[c])
        if trusted is not None:
            ax.fill_between(
                grid,
                0,
                1,
                where=trusted,
                color="#31a354",
                alpha=0.15,
                lw=0,
                transform=ax.get_xaxis_transform(),
            )
        symbol = "rate" if cuts is not None else "τ"
        ax.set_title(f"{class_names[c]}  ({symbol} = {float(thresholds[c]):.2f})", fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("normalised loss", fontsize=7)
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=CORRECT_COLOUR),
        plt.Rectangle((0, 0), 1, 1, color=WRONG_COLOUR),
        plt.Line2D([], [], color="k", lw=1),
        plt.Line2D([], [], color="k", lw=1, ls="--"),
        plt.Rectangle((0, 0), 1, 1, color="#31a354", alpha=0.15),
    ]
    names = ["label right", "label wrong", "low-loss component", "high-loss component", "trusted range"]
    fig.legend(handles, names, loc="lower center", ncol=5, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def trusted_space_plot(history: list[dict]) -> Figure:
    """Per epoch, the share of samples that are trusted with a right label, trusted with a wrong
    label, and untrusted (stacked to 1), with the share of recalled samples as a line.

    ``history`` is the ``history`` of a :class:`tad.experts.ExpertRun` trained with clean labels given.
    """
    epochs = np.array([h["epoch"] for h in history])
    fraction = np.array([h["trusted_fraction"] for h in history])
    precision = np.array([np.nan if h.get("precision") is None else h["precision"] for h in history])
    right = fraction * precision
    layers = [right, fraction - right, 1.0 - fraction]
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.stackplot(
        epochs,
        layers,
        labels=["trusted, label right", "trusted, label wrong", "untrusted"],
        colors=[CORRECT_COLOUR, WRONG_COLOUR, UNTRUSTED_COLOUR],
        alpha=0.85,
    )
    # The history stores no total; trusted_size / trusted_fraction recovers it.
    total = next(h["trusted_size"] / h["trusted_fraction"] for h in history if h["trusted_fraction"] > 0)
    recalled = np.array([h["recalled_size"] for h in history]) / total
    ax.plot(epochs, recalled, color="k", marker=".", label="recalled (pseudo-labelled)")
    ax.set_xlim(epochs.min(), epochs.max())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, 1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("share of the training set")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def reliability_histograms(reliability: np.ndarray, correct: np.ndarray, *, gamma: float) -> Figure:
    """Reliability of samples whose candidate label is right vs wrong, with a recall cut at ``gamma``."""
    fig, ax = plt.subplots(figsize=(5, 3))
    edges = np.linspace(0.0, 1.0, 26)
    ax.hist(reliability[correct], bins=edges, alpha=0.7, color=CORRECT_COLOUR, label="candidate right")
    ax.hist(reliability[~correct], bins=edges, alpha=0.7, color=WRONG_COLOUR, label="candidate wrong")
    ax.axvline(gamma, color="k", ls="--", lw=1, label=f"cut {gamma:.2f}")
    ax.set_xlabel("reliability")
    ax.set_ylabel("samples")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def recall_sweep_plot(
    gammas: np.ndarray, accuracy: np.ndarray, counts: np.ndarray, *, gamma: float, cap: int | None = None
) -> Figure:
    """Pseudo-label accuracy (left axis) and number of recalled samples (right axis) against one cut.

    ``cap``, if given, is drawn as the most samples one inner step may recall.
    """
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(gammas, accuracy, color=CORRECT_COLOUR, marker=".")
    ax.set_xlabel("one reliability cut for every class")
    ax.set_ylabel("pseudo-label accuracy", color=CORRECT_COLOUR)
    ax.set_ylim(0, 1.02)
    right = ax.twinx()
    right.plot(gammas, counts, color="k", marker=".", ls="--")
    right.set_ylabel("samples recalled")
    if cap is not None:
        right.axhline(cap, color="k", ls=":", lw=1)
        right.annotate("recall cap", (gammas[0], cap), xytext=(2, 3), textcoords="offset points", fontsize=7)
    right.set_ylim(bottom=0)
    ax.axvline(gamma, color="grey", lw=1)
    fig.tight_layout()
    return fig


def feature_projection(
    points: np.ndarray,
    labels: np.ndarray,
    trusted: np.ndarray,
    anchors: np.ndarray,
    class_names: Sequence[str],
    *,
    recalled: np.ndarray | None = None,
) -> Figure:
    """2-D features: trusted samples coloured by their label, untrusted ones grey, anchors as stars.

    ``recalled`` (bool, optional) marks untrusted samples the inner loop recalls; they are drawn as
    crosses in the colour of ``labels``, which for them should be the pseudo-label.
    """
    palette = np.array(sns.color_palette("tab10", len(class_names)))
    recalled = np.zeros_like(trusted) if recalled is None else recalled
    rest = ~trusted & ~recalled
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.scatter(*points[rest].T, s=6, color=UNTRUSTED_COLOUR)
    ax.scatter(*points[trusted].T, s=6, c=palette[labels[trusted]], alpha=0.6)
    ax.scatter(*points[recalled].T, s=24, c=palette[labels[recalled]], marker="x")
    ax.scatter(*anchors.T, s=180, marker="*", c=palette, edgecolors="k", linewidths=0.8, zorder=3)
    for c, (x, y) in enumerate(anchors):
        ax.annotate(class_names[c], (x, y), xytext=(5, 5), textcoords="offset points", fontsize=8)
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
    # Legend entries in neutral colours: the point colours themselves encode the class.
    handles = [
        plt.Line2D([], [], ls="", marker="o", ms=3, color=UNTRUSTED_COLOUR, label="untrusted"),
        plt.Line2D([], [], ls="", marker="o", ms=3, color="#525252", label="trusted (class colour)"),
        plt.Line2D([], [], ls="", marker="x", ms=5, color="#525252", label="recalled (pseudo-label colour)"),
        plt.Line2D([], [], ls="", marker="*", ms=10, color="w", markeredgecolor="k", label="class anchor"),
    ]
    ax.legend(handles=handles, fontsize=7, loc="best")
    fig.tight_layout()
    return fig


__all__ = [
    "accuracy_bars",
    "demo_figure",
    "feature_projection",
    "image_grid",
    "loss_mixture_panels",
    "peer_division_plot",
    "per_class_rate_bars",
    "recall_sweep_plot",
    "reliability_histograms",
    "synthetic_grid",
    "transition_heatmaps",
    "trusted_space_plot",
]
