"""Tests for tad.noise: matrices, seeded corruption, CIFAR-N label files and the noise report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tad.config import NoiseConfig
from tad.noise import (
    CIFAR100_SUPERCLASSES,
    apply_noise,
    asymmetric_matrix,
    check_supported,
    corrupt_labels,
    find_label_file,
    load_real_labels,
    pairflip_matrix,
    realised_noise,
    symmetric_matrix,
    transition_matrix,
)

CIFAR_N = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10n"


def balanced_labels(num_classes: int, per_class: int) -> np.ndarray:
    return np.repeat(np.arange(num_classes), per_class)


def off_diagonal_pairs(clean: np.ndarray, noisy: np.ndarray) -> set[tuple[int, int]]:
    changed = clean != noisy
    return set(zip(clean[changed].tolist(), noisy[changed].tolist(), strict=True))


@pytest.mark.parametrize(
    "matrix",
    [
        symmetric_matrix(10, 0.4),
        symmetric_matrix(10, 0.4, include_true=True),
        symmetric_matrix(200, 0.8),
        pairflip_matrix(200, 0.3),
        asymmetric_matrix("cifar10", 10, 0.6),
        asymmetric_matrix("cifar100", 100, 0.4),
        asymmetric_matrix("digits", 10, 0.2),
    ],
)
def test_matrices_are_row_stochastic(matrix: np.ndarray) -> None:
    assert matrix.shape[0] == matrix.shape[1]
    assert matrix.min() >= 0
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-12)


def test_symmetric_conventions() -> None:
    other = symmetric_matrix(10, 0.4)
    assert other[0, 0] == pytest.approx(0.6) and other[0, 1] == pytest.approx(0.4 / 9)
    anyclass = symmetric_matrix(10, 0.4, include_true=True)
    assert anyclass[0, 0] == pytest.approx(0.64) and anyclass[0, 1] == pytest.approx(0.04)


@pytest.mark.parametrize(("include_true", "expected"), [(False, 0.4), (True, 0.4 * 9 / 10)])
def test_symmetric_realised_rate(include_true: bool, expected: float) -> None:
    clean = balanced_labels(10, 2000)
    noisy = corrupt_labels(clean, symmetric_matrix(10, 0.4, include_true=include_true), seed=1)
    assert noisy.dtype == np.int64
    assert abs(np.mean(noisy != clean) - expected) < 0.01


@pytest.mark.parametrize(
    ("matrix", "declared"),
    [
        (asymmetric_matrix("cifar10", 10, 0.4), {(9, 1), (2, 0), (4, 7), (3, 5), (5, 3)}),
        (asymmetric_matrix("digits", 10, 0.4), {(2, 7), (3, 8), (5, 6), (6, 5), (7, 1)}),
        (pairflip_matrix(10, 0.4), {(c, (c + 1) % 10) for c in range(10)}),
    ],
)
def test_only_declared_pairs_flip(matrix: np.ndarray, declared: set[tuple[int, int]]) -> None:
    clean = balanced_labels(10, 500)
    noisy = corrupt_labels(clean, matrix, seed=0)
    assert off_diagonal_pairs(clean, noisy) == declared  # every declared pair occurs, and nothing else


def test_cifar10_asymmetric_overall_rate_is_about_half() -> None:
    clean = balanced_labels(10, 2000)
    noisy = corrupt_labels(clean, asymmetric_matrix("cifar10", 10, 0.4), seed=0)
    assert abs(np.mean(noisy != clean) - 0.2) < 0.01


def test_cifar100_asymmetric_is_a_permutation_within_true_superclasses() -> None:
    groups = list(CIFAR100_SUPERCLASSES.values())
    assert sorted(c for group in groups for c in group) == list(range(100))
    assert all(len(group) == 5 for group in groups)
    assert set(CIFAR100_SUPERCLASSES["small_mammals"]) == {36, 50, 65, 74, 80}  # mouse (50) included
    assert set(CIFAR100_SUPERCLASSES["people"]) == {2, 11, 35, 46, 98}
    coarse = {fine: k for k, group in enumerate(groups) for fine in group}
    matrix = asymmetric_matrix("cifar100", 100, 0.4)
    off = matrix - np.diag(np.diag(matrix))
    targets = off.argmax(axis=1)
    assert np.all((off > 0).sum(axis=1) == 1)  # exactly one target per class, none is itself
    assert sorted(targets.tolist()) == list(range(100))  # a permutation
    assert all(coarse[int(t)] == coarse[c] for c, t in enumerate(targets))
    assert targets[36] == 50 and targets[80] == 36  # hamster -> mouse, squirrel -> hamster (cyclic)
    clean = balanced_labels(100, 50)
    noisy = corrupt_labels(clean, matrix, seed=3)
    assert all(coarse[c] == coarse[n] for c, n in off_diagonal_pairs(clean, noisy))


def test_seeds_reproduce_and_differ() -> None:
    clean = balanced_labels(10, 300)
    matrix = symmetric_matrix(10, 0.5)
    first = corrupt_labels(clean, matrix, seed=7)
    np.testing.assert_array_equal(first, corrupt_labels(clean, matrix, seed=7))
    assert not np.array_equal(first, corrupt_labels(clean, matrix, seed=8))


@pytest.mark.parametrize(
    "matrix",
    [symmetric_matrix(10, 0.6), asymmetric_matrix("cifar10", 10, 0.4), pairflip_matrix(10, 0.2)],
)
def test_realised_matrix_approximates_requested(matrix: np.ndarray) -> None:
    clean = balanced_labels(10, 5000)
    report = realised_noise(clean, corrupt_labels(clean, matrix, seed=2), 10, requested_matrix=matrix)
    assert np.abs(report.realised_matrix - matrix).max() < 0.02
    np.testing.assert_allclose(report.per_class_rate, 1.0 - np.diag(report.realised_matrix))


def test_zero_probability_classes_are_never_drawn() -> None:
    clean = balanced_labels(3, 1000)
    matrix = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    noisy = corrupt_labels(clean, matrix, seed=0)
    assert off_diagonal_pairs(clean, noisy) == {(0, 1)}


def test_report_counts_and_absent_classes() -> None:
    clean = np.array([0, 0, 0, 0, 1, 1])
    noisy = torch.tensor([0, 1, 1, 0, 1, 0])  # tensors are accepted
    report = realised_noise(clean, noisy, 3, kind="symmetric", requested_rate=0.5)
    assert report.realised_rate == pytest.approx(3 / 6)
    np.testing.assert_allclose(report.per_class_rate, [0.5, 0.5, 0.0])
    np.testing.assert_allclose(report.realised_matrix, [[0.5, 0.5, 0], [0.5, 0.5, 0], [0, 0, 0]])
    data = json.loads(json.dumps(report.to_dict()))
    assert data["requested_matrix"] is None and data["realised_rate"] == pytest.approx(0.5)


def test_apply_noise_synthetic_and_clean() -> None:
    clean = torch.as_tensor(balanced_labels(10, 1000))
    config = NoiseConfig(kind="pairflip", rate=0.2, seed=4)
    noisy, report = apply_noise(config, "cifar10", clean, 10)
    assert isinstance(noisy, np.ndarray) and noisy.dtype == np.int64
    np.testing.assert_array_equal(noisy, corrupt_labels(clean, pairflip_matrix(10, 0.2), seed=4))
    assert report.kind == "pairflip" and report.requested_rate == 0.2
    assert abs(report.realised_rate - 0.2) < 0.02
    same, clean_report = apply_noise(NoiseConfig(), "digits", clean, 10)
    np.testing.assert_array_equal(same, clean.numpy())
    assert clean_report.realised_rate == 0.0
    np.testing.assert_array_equal(transition_matrix(NoiseConfig(), "digits", 10), np.eye(10))


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [1.5, -0.1])
def test_config_rejects_bad_rates(rate: float) -> None:
    with pytest.raises(ValueError, match="noise rate"):
        NoiseConfig(kind="symmetric", rate=rate)


def test_asymmetric_tinyimagenet_is_refused() -> None:
    config = NoiseConfig(kind="asymmetric", rate=0.4)
    with pytest.raises(ValueError, match=r"no class map.*pairflip"):
        check_supported(config, "tinyimagenet")
    with pytest.raises(ValueError, match="no class map"):
        apply_noise(config, "tinyimagenet", np.zeros(4, dtype=np.int64), 200)
    with pytest.raises(ValueError, match="no class map"):
        asymmetric_matrix("tinyimagenet", 200, 0.4)


def test_real_noise_needs_a_matching_dataset() -> None:
    with pytest.raises(ValueError, match="only for cifar10 and cifar100"):
        check_supported(NoiseConfig(kind="real"), "digits")
    with pytest.raises(ValueError, match="belongs to cifar100"):
        apply_noise(NoiseConfig(kind="real", real_labels="noisy100"), "cifar10", np.zeros(3, np.int64), 10)
    with pytest.raises(ValueError, match="belongs to cifar10"):
        check_supported(NoiseConfig(kind="real", real_labels="rand1"), "cifar100")
    with pytest.raises(ValueError, match="load_real_labels"):
        transition_matrix(NoiseConfig(kind="real"), "cifar10", 10)


def test_corrupt_labels_validates_inputs() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        corrupt_labels([0, 1], np.full((2, 2), 0.4), seed=0)
    with pytest.raises(ValueError, match="square"):
        corrupt_labels([0, 1], np.full((2, 3), 1 / 3), seed=0)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        corrupt_labels([0, 2], np.eye(2), seed=0)


def write_fake_cifar10n(folder: Path, clean: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    noisy = clean.copy()
    noisy[::4] = (noisy[::4] + 1) % 10
    content = {"clean_label": clean, "aggre_label": noisy, "random_label1": clean.copy()}
    torch.save(content, folder / "CIFAR-10_human.pt")
    return folder / "CIFAR-10_human.pt"


def test_fake_label_file_is_found_and_indexed(tmp_path: Path) -> None:
    clean = np.arange(40, dtype=np.int64) % 10
    path = write_fake_cifar10n(tmp_path / "cifar10n", clean)
    data_root = tmp_path / "cifar10"  # the file sits in data_root/../cifar10n
    assert find_label_file("cifar10", str(data_root), None) == path
    indices = np.array([0, 1, 4, 9])
    noisy, report = apply_noise(
        NoiseConfig(kind="real"), "cifar10", clean[indices], 10, data_root=str(data_root), indices=indices
    )
    np.testing.assert_array_equal(noisy, [1, 1, 5, 9])
    assert report.kind == "real" and report.requested_matrix is None
    assert report.realised_rate == pytest.approx(0.5)


def test_label_file_that_disagrees_is_refused(tmp_path: Path) -> None:
    clean = np.arange(40, dtype=np.int64) % 10
    path = write_fake_cifar10n(tmp_path, clean)
    with pytest.raises(ValueError, match="label file does not match the dataset"):
        load_real_labels(path, "aggre", clean_labels=(clean + 1) % 10)
    with pytest.raises(ValueError, match=r"needs CIFAR-100_human\.pt"):
        load_real_labels(path, "noisy100", clean_labels=clean)
    (tmp_path / "broken.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="could not read"):
        load_real_labels(tmp_path / "broken.pt", "aggre", clean_labels=clean)


def test_missing_label_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        find_label_file("cifar10", None, str(tmp_path / "nope.pt"))
    with pytest.raises(ValueError, match="UCSC-REAL/cifar-10-100n"):
        find_label_file("cifar100", str(tmp_path), None)


# --- the real CIFAR-N files, when the project's shared data is present -----------------------------


def test_cifar10n_realised_rates() -> None:
    path = CIFAR_N / "CIFAR-10_human.pt"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    clean = np.asarray(torch.load(path, weights_only=False)["clean_label"])
    for label_set, rate in [("rand1", 0.1723), ("aggre", 0.0901)]:
        noisy = load_real_labels(path, label_set, clean_labels=clean)
        assert noisy.shape == (50_000,) and noisy.dtype == np.int64
        assert abs(realised_noise(clean, noisy, 10).realised_rate - rate) < 1e-4


def test_superclasses_match_cifar100n_coarse_labels() -> None:
    path = CIFAR_N / "CIFAR-100_human.pt"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    content = torch.load(path, weights_only=False)
    fine, coarse = np.asarray(content["clean_label"]), np.asarray(content["clean_coarse_label"])
    for k, members in enumerate(CIFAR100_SUPERCLASSES.values()):  # coarse labels are alphabetical too
        assert set(np.unique(fine[coarse == k]).tolist()) == set(members)


class _Planted:
    """Pickles to a call of ``Path.touch``: a label file made to run code on load."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_a_label_file_that_would_run_code_is_refused_without_running_it(tmp_path: Path) -> None:
    clean = np.arange(40, dtype=np.int64) % 10
    touched = tmp_path / "code-ran"
    path = tmp_path / "CIFAR-10_human.pt"
    torch.save({"clean_label": clean, "aggre_label": clean, "extra": _Planted(touched)}, path)
    with pytest.raises(ValueError, match="as a dict of numpy integer arrays"):
        load_real_labels(path, "aggre", clean_labels=clean)
    assert not touched.exists()
