"""Tests for tad.checks: the cheap checks that reject a bad experiment before any compute."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tad.checks import (
    check_data_available,
    check_experiment,
    digits_test_count,
    find_label_file,
    smallest_train_class,
    tiny_root,
)
from tad.config import DataConfig, ExperimentConfig, NoiseConfig
from tad.data import load_dataset

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared_cifar = pytest.mark.skipif(
    not (SHARED / "cifar10" / "cifar-10-batches-py" / "batches.meta").is_file()
    or not (SHARED / "cifar10n" / "CIFAR-10_human.pt").is_file(),
    reason="needs the shared CIFAR-10 and CIFAR-10N files",
)


def experiment(dataset: str = "digits", data_root: str | None = None, **changes) -> ExperimentConfig:
    subset = changes.pop("train_per_class", None)
    data = DataConfig(dataset=dataset, data_root=data_root, train_per_class=subset)
    return ExperimentConfig(data=data, **changes)


def assert_one_sentence(error: pytest.ExceptionInfo) -> None:
    text = str(error.value)
    assert "\n" not in text and text.endswith(".")
    assert "Traceback" not in text


@pytest.mark.parametrize(
    "config",
    [ExperimentConfig(), experiment(noise=NoiseConfig(kind="asymmetric", rate=0.4), ipc=50)],
    ids=["default", "asymmetric-ipc50"],
)
def test_valid_digits_experiments_pass(config):
    assert check_experiment(config) is None
    assert smallest_train_class(config.data) >= config.ipc


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (experiment("cifar10"), r"CIFAR-10 needs a data folder: pass --data-root"),
        (experiment("cifar100"), r"CIFAR-100 needs a data folder"),
        (experiment("tinyimagenet"), r"Tiny ImageNet needs a data folder: pass --data-root"),
        (experiment(ipc=500), r"--ipc 500 exceeds the \d+ training images of the smallest class; lower"),
        (experiment(train_per_class=200), r"--train-per-class 200 exceeds the \d+ training images"),
        (experiment(train_per_class=20, ipc=21), r"--ipc 21 exceeds the 20 training images"),
        (
            experiment("tinyimagenet", noise=NoiseConfig(kind="asymmetric", rate=0.4)),
            r"asymmetric noise has no class map for 'tinyimagenet'.*use --noise pairflip",
        ),
        (
            experiment(noise=NoiseConfig(kind="real")),
            r"real \(human\) labels exist only for cifar10 and cifar100, not 'digits'",
        ),
        (
            experiment("cifar10", noise=NoiseConfig(kind="real", real_labels="noisy100")),
            r"the real label set 'noisy100' belongs to cifar100, not cifar10; use aggre, rand1",
        ),
        (
            experiment("cifar100", noise=NoiseConfig(kind="real", real_labels="worse")),
            r"the real label set 'worse' belongs to cifar10, not cifar100; use noisy100",
        ),
    ],
    ids=[
        "cifar10-no-root",
        "cifar100-no-root",
        "tiny-no-root",
        "ipc-500",
        "train-per-class-200",
        "ipc-over-subset",
        "asymmetric-tiny",
        "real-digits",
        "noisy100-cifar10",
        "worse-cifar100",
    ],
)
def test_bad_experiments_raise_one_clear_sentence(config, message):
    with pytest.raises(ValueError, match=message) as error:
        check_experiment(config)
    assert_one_sentence(error)


@pytest.mark.parametrize(("dataset", "title"), [("cifar10", "CIFAR-10"), ("cifar100", "CIFAR-100")])
def test_a_missing_cifar_folder_names_the_file_it_looked_for(tmp_path, dataset, title):
    with pytest.raises(ValueError, match=rf"{title} not found: looked for {tmp_path}/cifar-10") as error:
        check_experiment(experiment(dataset, data_root=str(tmp_path)))
    assert_one_sentence(error)


def test_a_missing_tiny_imagenet_folder_names_where_it_looked(tmp_path):
    with pytest.raises(ValueError, match=r"Tiny ImageNet not found: looked for train/ and val/") as error:
        check_experiment(experiment("tinyimagenet", data_root=str(tmp_path)))
    assert_one_sentence(error)
    (tmp_path / "tiny-imagenet-200" / "train").mkdir(parents=True)
    (tmp_path / "tiny-imagenet-200" / "val").mkdir()
    found = tiny_root(DataConfig(dataset="tinyimagenet", data_root=str(tmp_path)))
    assert found == tmp_path / "tiny-imagenet-200"


def test_smallest_digits_class_matches_the_loaded_training_labels():
    labels = load_dataset(DataConfig()).train_labels
    assert smallest_train_class(DataConfig()) == int(torch.bincount(labels).min())
    assert smallest_train_class(DataConfig(train_per_class=20)) == 20
    assert smallest_train_class(DataConfig(dataset="cifar10")) == 5000
    assert smallest_train_class(DataConfig(dataset="cifar100")) == 500
    assert digits_test_count(178) == round(178 * 0.25)


def test_an_explicit_label_file_must_exist(tmp_path):
    with pytest.raises(ValueError, match=r"the label file .*missing\.pt does not exist"):
        find_label_file("cifar10", None, str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match=r"could not find CIFAR-10_human\.pt \(looked in nowhere"):
        find_label_file("cifar10", None, None)


@needs_shared_cifar
def test_the_shared_cifar10_and_its_human_labels_are_found():
    root = str(SHARED / "cifar10")
    check_data_available(DataConfig(dataset="cifar10", data_root=root))
    assert find_label_file("cifar10", root, None) == SHARED / "cifar10n" / "CIFAR-10_human.pt"
    real = NoiseConfig(kind="real", real_labels="rand1")
    check_experiment(experiment("cifar10", data_root=root, noise=real))
    with pytest.raises(ValueError, match="--ipc 5001 exceeds the 5000 training images"):
        check_experiment(experiment("cifar10", data_root=root, ipc=5001))
