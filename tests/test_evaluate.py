"""Tests for tad.evaluate: the result type, and training fresh nets on a synthetic set."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tad.config import AugmentConfig, DataConfig, EvalConfig, ModelConfig
from tad.data import load_dataset
from tad.distill.base import init_from_real
from tad.evaluate import EvalResult, accuracy, evaluate_synthetic, train_on_synthetic
from tad.models import build_model, flatten_params
from tad.synthetic import SyntheticSet

TINY_MODEL = ModelConfig(width=8, depth=3)
AUGMENT = AugmentConfig(strategy="color_crop_cutout_scale_rotate")
CPU = torch.device("cpu")


def test_eval_result_statistics_and_dict():
    result = EvalResult((50.0, 60.0, 70.0))
    assert result.mean == pytest.approx(60.0)
    assert result.std == pytest.approx(math.sqrt(200 / 3))  # population std, as np.std
    assert result.to_dict() == {"acc_mean": result.mean, "acc_std": result.std, "accs": [50.0, 60.0, 70.0]}
    assert EvalResult((42.0,)).std == 0.0
    exact = EvalResult((50.0, 60.0), exact_accs=(40.0, 80.0)).to_dict()
    assert exact["exact_acc_mean"] == pytest.approx(60.0)
    assert exact["exact_acc_std"] == pytest.approx(20.0)
    assert exact["exact_accs"] == [40.0, 80.0]


def test_accuracy_counts_argmax_hits():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.eye(2))
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]]).view(3, 1, 1, 2)
    labels = torch.tensor([0, 0, 0])
    assert accuracy(net, images, labels, batch_size=2).tolist() == [True, False, True]


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig(dataset="digits"))


@pytest.fixture(scope="module")
def synthetic(digits):
    pool = torch.ones(len(digits.train_labels), dtype=torch.bool)
    return init_from_real(
        digits.train_images, digits.train_labels, pool, 2, 10, generator=torch.Generator().manual_seed(0)
    )


def evaluate(syn, digits, *, seed=0, exact_test=None, epochs=3):
    return evaluate_synthetic(
        syn,
        digits.test_images[:200],
        digits.test_labels[:200],
        num_classes=10,
        model=TINY_MODEL,
        config=EvalConfig(num_eval=2, epochs=epochs, batch_size=8),
        augment=AUGMENT,
        seed=seed,
        device=CPU,
        exact_test=exact_test,
    )


def test_evaluate_synthetic_returns_num_eval_accuracies_and_is_seeded(synthetic, digits):
    first = evaluate(synthetic, digits)
    assert len(first.accs) == 2 and first.exact_accs is None
    assert all(0.0 <= acc <= 100.0 for acc in first.accs)
    assert evaluate(synthetic, digits) == first


def test_exact_test_mask_gives_exact_accuracies(synthetic, digits):
    everything = evaluate(synthetic, digits, exact_test=torch.ones(200, dtype=torch.bool))
    assert everything.exact_accs == everything.accs
    mask = torch.arange(200) < 50
    part = evaluate(synthetic, digits, exact_test=mask)
    assert part.accs == everything.accs
    assert part.exact_accs is not None and len(part.exact_accs) == 2
    assert all(acc * 50 / 100 == pytest.approx(round(acc * 50 / 100)) for acc in part.exact_accs)


def test_thirty_epochs_on_ten_real_images_per_class_beat_chance():
    digits16 = load_dataset(DataConfig(dataset="digits", image_size=16))
    pool = torch.ones(len(digits16.train_labels), dtype=torch.bool)
    syn = init_from_real(
        digits16.train_images, digits16.train_labels, pool, 10, 10, generator=torch.Generator().manual_seed(0)
    )
    result = evaluate_synthetic(
        syn,
        digits16.test_images,
        digits16.test_labels,
        num_classes=10,
        model=ModelConfig(width=16, depth=3),
        config=EvalConfig(num_eval=2, epochs=30),
        augment=AUGMENT,
        seed=0,
        device=CPU,
    )
    assert result.mean > 40.0  # chance is 10%


def trained(syn: SyntheticSet, seed: int) -> torch.nn.Module:
    """A tiny ConvNet trained on ``syn`` for two epochs with a generator seeded by ``seed``."""
    return train_on_synthetic(
        syn,
        num_classes=10,
        model=TINY_MODEL,
        config=EvalConfig(epochs=2, batch_size=8),
        augment=AUGMENT,
        generator=torch.Generator().manual_seed(seed),
        device=CPU,
    )


def test_the_learned_step_size_replaces_the_evaluation_lr(synthetic):
    net = trained(SyntheticSet(synthetic.images, synthetic.labels, lr=0.0), 5)
    initial = build_model(
        TINY_MODEL, channels=1, num_classes=10, image_size=8, generator=torch.Generator().manual_seed(5)
    )
    torch.testing.assert_close(flatten_params(net), flatten_params(initial))


def test_soft_labels_train(synthetic, digits):
    logits = 5.0 * F.one_hot(synthetic.labels, 10).float()
    soft = SyntheticSet(synthetic.images, logits)
    result = evaluate(soft, digits)
    assert len(result.accs) == 2 and all(0.0 <= acc <= 100.0 for acc in result.accs)


def test_train_on_synthetic_is_a_function_of_its_generator(synthetic):
    def params(seed: int) -> torch.Tensor:
        return flatten_params(trained(synthetic, seed))

    assert torch.equal(params(0), params(0))
    assert not torch.equal(params(0), params(1))
