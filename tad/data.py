"""Datasets as tensors: the embedded digits, CIFAR-10/100, a Tiny ImageNet folder, and ZCA whitening.

Every loader ends in the same :class:`ImageDataset`: float32 images (normalised, or ZCA-whitened as in
MTT/DATM), the CLEAN training labels, and ``train_indices`` into the dataset's full original training
set so that label files such as CIFAR-10N can be indexed. Label noise is applied elsewhere (``noise.py``).
Constants and the ZCA recipe follow dd-baselines.md §2.1-2.2.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tad.checks import (
    CIFAR_FILES,
    TINY_HINT,
    check_data_available,
    cifar_folder,
    digits_file,
    digits_test_count,
    tiny_root,
)
from tad.config import DataConfig

logger = logging.getLogger(__name__)

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
# DC/DSA/DM constants. MTT and DATM reuse the CIFAR-10 ones for CIFAR-100; that only matters without ZCA.
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# shared/data's CIFAR-10 test_batch is exact only for images 0-999 (the rest are JPEG copies). We flag
# these for every CIFAR-10 load: on the official files all images are exact and this is merely a subset.
CIFAR10_EXACT_TEST = 1000
CHUNK = 4096  # images per conversion/whitening step: bounds the temporary memory of a 50,000-image load
_IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


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


@dataclass(frozen=True)
class _Source:
    """One dataset's raw uint8 images (N, C, H, W) before subset, scaling and whitening."""

    train_labels: np.ndarray  # int64 (N,)
    train_indices: np.ndarray  # int64 (N,) positions in the full original training set
    read_train: Callable[[np.ndarray | None], np.ndarray]  # images at positions (None: all)
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    scale: float = 255.0  # the pixel value that maps to 1.0
    mean: tuple[float, ...] | None = None  # None: use the training images' own statistics
    std: tuple[float, ...] | None = None
    exact_test: np.ndarray | None = None


