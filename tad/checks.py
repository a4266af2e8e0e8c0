"""Cheap checks of a configuration, run before anything heavy is imported or computed.

This module knows where each dataset's files live and which noise each dataset
supports, and uses only the standard library and NumPy, so the command line can
reject a bad request in a fraction of a second instead of after importing torch.
``data.py`` and ``noise.py`` use the same functions, so the rules live in one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from tad.config import DataConfig, ExperimentConfig, NoiseConfig

DIGITS_TEST_FRACTION = 0.25
ASYMMETRIC_DATASETS = ("cifar10", "cifar100", "digits")  # those with a semantic class map
LABEL_FILES = {"cifar10": "CIFAR-10_human.pt", "cifar100": "CIFAR-100_human.pt"}
TRAIN_PER_CLASS = {"cifar10": 5000, "cifar100": 500, "tinyimagenet": 500}  # the official training sets
TINY_HINT = (
    "pass --data-root pointing at tiny-imagenet-200 (or its parent); "
    "get it from http://cs231n.stanford.edu/tiny-imagenet-200.zip"
)


@dataclass(frozen=True)
class CifarFiles:
    title: str
    folder: str
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    torchvision_name: str


CIFAR_FILES = {
    "cifar10": CifarFiles(
        "CIFAR-10",
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test_batch",
        "batches.meta",
        "CIFAR10",
    ),
    "cifar100": CifarFiles("CIFAR-100", "cifar-100-python", ("train",), "test", "meta", "CIFAR100"),
}


def digits_file() -> resources.abc.Traversable:
    """The embedded scikit-learn digits (1,797 8x8 images), shipped inside the package."""
    return resources.files("tad") / "_data" / "digits.npz"


def digits_test_count(class_size: int) -> int:
    """Test images taken from a digit class of ``class_size`` by the stratified split."""
    return round(class_size * DIGITS_TEST_FRACTION)


def cifar_folder(config: DataConfig) -> tuple[Path, list[Path]]:
    """The folder that should hold ``config.dataset``'s pickles, and which of its files are missing."""
    files = CIFAR_FILES[config.dataset]
    hint = f"pass --data-root pointing at the folder that holds {files.folder}, or add --download"
    if config.data_root is None:
        raise ValueError(f"{files.title} needs a data folder: {hint}.")
    root = Path(config.data_root).expanduser()
    folder = root if root.name == files.folder else root / files.folder
    needed = [folder / name for name in (*files.train_files, files.test_file, files.meta_file)]
    missing = [path for path in needed if not path.is_file()]
    if missing and not config.download:
        raise ValueError(f"{files.title} not found: looked for {missing[0]}; {hint}.")
    return folder, missing


def tiny_root(config: DataConfig) -> Path:
    """The ``tiny-imagenet-200`` folder: ``data_root`` itself or its child of that name."""
    if config.data_root is None:
        raise ValueError(f"Tiny ImageNet needs a data folder: {TINY_HINT}.")
    root = Path(config.data_root).expanduser()
    for candidate in (root, root / "tiny-imagenet-200"):
        if (candidate / "train").is_dir() and (candidate / "val").is_dir():
            return candidate
    looked = f"{root} and {root / 'tiny-imagenet-200'}"
    raise ValueError(f"Tiny ImageNet not found: looked for train/ and val/ in {looked}; {TINY_HINT}.")


def check_data_available(config: DataConfig) -> None:
    """Raise ``ValueError`` when the files of ``config.dataset`` cannot be found."""
    if config.dataset == "digits":
        if not digits_file().is_file():
            raise ValueError("the embedded digits file tad/_data/digits.npz is missing; reinstall tad.")
    elif config.dataset in CIFAR_FILES:
        cifar_folder(config)
    else:
        tiny_root(config)


