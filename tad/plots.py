"""The figures that the command line, the notebooks and the book share.

Every function returns a matplotlib ``Figure`` and draws nothing else; saving and
showing are the caller's business.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from torch import Tensor


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


def accuracy_bars(arms: dict[str, dict], *, title: str = "") -> Figure:
    """Mean ± std accuracy per arm, with each evaluation network as a dot."""
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
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


def trust_history_plot(history: list[dict]) -> Figure:
    """Trusted-space size, precision and recall per epoch of a trust-aware run."""
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(epochs, [h["trusted_fraction"] for h in history], label="trusted fraction", color="k")
    for key, style in (("precision", "-"), ("recall", "--"), ("pseudo_label_accuracy", ":")):
        values = [h.get(key) for h in history]
        if any(v is not None for v in values):
            ax.plot(epochs, [np.nan if v is None else v for v in values], style, label=key.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


__all__ = ["accuracy_bars", "image_grid", "synthetic_grid", "trust_history_plot"]