def load_dataset(config: DataConfig, *, device: torch.device | str | None = None) -> ImageDataset:
    """Load, subset, scale (and resize), then normalise or ZCA-whiten one dataset.

    The returned tensors live on the CPU; ``device`` (default CPU) is where the ZCA is fitted and
    applied, which for full CIFAR-10 takes about a minute on two CPU cores and a moment on a GPU.
    """
    source = _SOURCES[config.dataset](config)
    keep = None
    if config.train_per_class is not None:
        keep = class_balanced_subset(
            source.train_labels, config.train_per_class, len(source.class_names), config.seed
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
    source = _SOURCES[config.dataset](config)
    num_classes = len(source.class_names)
    used = class_balanced_subset(source.train_labels, config.train_per_class, num_classes, config.seed)
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
    train: torch.Tensor, test: torch.Tensor, source: _Source, zca: bool, device: torch.device | str | None
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


# --- digits ------------------------------------------------------------------------------------------


def _stratified_split(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split that takes the same share of every class for testing."""
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        test.append(members[: digits_test_count(len(members))])
    test_pos = np.concatenate(test)
    return np.setdiff1d(np.arange(len(labels)), test_pos), test_pos


def _digits_source(config: DataConfig) -> _Source:
    with digits_file().open("rb") as f, np.load(f) as arrays:
        images = arrays["images"][:, None].astype(np.uint8)  # (1797, 1, 8, 8), values 0..16
        labels = arrays["labels"].astype(np.int64)
    train_pos, test_pos = _stratified_split(labels, config.seed)
    train_pos, test_pos = np.sort(train_pos), np.sort(test_pos)  # original order within each split
    return _Source(
        train_labels=labels[train_pos],
        train_indices=train_pos,  # positions among all 1,797 digits
        read_train=lambda keep: images[train_pos if keep is None else train_pos[keep]],
        test_images=images[test_pos],
        test_labels=labels[test_pos],
        class_names=tuple(str(d) for d in range(10)),
        scale=16.0,
    )


# --- CIFAR-10 / CIFAR-100 ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _CifarLayout:
    label_key: str
    names_key: str
    mean: tuple[float, ...]
    std: tuple[float, ...]


_CIFAR = {
    "cifar10": _CifarLayout("labels", "label_names", CIFAR10_MEAN, CIFAR10_STD),
    "cifar100": _CifarLayout("fine_labels", "fine_label_names", CIFAR100_MEAN, CIFAR100_STD),
}


def _cifar_folder(config: DataConfig) -> Path:
    """The folder holding the pickles; downloads them first when asked to and they are missing."""
    folder, missing = cifar_folder(config)
    if missing:
        files = CIFAR_FILES[config.dataset]
        _download_cifar(Path(config.data_root).expanduser(), files.title, files.torchvision_name)
        folder, missing = cifar_folder(replace(config, download=False))
    return folder


def ensure_cifar(config: DataConfig) -> Path:
    """The CIFAR folder of ``config``, fetched with torchvision (and its checksum) when files are missing."""
    return _cifar_folder(replace(config, download=True))


def _download_cifar(root: Path, title: str, torchvision_name: str) -> None:
    import torchvision

    logger.info("downloading %s into %s", title, root)
    try:
        getattr(torchvision.datasets, torchvision_name)(str(root), train=True, download=True)
    except Exception as err:  # no network, a full disk, a checksum mismatch: all leave the data missing
        raise ValueError(f"could not download {title} into {root} ({err}).") from err


def _read_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            content = pickle.load(f, encoding="latin1")
    except Exception as err:  # a truncated or foreign file can raise almost anything while unpickling
        raise ValueError(f"{path} is not a readable CIFAR pickle ({type(err).__name__}: {err}).") from err
    if not isinstance(content, dict):
        raise ValueError(f"{path} is not a CIFAR pickle: it holds a {type(content).__name__}, not a dict.")
    return content


def _read_cifar_batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    content = _read_pickle(path)
    try:
        data = np.asarray(content["data"])
        labels = np.asarray(content[label_key], dtype=np.int64)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path} lacks the CIFAR keys 'data' and {label_key!r} ({err}).") from err
    ok = data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3 * 32 * 32
    ok = ok and labels.shape == (len(data),) and labels.min(initial=0) >= 0
    if not ok or labels.max(initial=0) >= num_classes:
        raise ValueError(
            f"{path} has malformed CIFAR arrays: data {data.dtype} {data.shape}, "
            f"labels {labels.shape} (expected uint8 (N, 3072) and N labels below "
            f"{num_classes})."
        )
    return data.reshape(-1, 3, 32, 32), labels


def _cifar_source(config: DataConfig) -> _Source:
    layout, files = _CIFAR[config.dataset], CIFAR_FILES[config.dataset]
    folder = _cifar_folder(config)
    meta = _read_pickle(folder / files.meta_file)
    if not isinstance(meta.get(layout.names_key), list):
        raise ValueError(f"{folder / files.meta_file} lacks the class names {layout.names_key!r}.")
    class_names = tuple(str(name) for name in meta[layout.names_key])
    parts = [_read_cifar_batch(folder / f, layout.label_key, len(class_names)) for f in files.train_files]
    train_images = np.concatenate([data for data, _ in parts])
    train_labels = np.concatenate([labels for _, labels in parts])
    del parts  # the batches now live in train_images only
    test_images, test_labels = _read_cifar_batch(folder / files.test_file, layout.label_key, len(class_names))
    exact = None
    if config.dataset == "cifar10":
        exact = np.arange(len(test_labels)) < CIFAR10_EXACT_TEST
    return _Source(
        train_labels=train_labels,
        train_indices=np.arange(len(train_labels)),
        read_train=lambda keep: train_images if keep is None else train_images[keep],
        test_images=test_images,
        test_labels=test_labels,
        class_names=class_names,
        mean=layout.mean,
        std=layout.std,
        exact_test=exact,
    )


# --- Tiny ImageNet -----------------------------------------------------------------------------------


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)


def _tiny_val(val: Path, index: dict[str, int]) -> list[tuple[Path, int]]:
    """Validation files and labels: already sorted into class folders, or the official flat layout."""
    for sorted_dir in (val / "images", val):
        if any((sorted_dir / wnid).is_dir() for wnid in index):
            return [(f, c) for wnid, c in index.items() for f in _image_files(sorted_dir / wnid)]
    annotations = val / "val_annotations.txt"
    if not annotations.is_file():
        raise ValueError(
            f"Tiny ImageNet validation labels not found: looked for {annotations} and for "
            f"class folders in {val}; {TINY_HINT}."
        )
    pairs = []
    for line in annotations.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) < 2:
            continue
        if fields[1] not in index:
            raise ValueError(f"{annotations} names class {fields[1]}, which has no folder in train/.")
        pairs.append((val / "images" / fields[0], index[fields[1]]))
    return pairs


def _read_images(files: list[Path]) -> np.ndarray:
    """RGB images of one size as uint8 (N, 3, H, W)."""
    from PIL import Image

    out = None
    for i, path in enumerate(files):
        try:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
        except OSError as err:
            raise ValueError(f"{path} is not a readable image ({err}).") from err
        if out is None:
            out = np.empty((len(files), 3, *pixels.shape[:2]), dtype=np.uint8)
        if pixels.shape[:2] != out.shape[2:]:
            raise ValueError(
                f"{path} is {pixels.shape[1]}x{pixels.shape[0]} pixels, unlike the "
                f"{out.shape[3]}x{out.shape[2]} of the others."
            )
        out[i] = pixels.transpose(2, 0, 1)
    if out is None:
        raise ValueError("found no images to read.")
    return out


def _tiny_source(config: DataConfig) -> _Source:
    root = tiny_root(config)
    wnids = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())  # ImageFolder's class order
    index = {wnid: c for c, wnid in enumerate(wnids)}
    train = [(f, c) for wnid, c in index.items() for f in _image_files(root / "train" / wnid)]
    val = _tiny_val(root / "val", index)
    if not train or not val:
        raise ValueError(
            f"Tiny ImageNet in {root} has {len(train)} train and {len(val)} val images; {TINY_HINT}."
        )
    train_files = [f for f, _ in train]
    return _Source(
        train_labels=np.array([c for _, c in train], dtype=np.int64),
        train_indices=np.arange(len(train)),
        read_train=lambda keep: _read_images(train_files if keep is None else [train_files[i] for i in keep]),
        test_images=_read_images([f for f, _ in val]),
        test_labels=np.array([c for _, c in val], dtype=np.int64),
        class_names=_tiny_class_names(root, wnids),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    )


def _tiny_class_names(root: Path, wnids: list[str]) -> tuple[str, ...]:
    """Readable names from words.txt ("wnid<TAB>name, synonym, ...") where present, else the wnids."""
    words = {}
    if (root / "words.txt").is_file():
        for line in (root / "words.txt").read_text().splitlines():
            wnid, _, names = line.partition("\t")
            words[wnid] = names.split(",")[0].strip()
    return tuple(words.get(wnid) or wnid for wnid in wnids)


_SOURCES: dict[str, Callable[[DataConfig], _Source]] = {
    "digits": _digits_source,
    "cifar10": _cifar_source,
    "cifar100": _cifar_source,
    "tinyimagenet": _tiny_source,
}

__all__ = [
    "ZCA",
    "ImageDataset",
    "check_available",
    "class_balanced_subset",
    "ensure_cifar",
    "load_dataset",
    "load_unused",
]