def smallest_train_class(config: DataConfig) -> int:
    """Training images in the smallest class (before noise), from the dataset's known sizes."""
    if config.dataset == "digits":
        with digits_file().open("rb") as f, np.load(f) as arrays:
            counts = np.bincount(arrays["labels"])
        smallest = int(min(n - digits_test_count(n) for n in counts))
    else:
        smallest = TRAIN_PER_CLASS[config.dataset]
    if config.train_per_class is not None:
        if config.train_per_class > smallest:
            raise ValueError(
                f"--train-per-class {config.train_per_class} exceeds the {smallest} training images of the "
                f"smallest {config.dataset} class."
            )
        smallest = config.train_per_class
    return smallest


def find_label_file(dataset: str, data_root: str | None, label_file: str | None) -> Path:
    """The CIFAR-10N/100N ``.pt`` file: ``label_file`` if given, else searched for near ``data_root``."""
    if label_file is not None:
        path = Path(label_file).expanduser()
        if not path.is_file():
            raise ValueError(f"the label file {path} does not exist.")
        return path
    if dataset not in LABEL_FILES:
        raise ValueError(f"real (human) labels exist only for cifar10 and cifar100, not {dataset!r}.")
    name = LABEL_FILES[dataset]
    folders = []
    if data_root is not None:
        root = Path(data_root).expanduser()
        folders = [root, root / "cifar10n", root.parent / "cifar10n", root / "cifar-10-100n" / "data"]
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    where = ", ".join(str(folder) for folder in folders) or "nowhere (no data root was given)"
    raise ValueError(
        f"could not find {name} (looked in {where}); get it from github.com/UCSC-REAL/cifar-10-100n "
        f"(data/{name}) and pass its path as the label file or put it next to the data."
    )


def check_noise_supported(config: NoiseConfig, dataset: str) -> None:
    """Raise ``ValueError`` if ``config`` cannot be applied to ``dataset``; loads nothing."""
    if config.kind == "asymmetric" and dataset not in ASYMMETRIC_DATASETS:
        raise ValueError(
            f"asymmetric noise has no class map for {dataset!r} (only {', '.join(ASYMMETRIC_DATASETS)}); "
            "use --noise pairflip for a class-dependent c -> c+1 flip instead."
        )
    if config.kind != "real":
        return
    if dataset not in LABEL_FILES:
        raise ValueError(f"real (human) labels exist only for cifar10 and cifar100, not {dataset!r}.")
    needed = "cifar100" if config.real_labels == "noisy100" else "cifar10"
    if dataset != needed:
        raise ValueError(
            f"the real label set {config.real_labels!r} belongs to {needed}, not {dataset}; use "
            f"{'noisy100' if dataset == 'cifar100' else 'aggre, rand1, rand2, rand3 or worse'}."
        )


def check_writable(path: str | Path, option: str) -> None:
    """Raise ValueError when folder ``path`` could not be created or written; creates nothing itself."""
    target = Path(path).expanduser()
    probe = target
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ValueError(f"{option} {target} cannot be created: {probe} is a file; choose another {option}.")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(
            f"{option} {target} cannot be written ({probe} is read-only); choose another {option}."
        )


def check_experiment(config: ExperimentConfig) -> None:
    """Every check that needs neither torch nor data loading."""
    check_noise_supported(config.noise, config.data.dataset)
    check_data_available(config.data)
    if config.noise.kind == "real":
        find_label_file(config.data.dataset, config.data.data_root, config.noise.label_file)
    smallest = smallest_train_class(config.data)
    if config.ipc > smallest:
        raise ValueError(
            f"--ipc {config.ipc} exceeds the {smallest} training images of the smallest class; lower --ipc."
        )


__all__ = [
    "CIFAR_FILES",
    "check_data_available",
    "check_experiment",
    "check_noise_supported",
    "check_writable",
    "cifar_folder",
    "digits_file",
    "digits_test_count",
    "find_label_file",
    "smallest_train_class",
    "tiny_root",
]
