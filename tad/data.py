"""Datasets as tensors: the embedded digits, CIFAR-10/100, a Tiny ImageNet folder, and ZCA whitening.

Every loader ends in the same :class:`ImageDataset`: float32 images (normalised, or ZCA-whitened as in
MTT/DATM), the CLEAN training labels, and ``train_indices`` into the dataset's full original training
set so that label files such as CIFAR-10N can be indexed. Label noise is applied elsewhere (``noise.py``),
and the files are read in ``sources.py``. The ZCA recipe follows dd-baselines.md §2.1-2.2.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from tad.checks import check_data_available
from tad.config import DataConfig
from tad.sources import RawSource, read_source

logger = logging.getLogger(__name__)

CHUNK = 4096  # images per conversion/whitening step: bounds the temporary memory of a 50,000-image load


class ZCA:
    """ZCA whitening fitted on training images (our own version of kornia's ``ZCAWhitening``).

    With the unbiased covariance ``Σ = U diag(S) Uᵀ`` of the flattened images, ``transform`` computes
    ``(x - μ) W`` with ``W = U diag((S + eps)^-1/2) Uᵀ`` and ``inverse`` undoes it with
    ``U diag((S + eps)^1/2) Uᵀ``. Both keep the input's shape and device and return float32.
    """

    def __init__(self, mean: torch.Tensor, whiten: torch.Tensor, unwhiten: torch.Tensor, eps: float):
        self.mean = mean  # (D,)
        self.whiten = whiten  # (D, D)
        self.unwhiten = unwhiten  # (D, D)
        self.eps = eps

    @classmethod
    def fit(cls, images: torch.Tensor, eps: float = 0.1) -> ZCA:
        """Fit on ``images`` (N, ...) with N >= 2; runs on their device, in chunks of ``CHUNK`` rows."""
        flat = images.detach().reshape(len(images), -1)
        if len(flat) < 2:
            raise ValueError("ZCA needs at least two training images to estimate a covariance.")
        mean = sum(chunk.sum(0, dtype=torch.float64) for chunk in flat.split(CHUNK)) / len(flat)
        cov = torch.zeros(flat.shape[1], flat.shape[1], dtype=torch.float64, device=flat.device)
        for chunk in flat.split(CHUNK):
            centred = chunk.float() - mean.float()
            cov += (centred.T @ centred).double()  # float32 products, float64 sum across chunks
        cov /= len(flat) - 1
        eigvals, eigvecs = torch.linalg.eigh(cov)  # Σ is symmetric PSD, so this equals kornia's SVD
        eigvals = eigvals.clamp_min(0) + eps
        whiten = (eigvecs * eigvals.rsqrt()) @ eigvecs.T
        unwhiten = (eigvecs * eigvals.sqrt()) @ eigvecs.T
        return cls(mean.float(), whiten.float(), unwhiten.float(), eps)

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        return self._map(images, lambda x: (x - self.mean.to(x.device)) @ self.whiten.to(x.device))

    def inverse(self, images: torch.Tensor) -> torch.Tensor:
        return self._map(images, lambda x: x @ self.unwhiten.to(x.device) + self.mean.to(x.device))

    def to(self, device: torch.device | str) -> ZCA:
        return ZCA(self.mean.to(device), self.whiten.to(device), self.unwhiten.to(device), self.eps)

    def _map(self, images: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        flat = images.reshape(len(images), -1)
        if flat.shape[1] != len(self.mean):
            raise ValueError(f"ZCA was fitted on {len(self.mean)} values per image; got {flat.shape[1]}.")
        out = torch.empty(flat.shape, dtype=torch.float32, device=images.device)
        for start in range(0, len(flat), CHUNK):
            out[start : start + CHUNK] = fn(flat[start : start + CHUNK].float())
        return out.reshape(images.shape)


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """Train and test images of one dataset, ready for training; labels are clean."""

    name: str
    train_images: torch.Tensor = field(repr=False)  # float32 (N, C, H, W)
    train_labels: torch.Tensor = field(repr=False)  # int64 (N,)
    train_indices: torch.Tensor = field(repr=False)  # int64 (N,) positions in the full original train set
    test_images: torch.Tensor = field(repr=False)
    test_labels: torch.Tensor = field(repr=False)
    class_names: tuple[str, ...] = field(repr=False)
    mean: tuple[float, ...]  # per channel, subtracted before training; zeros under ZCA
    std: tuple[float, ...]  # per channel; ones under ZCA
    zca: ZCA | None = field(default=None, repr=False)
    exact_test: torch.Tensor | None = field(default=None, repr=False)  # bool (N_test,); None: all exact

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])  # type: ignore[return-value]

    @property
    def channels(self) -> int:
        return self.train_images.shape[1]

    def to_display(self, images: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) or (C, H, W) back in [0, 1] for plotting: inverse ZCA, then de-normalise."""
        x = images.detach().float()
        single = x.dim() == 3
        x = x.unsqueeze(0) if single else x
        if self.zca is not None:
            x = self.zca.inverse(x)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        x = (x * std + mean).clamp(0, 1)
        return x[0] if single else x


def load_dataset(config: DataConfig, *, device: torch.device | str | None = None) -> ImageDataset:
    """Load, subset, scale (and resize), then normalise or ZCA-whiten one dataset.

    The returned tensors live on the CPU; ``device`` (default CPU) is where the ZCA is fitted and
    applied, which for full CIFAR-10 takes about a minute on two CPU cores and a moment on a GPU.
    """
    source = read_source(config)
    keep = None
    if config.train_per_class is not None:
        keep = class_balanced_subset(
            source.train_labels, config.train_per_class, len(source.class_names), config.split_seed
        )
    train = _to_float(source.read_train(keep), source.scale, config.image_size)
    test = _to_float(source.test_images, source.scale, config.image_size)
    mean, std, zca = _normalise_or_whiten(train, test, source, config.zca, device)
    pick = slice(None) if keep is None else keep
    dataset = ImageDataset(
        name=config.dataset,
        train_images=train,
        train_labels=torch.as_tensor(source.train_labels[pick], dtype=torch.int64),
        train_indices=torch.as_tensor(source.train_indices[pick], dtype=torch.int64),
        test_images=test,
        test_labels=torch.as_tensor(source.test_labels, dtype=torch.int64),
        class_names=source.class_names,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        zca=zca,
        exact_test=None if source.exact_test is None else torch.as_tensor(source.exact_test),
    )
    logger.info(
        "loaded %s: %d train and %d test images of shape %s",
        dataset.name,
        len(train),
        len(test),
        dataset.image_shape,
    )
    return dataset


def load_unused(
    config: DataConfig, dataset: ImageDataset, per_class: int, *, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``per_class`` training images per class that ``config``'s subset left out, prepared like ``dataset``.

    Returns (images, clean labels, positions in the full training set). The images are scaled and
    then normalised with ``dataset``'s mean/std, or whitened with its ZCA, exactly as its own
    training images were, so a network trained on ``dataset`` can be scored on them. Used for the
    validation split of hyper-parameter selection (tad.selection), which must lie outside the
    images the experiments train on.
    """
    if config.train_per_class is None:
        raise ValueError(
            f"the {config.dataset} configuration trains on its whole training set, so no images are left "
            "for a validation split; set train_per_class (the cifar10-cpu preset uses 500)."
        )
    source = read_source(config)
    num_classes = len(source.class_names)
    used = class_balanced_subset(source.train_labels, config.train_per_class, num_classes, config.split_seed)
    left = np.setdiff1d(np.arange(len(source.train_labels)), used)
    try:
        pick = left[class_balanced_subset(source.train_labels[left], per_class, num_classes, seed + 1)]
    except ValueError as err:
        raise ValueError(f"too few unused training images for {per_class} per class: {err}") from None
    images = _to_float(source.read_train(pick), source.scale, config.image_size)
    if dataset.zca is not None:
        images = dataset.zca.transform(images)
    else:
        images.sub_(torch.tensor(dataset.mean).view(1, -1, 1, 1)).div_(
            torch.tensor(dataset.std).view(1, -1, 1, 1)
        )
    labels = torch.as_tensor(source.train_labels[pick], dtype=torch.int64)
    return images, labels, torch.as_tensor(source.train_indices[pick], dtype=torch.int64)


def check_available(config: DataConfig) -> None:
    """Raise ValueError, before any compute, when the files of ``config.dataset`` cannot be found."""
    check_data_available(config)


def class_balanced_subset(labels: np.ndarray, per_class: int, num_classes: int, seed: int) -> np.ndarray:
    """Sorted positions of ``per_class`` randomly chosen samples of every class (seeded)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(
                f"class {c} has only {len(members)} training images, fewer than "
                f"train_per_class={per_class}; lower --train-per-class."
            )
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def _to_float(images: np.ndarray, scale: float, size: int | None) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 in [0, 1], optionally resized bilinearly, a chunk at a time."""
    n, c, h, w = images.shape
    resize = size is not None and (size, size) != (h, w)
    out = torch.empty((n, c, size, size) if resize else (n, c, h, w), dtype=torch.float32)
    for start in range(0, n, CHUNK):
        chunk = torch.from_numpy(np.ascontiguousarray(images[start : start + CHUNK])).float() / scale
        if resize:
            chunk = F.interpolate(
                chunk, size=(size, size), mode="bilinear", align_corners=False, antialias=False
            )
        out[start : start + len(chunk)] = chunk
    return out


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    std, mean = torch.std_mean(images.transpose(0, 1).reshape(images.shape[1], -1), dim=1)
    return tuple(mean.tolist()), tuple(std.tolist())


def _normalise_or_whiten(
    train: torch.Tensor, test: torch.Tensor, source: RawSource, zca: bool, device: torch.device | str | None
) -> tuple[tuple[float, ...], tuple[float, ...], ZCA | None]:
    """Normalise both splits in place with the dataset's mean/std, or (MTT/DATM with ZCA) whiten them
    with a ZCA fitted on the training images only, skipping mean/std; returns (mean, std, zca)."""
    channels = train.shape[1]
    if zca:
        device = torch.device("cpu") if device is None else torch.device(device)
        whitening = ZCA.fit(train.to(device))
        for images in (train, test):
            for start in range(0, len(images), CHUNK):
                chunk = images[start : start + CHUNK].to(device)
                images[start : start + CHUNK] = whitening.transform(chunk).cpu()
        return (0.0,) * channels, (1.0,) * channels, whitening.to("cpu")
    mean, std = (source.mean, source.std) if source.mean is not None else _channel_stats(train)
    for images in (train, test):
        images.sub_(torch.tensor(mean).view(1, -1, 1, 1)).div_(torch.tensor(std).view(1, -1, 1, 1))
    return mean, std, None


__all__ = [
    "ZCA",
    "ImageDataset",
    "check_available",
    "class_balanced_subset",
    "load_dataset",
    "load_unused",
]
