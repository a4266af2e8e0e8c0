"""Label noise: transition matrices, seeded corruption, CIFAR-N human labels and a report of what was done.

Conventions. ``N`` samples, ``C`` classes. Labels are 1-D integer arrays of shape ``(N,)`` with values in
``[0, C)``; numpy arrays and torch tensors are both accepted, and numpy ``int64`` arrays are returned.
A transition matrix ``P`` has shape ``(C, C)`` and is row-stochastic: ``P[i, j] = P(noisy = j | clean = i)``.
Only the training labels are ever corrupted; test labels stay clean.

The single entry point for the pipeline is :func:`apply_noise`; :func:`check_supported` is the cheap check
the command line runs before it loads any data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import numpy as np
import torch

from tad.checkpoint import can_alias
from tad.checks import check_noise_supported, find_label_file
from tad.config import DatasetName, NoiseConfig

log = logging.getLogger(__name__)

# CIFAR-10 class indices: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship,
# 9 truck. Reconstruction: the DD_LNL / DivideMix map (truck->automobile, bird->airplane, deer->horse,
# cat<->dog); the five other classes are never flipped, so the overall rate is about rate / 2.
_CIFAR10_FLIPS: dict[int, int] = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}

# Reconstruction: the MNIST map of Patrini et al. 2017 (2->7, 3->8, 5<->6, 7->1), used for the digits set.
_DIGITS_FLIPS: dict[int, int] = {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}

# The 20 true CIFAR-100 superclasses, as fine-label indices in torchvision's alphabetical order (checked
# against the clean_coarse_label key of CIFAR-100_human.pt). DD_LNL's small_mammals list forgets 'mouse'
# (50), which then stays clean; we include it, so every superclass is a 5-cycle.
CIFAR100_SUPERCLASSES: dict[str, tuple[int, ...]] = {
    "aquatic_mammals": (4, 30, 55, 72, 95),  # beaver dolphin otter seal whale
    "fish": (1, 32, 67, 73, 91),  # aquarium_fish flatfish ray shark trout
    "flowers": (54, 62, 70, 82, 92),  # orchid poppy rose sunflower tulip
    "food_containers": (9, 10, 16, 28, 61),  # bottle bowl can cup plate
    "fruit_and_vegetables": (0, 51, 53, 57, 83),  # apple mushroom orange pear sweet_pepper
    "household_electrical_devices": (22, 39, 40, 86, 87),  # clock keyboard lamp telephone television
    "household_furniture": (5, 20, 25, 84, 94),  # bed chair couch table wardrobe
    "insects": (6, 7, 14, 18, 24),  # bee beetle butterfly caterpillar cockroach
    "large_carnivores": (3, 42, 43, 88, 97),  # bear leopard lion tiger wolf
    "large_man-made_outdoor_things": (12, 17, 37, 68, 76),  # bridge castle house road skyscraper
    "large_natural_outdoor_scenes": (23, 33, 49, 60, 71),  # cloud forest mountain plain sea
    "large_omnivores_and_herbivores": (15, 19, 21, 31, 38),  # camel cattle chimpanzee elephant kangaroo
    "medium_mammals": (34, 63, 64, 66, 75),  # fox porcupine possum raccoon skunk
    "non-insect_invertebrates": (26, 45, 77, 79, 99),  # crab lobster snail spider worm
    "people": (2, 11, 35, 46, 98),  # baby boy girl man woman
    "reptiles": (27, 29, 44, 78, 93),  # crocodile dinosaur lizard snake turtle
    "small_mammals": (36, 50, 65, 74, 80),  # hamster mouse rabbit shrew squirrel
    "trees": (47, 52, 56, 59, 96),  # maple oak palm pine willow
    "vehicles_1": (8, 13, 48, 58, 90),  # bicycle bus motorcycle pickup_truck train
    "vehicles_2": (41, 69, 81, 85, 89),  # lawn_mower rocket streetcar tank tractor
}


def _superclass_flips() -> dict[int, int]:
    # Reconstruction: DD_LNL's cyclic next-class flip inside each true superclass (members ordered by fine
    # index, last -> first), not the consecutive index blocks of the Co-teaching code.
    flips = {}
    for members in CIFAR100_SUPERCLASSES.values():
        ordered = sorted(members)
        for k, source in enumerate(ordered):
            flips[source] = ordered[(k + 1) % len(ordered)]
    return flips


_ASYMMETRIC_FLIPS: dict[str, tuple[int, dict[int, int]]] = {
    "cifar10": (10, _CIFAR10_FLIPS),
    "cifar100": (100, _superclass_flips()),
    "digits": (10, _DIGITS_FLIPS),
}

REAL_LABEL_KEYS: dict[str, str] = {
    "aggre": "aggre_label",
    "rand1": "random_label1",
    "rand2": "random_label2",
    "rand3": "random_label3",
    "worse": "worse_label",
    "noisy100": "noisy_label",
}
_ROW_TOLERANCE = 1e-6


def _as_labels(labels: object, what: str = "labels") -> np.ndarray:
    """A 1-D int64 numpy copy of ``labels`` (numpy array, torch tensor or sequence)."""
    array = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if array.ndim != 1 or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(
            f"{what} must be a 1-D array of integer class indices; got {array.dtype} {array.shape}."
        )
    return array.astype(np.int64)


def _check_labels(labels: np.ndarray, num_classes: int, what: str = "labels") -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{what} must lie in [0, {num_classes}); found {labels.min()}..{labels.max()}.")


def _check_matrix_args(num_classes: int, rate: float) -> None:
    if num_classes < 2:
        raise ValueError(f"label noise needs at least 2 classes; got {num_classes}.")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"noise rate must lie in [0, 1]; got {rate}.")


def _matrix_from_flips(num_classes: int, flips: dict[int, int], rate: float) -> np.ndarray:
    """Identity, except that each source row keeps ``1 - rate`` and sends ``rate`` to its target."""
    matrix = np.eye(num_classes)
    for source, target in flips.items():
        matrix[source, source] = 1.0 - rate
        matrix[source, target] = rate
    return matrix


def symmetric_matrix(num_classes: int, rate: float, *, include_true: bool = False) -> np.ndarray:
    """Uniform noise; by default a flipped label goes to one of the *other* classes.

    Reconstruction: ``include_true=False`` is the DD_LNL (and RDC) convention, realised rate ``rate``;
    ``include_true=True`` is DivideMix's "redraw uniformly over all classes", realised rate
    ``rate * (C - 1) / C``.
    """
    _check_matrix_args(num_classes, rate)
    if include_true:
        return np.full((num_classes, num_classes), rate / num_classes) + (1.0 - rate) * np.eye(num_classes)
    matrix = np.full((num_classes, num_classes), rate / (num_classes - 1))
    np.fill_diagonal(matrix, 1.0 - rate)
    return matrix


def pairflip_matrix(num_classes: int, rate: float) -> np.ndarray:
    """Class ``c`` flips to ``(c + 1) mod C`` with probability ``rate`` (Co-teaching; RDC's "asym" files)."""
    _check_matrix_args(num_classes, rate)
    return _matrix_from_flips(num_classes, {c: (c + 1) % num_classes for c in range(num_classes)}, rate)


def asymmetric_matrix(dataset: str, num_classes: int, rate: float) -> np.ndarray:
    """Semantic class-pair flips: the CIFAR-10, CIFAR-100 superclass and MNIST maps of the literature."""
    _check_matrix_args(num_classes, rate)
    if dataset not in _ASYMMETRIC_FLIPS:
        check_noise_supported(NoiseConfig(kind="asymmetric", rate=rate or 0.5), dataset)
    expected, flips = _ASYMMETRIC_FLIPS[dataset]
    if num_classes != expected:
        raise ValueError(f"the {dataset} asymmetric map is for {expected} classes; got {num_classes}.")
    return _matrix_from_flips(num_classes, flips, rate)


def transition_matrix(config: NoiseConfig, dataset: str, num_classes: int) -> np.ndarray:
    """The requested ``(C, C)`` matrix of a synthetic noise config (identity for clean labels)."""
    if config.kind == "clean":
        return np.eye(num_classes)
    if config.kind == "symmetric":
        return symmetric_matrix(num_classes, config.rate, include_true=config.symmetric_include_true)
    if config.kind == "pairflip":
        return pairflip_matrix(num_classes, config.rate)
    if config.kind == "asymmetric":
        return asymmetric_matrix(dataset, num_classes, config.rate)
    raise ValueError("real noise has no requested transition matrix; load its labels with load_real_labels.")


def _check_transition(transition: np.ndarray) -> None:
    if transition.ndim != 2 or transition.shape[0] != transition.shape[1]:
        raise ValueError(f"a transition matrix must be square; got shape {transition.shape}.")
    if not np.all(np.isfinite(transition)) or transition.min() < 0:
        raise ValueError("a transition matrix must hold finite, non-negative probabilities.")
    worst = np.abs(transition.sum(axis=1) - 1.0).max()
    if worst > _ROW_TOLERANCE:
        raise ValueError(f"every row of a transition matrix must sum to 1; one is off by {worst:.3g}.")


def corrupt_labels(labels: object, transition: np.ndarray, *, seed: int) -> np.ndarray:
    """Draw ``noisy[n] ~ transition[labels[n]]`` for every sample, reproducibly from ``seed``.

    One uniform number per sample, drawn in sample order from ``np.random.default_rng(seed)``, is mapped
    through the inverse CDF of its row. (DD_LNL instead uses ``RandomState(0).multinomial`` sample by
    sample, so the same matrix gives statistically equal but not identical labels.)
    """
    transition = np.asarray(transition, dtype=np.float64)
    _check_transition(transition)
    clean = _as_labels(labels)
    _check_labels(clean, transition.shape[0])
    uniform = np.random.default_rng(seed).random(clean.size)
    cumulative = np.cumsum(transition, axis=1)
    # Dividing by the row total makes the last entry exactly 1.0, so u in [0, 1) never runs off the row and
    # never lands on a trailing class of probability zero.
    cumulative /= cumulative[:, -1:]
    noisy = np.empty_like(clean)
    for label in np.unique(clean):
        rows = clean == label
        noisy[rows] = np.searchsorted(cumulative[label], uniform[rows], side="right")
    return noisy


def _numpy_array_classes() -> list:
    """What a pickled numpy integer array needs, and nothing else (for ``torch.load(weights_only=True)``).

    The CIFAR-N files pickle numpy arrays under numpy 1's module paths; numpy 2 moved
    ``numpy.core`` to ``numpy._core``, so the reconstructor is allowed under its old name too.
    """
    import importlib

    core = importlib.import_module(
        "numpy._core.multiarray" if hasattr(np, "_core") else "numpy.core.multiarray"
    )
    dtypes = [type(np.dtype(t)) for t in (np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_)]
    old_name = (core._reconstruct, "numpy.core.multiarray._reconstruct")
    return [core._reconstruct, old_name, np.ndarray, np.dtype, *dtypes]


def _read_label_file(path: str | Path) -> dict:
    """A CIFAR-N label file: a dict of numpy integer arrays, pickled by its authors.

    We trust exactly that: ``weights_only`` loading that accepts numpy integer arrays and refuses
    any other class, so a file that would run code on load is an error, not an execution. (torch
    before 2.6 cannot allow numpy's renamed reconstructor; there the file is unpickled in full.)
    """
    try:
        if not can_alias():
            content = torch.load(path, map_location="cpu", weights_only=False)
        else:
            with torch.serialization.safe_globals(_numpy_array_classes()):
                content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        first = (str(error).strip().splitlines() or [""])[0][:200]
        raise ValueError(
            f"could not read the label file {path} as a dict of numpy integer arrays ({first})."
        ) from None
    if not isinstance(content, dict) or "clean_label" not in content:
        raise ValueError(f"{path} is not a CIFAR-N label file (expected a dict with a 'clean_label' key).")
    return content


def load_real_labels(
    path: str | Path, label_set: str, *, clean_labels: object, indices: object = None
) -> np.ndarray:
    """The human noisy labels ``label_set`` of a CIFAR-N file, at ``indices`` of the 50,000 training images.

    ``clean_labels`` are the dataset's own labels at those indices; they must equal the file's
    ``clean_label`` there, which catches a wrong file, a wrong dataset or a different image order.
    """
    if label_set not in REAL_LABEL_KEYS:
        raise ValueError(f"unknown real label set {label_set!r}; choose from {', '.join(REAL_LABEL_KEYS)}.")
    content = _read_label_file(path)
    key = REAL_LABEL_KEYS[label_set]
    is_cifar100_file = "noisy_label" in content
    if key not in content or (label_set == "noisy100") != is_cifar100_file:
        wanted = "CIFAR-100_human.pt" if label_set == "noisy100" else "CIFAR-10_human.pt"
        raise ValueError(f"label set {label_set!r} needs {wanted}, but {path} holds keys {sorted(content)}.")
    file_clean = np.asarray(content["clean_label"], dtype=np.int64)
    positions = np.arange(file_clean.size) if indices is None else _as_labels(indices, "indices")
    _check_labels(positions, file_clean.size, "indices")
    clean = _as_labels(clean_labels, "clean_labels")
    if clean.shape != positions.shape or not np.array_equal(file_clean[positions], clean):
        raise ValueError(
            f"label file does not match the dataset: the clean labels of {path} at the {positions.size} "
            f"requested indices differ from the {clean.size} dataset labels (wrong file or image order?)."
        )
    return np.asarray(content[key], dtype=np.int64)[positions]


@dataclass(frozen=True, eq=False)  # eq=False: array fields make field-wise == ambiguous
class NoiseReport:
    """What the noise did to the training labels, next to what was asked for."""

    kind: str
    requested_rate: float  # config.rate (0 for clean and real)
    realised_rate: float  # fraction of labels that differ from the clean ones
    per_class_rate: np.ndarray  # (C,) fraction of each clean class whose label changed (0 if absent)
    requested_matrix: np.ndarray | None  # (C, C), or None for real noise
    realised_matrix: np.ndarray  # (C, C) P(noisy = j | clean = i); rows of absent classes are zeros

    def to_dict(self) -> dict:
        """JSON-ready: floats and nested lists."""
        requested = None if self.requested_matrix is None else self.requested_matrix.tolist()
        return {
            "kind": self.kind,
            "requested_rate": float(self.requested_rate),
            "realised_rate": float(self.realised_rate),
            "per_class_rate": self.per_class_rate.tolist(),
            "requested_matrix": requested,
            "realised_matrix": self.realised_matrix.tolist(),
        }


def realised_noise(
    clean: object,
    noisy: object,
    num_classes: int,
    *,
    kind: str = "",
    requested_rate: float = 0.0,
    requested_matrix: np.ndarray | None = None,
) -> NoiseReport:
    """Measure the noise actually present: overall and per-class flip rates and the confusion matrix."""
    clean, noisy = _as_labels(clean, "clean labels"), _as_labels(noisy, "noisy labels")
    if clean.shape != noisy.shape:
        raise ValueError(f"clean and noisy labels differ in length: {clean.size} vs {noisy.size}.")
    _check_labels(clean, num_classes, "clean labels")
    _check_labels(noisy, num_classes, "noisy labels")
    pairs = np.bincount(clean * num_classes + noisy, minlength=num_classes**2)
    counts = pairs.reshape(num_classes, num_classes).astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    realised = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    per_class = np.where(totals[:, 0] > 0, 1.0 - np.diag(realised), 0.0)
    matrix = None if requested_matrix is None else np.asarray(requested_matrix, dtype=np.float64)
    return NoiseReport(
        kind=kind,
        requested_rate=float(requested_rate),
        realised_rate=float(np.mean(clean != noisy)) if clean.size else 0.0,
        per_class_rate=per_class,
        requested_matrix=matrix,
        realised_matrix=realised,
    )


def check_supported(config: NoiseConfig, dataset: str) -> None:
    """Raise ``ValueError`` if ``config`` cannot be applied to ``dataset``; cheap, loads nothing."""
    if dataset not in get_args(DatasetName):
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(get_args(DatasetName))}.")
    check_noise_supported(config, dataset)


