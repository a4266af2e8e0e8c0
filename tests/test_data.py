"""Tests for tad.data and the file readers of tad.sources: the embedded digits, ZCA, error messages, a
synthetic Tiny ImageNet folder, and the local CIFAR-10 copy (skipped where shared/data is absent)."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import tad.data as data
import tad.sources as sources
from tad.config import DataConfig
from tad.data import ZCA, check_available, class_balanced_subset, load_dataset

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CIFAR10_ROOT = SHARED_DATA / "cifar10"
CIFAR10N_FILE = SHARED_DATA / "cifar10n" / "CIFAR-10_human.pt"


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig(dataset="digits", split_seed=0))


def raw_digits() -> tuple[np.ndarray, np.ndarray]:
    with np.load(Path(data.__file__).parent / "_data" / "digits.npz") as arrays:
        return arrays["images"], arrays["labels"]


# --- digits ------------------------------------------------------------------------------------------


def test_digits_split_sizes_shapes_and_types(digits):
    assert len(digits.train_images) + len(digits.test_images) == 1797
    assert (len(digits.train_images), len(digits.test_images)) == (1347, 450)
    assert digits.image_shape == (1, 8, 8) and digits.channels == 1 and digits.num_classes == 10
    assert digits.test_images.shape == (450, 1, 8, 8)
    assert digits.train_images.dtype == torch.float32
    assert digits.train_labels.dtype == digits.train_indices.dtype == torch.int64
    assert digits.class_names == tuple("0123456789")
    assert digits.exact_test is None and digits.zca is None
    _, labels = raw_digits()
    assert torch.equal(digits.train_labels, torch.as_tensor(labels[digits.train_indices.numpy()]).long())


def test_digits_split_is_stratified(digits):
    train_counts = torch.bincount(digits.train_labels, minlength=10)
    test_counts = torch.bincount(digits.test_labels, minlength=10)
    for n_train, n_test in zip(train_counts.tolist(), test_counts.tolist(), strict=True):
        assert abs(n_test - 0.25 * (n_train + n_test)) <= 1


def test_digits_split_depends_on_the_seed_only(digits):
    again = load_dataset(DataConfig(dataset="digits", split_seed=0))
    other = load_dataset(DataConfig(dataset="digits", split_seed=1))
    assert torch.equal(again.train_indices, digits.train_indices)
    assert torch.equal(again.train_images, digits.train_images)
    assert not torch.equal(other.train_indices, digits.train_indices)


def test_digits_resize_to_16():
    resized = load_dataset(DataConfig(dataset="digits", image_size=16))
    assert resized.train_images.shape == (1347, 1, 16, 16)
    assert resized.test_images.shape == (450, 1, 16, 16)
    assert resized.image_shape == (1, 16, 16)


def test_digits_are_normalised_with_train_statistics(digits):
    assert digits.train_images.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert digits.train_images.std().item() == pytest.approx(1.0, abs=1e-3)
    assert 0.2 < digits.mean[0] < 0.4  # digit pixels, scaled from 0..16, are mostly dark


def test_to_display_recovers_the_pixels(digits):
    images, _ = raw_digits()
    shown = digits.to_display(digits.train_images)
    assert shown.min() >= 0 and shown.max() <= 1
    expected = torch.as_tensor(images[digits.train_indices.numpy()], dtype=torch.float32) / 16
    torch.testing.assert_close(shown[:, 0], expected, atol=1e-5, rtol=0)
    assert digits.to_display(digits.train_images[0]).shape == (1, 8, 8)  # a single image works too


def test_train_per_class_subset_is_balanced_seeded_and_ordered(digits):
    subset = load_dataset(DataConfig(dataset="digits", train_per_class=30, split_seed=0))
    assert len(subset.train_images) == 300
    assert torch.bincount(subset.train_labels).tolist() == [30] * 10
    assert torch.all(subset.train_indices[1:] > subset.train_indices[:-1])  # original order kept
    assert set(subset.train_indices.tolist()) <= set(digits.train_indices.tolist())
    assert len(subset.test_images) == 450  # the test split is untouched
    again = load_dataset(DataConfig(dataset="digits", train_per_class=30, split_seed=0))
    assert torch.equal(again.train_indices, subset.train_indices)


def test_class_balanced_subset_picks_within_classes():
    labels = np.array([0, 1, 0, 1, 2, 2, 0, 2, 1])
    keep = class_balanced_subset(labels, per_class=2, num_classes=3, seed=3)
    assert np.bincount(labels[keep]).tolist() == [2, 2, 2]
    assert np.array_equal(keep, np.sort(keep))


def test_digits_with_zca_round_trip_to_pixels():
    whitened = load_dataset(DataConfig(dataset="digits", zca=True))
    assert whitened.mean == (0.0,) and whitened.std == (1.0,) and whitened.zca is not None
    images, _ = raw_digits()
    expected = torch.as_tensor(images[whitened.train_indices.numpy()], dtype=torch.float32) / 16
    shown = whitened.to_display(whitened.train_images)
    torch.testing.assert_close(shown[:, 0], expected, atol=1e-3, rtol=0)


# --- ZCA ---------------------------------------------------------------------------------------------


def test_zca_whitens_to_the_predicted_spectrum(monkeypatch):
    monkeypatch.setattr(data, "CHUNK", 64)  # exercise the chunked covariance and transform
    generator = torch.Generator().manual_seed(0)
    mixing = torch.randn(12, 12, generator=generator) * torch.linspace(0.05, 3.0, 12)
    x = (torch.randn(500, 12, generator=generator) @ mixing + 2.0).reshape(500, 3, 2, 2)
    zca = ZCA.fit(x, eps=0.1)
    y = zca.transform(x)
    assert y.shape == x.shape and y.dtype == torch.float32

    flat = x.reshape(500, -1).double().numpy()
    eigvals, eigvecs = np.linalg.eigh(np.cov(flat, rowvar=False))  # unbiased, as in kornia
    predicted = (eigvecs * (eigvals / (eigvals + 0.1))) @ eigvecs.T
    whitened_cov = np.cov(y.reshape(500, -1).double().numpy(), rowvar=False)
    np.testing.assert_allclose(whitened_cov, predicted, atol=2e-4)
    np.testing.assert_allclose(y.reshape(500, -1).double().mean(0).numpy(), 0.0, atol=1e-4)
    torch.testing.assert_close(zca.inverse(y), x, atol=1e-4, rtol=1e-4)


def test_zca_rejects_images_of_another_size():
    zca = ZCA.fit(torch.randn(10, 1, 2, 2))
    with pytest.raises(ValueError, match="4 values per image"):
        zca.transform(torch.randn(3, 1, 3, 3))


# --- missing or malformed data -----------------------------------------------------------------------


def write_cifar10(folder: Path, *, classes: int = 4, per_class: int = 1) -> None:
    """A tiny CIFAR-10 folder in the original pickle layout: ``per_class`` random images of each of the
    first ``classes`` classes in every batch file."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{c}" for c in range(10)]}, f)
    labels = [c for c in range(classes) for _ in range(per_class)]
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8), "labels": labels}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)


