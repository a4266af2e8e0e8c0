"""Each dataset's files as uint8 arrays: the embedded digits, the CIFAR pickles, a Tiny ImageNet folder.

A reader returns a :class:`RawSource`: the labels and positions of the full training set, a function
that reads the training images at chosen positions (so a subset never decodes the rest), the test
split and the normalisation constants. ``tad.data`` turns it into tensors. Where the files are looked
for, and what is missing, is decided in ``tad.checks``. The constants follow dd-baselines.md §2.1.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tad.checks import (
    CIFAR_FILES,
    TINY_HINT,
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
# Every CIFAR-10 load marks test images 0-999 as exact (ImageDataset.exact_test), so that accuracies
# can be reported on them alone; why: the "Data" section of book/reproduce.md.
CIFAR10_EXACT_TEST = 1000
_IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


@dataclass(frozen=True)
class RawSource:
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


def _digits_source(config: DataConfig) -> RawSource:
    with digits_file().open("rb") as f, np.load(f) as arrays:
        images = arrays["images"][:, None].astype(np.uint8)  # (1797, 1, 8, 8), values 0..16
        labels = arrays["labels"].astype(np.int64)
    train_pos, test_pos = _stratified_split(labels, config.split_seed)
    train_pos, test_pos = np.sort(train_pos), np.sort(test_pos)  # original order within each split
    return RawSource(
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


def _cifar_source(config: DataConfig) -> RawSource:
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
    return RawSource(
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


def _tiny_source(config: DataConfig) -> RawSource:
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
    return RawSource(
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


_READERS: dict[str, Callable[[DataConfig], RawSource]] = {
    "digits": _digits_source,
    "cifar10": _cifar_source,
    "cifar100": _cifar_source,
    "tinyimagenet": _tiny_source,
}


def read_source(config: DataConfig) -> RawSource:
    """The raw arrays of ``config.dataset`` (fetching CIFAR first when ``config.download`` asks to)."""
    return _READERS[config.dataset](config)


__all__ = [
    "CIFAR10_EXACT_TEST",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR100_MEAN",
    "CIFAR100_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "RawSource",
    "ensure_cifar",
    "read_source",
]