def apply_noise(
    config: NoiseConfig,
    dataset: str,
    clean_labels: object,
    num_classes: int,
    *,
    data_root: str | None = None,
    indices: object = None,
) -> tuple[np.ndarray, NoiseReport]:
    """Noisy training labels for ``config`` and a report of the noise they carry.

    ``indices`` are the positions of ``clean_labels`` in the full training set; only real (file) noise
    needs them, since synthetic noise is drawn afresh for whatever labels are given.
    """
    check_supported(config, dataset)
    clean = _as_labels(clean_labels, "clean_labels")
    _check_labels(clean, num_classes, "clean_labels")
    if config.kind == "real":
        path = find_label_file(dataset, data_root, config.label_file)
        noisy = load_real_labels(path, config.real_labels, clean_labels=clean, indices=indices)
        requested = None
    else:
        requested = transition_matrix(config, dataset, num_classes)
        noisy = clean.copy() if config.kind == "clean" else corrupt_labels(clean, requested, seed=config.seed)
    report = realised_noise(
        clean, noisy, num_classes, kind=config.kind, requested_rate=config.rate, requested_matrix=requested
    )
    log.info("%s label noise on %s: realised rate %.4f", config.kind, dataset, report.realised_rate)
    return noisy, report


__all__ = [
    "CIFAR100_SUPERCLASSES",
    "REAL_LABEL_KEYS",
    "NoiseReport",
    "apply_noise",
    "asymmetric_matrix",
    "check_supported",
    "corrupt_labels",
    "find_label_file",
    "load_real_labels",
    "pairflip_matrix",
    "realised_noise",
    "symmetric_matrix",
    "transition_matrix",
]