def test_missing_cifar_root_names_the_path(tmp_path):
    config = DataConfig(dataset="cifar10", data_root=str(tmp_path))
    with pytest.raises(ValueError, match="CIFAR-10 not found") as info:
        load_dataset(config)
    assert str(tmp_path / "cifar-10-batches-py") in str(info.value)
    with pytest.raises(ValueError, match="--data-root"):
        check_available(config)
    with pytest.raises(ValueError, match="needs a data folder"):
        check_available(replace(config, data_root=None))
    check_available(replace(config, download=True))  # the load may fetch it: no error yet


def test_tiny_cifar_folder_loads(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py")
    config = DataConfig(dataset="cifar10", data_root=str(tmp_path))
    check_available(config)
    loaded = load_dataset(config)
    assert loaded.train_images.shape == (20, 3, 32, 32) and len(loaded.test_images) == 4
    assert loaded.train_labels.tolist() == [0, 1, 2, 3] * 5
    assert loaded.mean == sources.CIFAR10_MEAN and loaded.class_names[3] == "class3"
    direct = load_dataset(replace(config, data_root=str(tmp_path / "cifar-10-batches-py")))
    assert torch.equal(direct.train_images, loaded.train_images)  # the batches folder itself works too


def test_garbage_batch_file_is_a_value_error(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "data_batch_1").write_bytes(b"\x00not a pickle\xff" * 10)
    with pytest.raises(ValueError, match="data_batch_1"):
        load_dataset(DataConfig(dataset="cifar10", data_root=str(tmp_path)))


def test_wrongly_shaped_batch_is_a_value_error(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({"data": np.zeros((4, 100), dtype=np.uint8), "labels": [0, 1, 2, 3]}, f)
    with pytest.raises(ValueError, match="data_batch_3 has malformed"):
        load_dataset(DataConfig(dataset="cifar10", data_root=str(tmp_path)))


def test_train_per_class_larger_than_a_class_is_a_value_error():
    with pytest.raises(ValueError, match="train_per_class=1000"):
        load_dataset(DataConfig(dataset="digits", train_per_class=1000))


def test_missing_tiny_imagenet_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="Tiny ImageNet not found"):
        check_available(DataConfig(dataset="tinyimagenet", data_root=str(tmp_path)))


# --- Tiny ImageNet (synthetic folder) ----------------------------------------------------------------

WNIDS = ("n03", "n01", "n02")  # created out of order: class indices must follow the sorted wnids


def write_tiny_imagenet(root: Path, sorted_val: bool) -> None:
    """3 classes x 2 train images and 1 val image each, 64x64, coloured by class; official val layout
    unless ``sorted_val`` (then val/<wnid>/images/, as DD_LNL's deal_Tiny.py leaves it)."""
    annotations = []
    for wnid in WNIDS:
        shade = 60 * (sorted(WNIDS).index(wnid) + 1)
        image = Image.new("RGB", (64, 64), (shade, shade, shade))
        (root / "train" / wnid / "images").mkdir(parents=True)
        for k in range(2):
            image.save(root / "train" / wnid / "images" / f"{wnid}_{k}.JPEG")
        name = f"val_{len(annotations)}.JPEG"
        val_dir = root / "val" / wnid / "images" if sorted_val else root / "val" / "images"
        val_dir.mkdir(parents=True, exist_ok=True)
        image.save(val_dir / name)
        annotations.append(f"{name}\t{wnid}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(annotations) + "\n")
    (root / "words.txt").write_text("n01\tgoldfish, Carassius auratus\nn02\tgreat white shark\n")


@pytest.mark.parametrize("sorted_val", [False, True])
def test_tiny_imagenet_folder_loads_with_sorted_wnid_labels(tmp_path, sorted_val):
    write_tiny_imagenet(tmp_path / "tiny-imagenet-200", sorted_val)
    config = DataConfig(dataset="tinyimagenet", data_root=str(tmp_path))
    check_available(config)
    tiny = load_dataset(config)
    assert tiny.train_images.shape == (6, 3, 64, 64)
    assert tiny.train_labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert tiny.class_names == ("goldfish", "great white shark", "n03")
    assert tiny.mean == sources.IMAGENET_MEAN
    shade = tiny.to_display(tiny.test_images).mean(dim=(1, 2, 3)) * 255
    expected = 60.0 * (tiny.test_labels + 1)
    torch.testing.assert_close(shade, expected.float(), atol=2.0, rtol=0)
    subset = load_dataset(replace(config, train_per_class=1, data_root=str(tmp_path / "tiny-imagenet-200")))
    assert subset.train_labels.tolist() == [0, 1, 2] and len(subset.train_indices) == 3


# --- the local CIFAR-10 copy -------------------------------------------------------------------------


def full_cifar10_train_labels(folder: Path) -> np.ndarray:
    labels = []
    for i in range(1, 6):
        with open(folder / f"data_batch_{i}", "rb") as f:
            labels.extend(pickle.load(f, encoding="latin1")["labels"])
    return np.asarray(labels)


@pytest.mark.skipif(not CIFAR10_ROOT.exists(), reason="shared/data/cifar10 is not available")
def test_local_cifar10_subset_and_cifar10n_alignment():
    cifar = load_dataset(DataConfig(dataset="cifar10", data_root=str(CIFAR10_ROOT), train_per_class=100))
    assert cifar.train_images.shape == (1000, 3, 32, 32)
    assert torch.bincount(cifar.train_labels).tolist() == [100] * 10
    assert cifar.test_images.shape == (10000, 3, 32, 32)
    assert torch.bincount(cifar.test_labels).tolist() == [1000] * 10
    assert cifar.test_labels[:7].tolist() == [3, 8, 8, 0, 6, 6, 1]
    assert cifar.exact_test is not None and cifar.exact_test.sum() == 1000 and cifar.exact_test[:1000].all()
    assert cifar.class_names[:2] == ("airplane", "automobile")

    full_labels = full_cifar10_train_labels(CIFAR10_ROOT / "cifar-10-batches-py")
    assert full_labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert np.array_equal(cifar.train_labels.numpy(), full_labels[cifar.train_indices.numpy()])
    if CIFAR10N_FILE.exists():
        human = torch.load(CIFAR10N_FILE, weights_only=False)
        assert np.array_equal(np.asarray(human["clean_label"]), full_labels)

    with open(CIFAR10_ROOT / "cifar-10-batches-py" / "test_batch", "rb") as f:
        first = pickle.load(f, encoding="latin1")["data"][0].reshape(3, 32, 32)
    shown = cifar.to_display(cifar.test_images[0]) * 255
    torch.testing.assert_close(shown, torch.as_tensor(first, dtype=torch.float32), atol=1e-3, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_zca_fitted_on_a_gpu_matches_the_cpu():
    config = DataConfig(dataset="digits", zca=True)
    on_cpu, on_gpu = load_dataset(config), load_dataset(config, device="cuda")
    assert on_gpu.train_images.device.type == "cpu" and on_gpu.zca.mean.device.type == "cpu"
    torch.testing.assert_close(on_gpu.train_images, on_cpu.train_images, atol=1e-3, rtol=1e-3)
