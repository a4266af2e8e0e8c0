"""ConvNet shapes and sizes, seeded construction, and the flat-parameter functional forward."""

import pytest
import torch

from tad.config import ModelConfig
from tad.models import (
    ConvNet,
    build_model,
    flatten_params,
    functional_forward,
    model_for_images,
    parameter_count,
    unflatten_params,
)


@pytest.mark.parametrize(
    ("shape", "num_classes", "depth", "expected"),
    [((3, 32, 32), 10, 3, 320_010), ((3, 32, 32), 100, 3, 504_420), ((3, 64, 64), 200, 4, 857_160)],
)
def test_parameter_counts_match_the_reference(shape, num_classes, depth, expected):
    net = ConvNet(shape[0], num_classes, shape[1:], depth=depth)
    assert parameter_count(net) == expected
    assert net.feature_dim == 2048


def test_embed_and_forward_shapes():
    net = ConvNet(3, 10, 32)
    x = torch.randn(2, 3, 32, 32)
    assert net.embed(x).shape == (2, 2048)
    assert net(x).shape == (2, 10)


def test_instancenorm_is_groupnorm_per_channel():
    net = ConvNet(3, 10, 32, width=8)
    norm = net.features[1]
    assert isinstance(norm, torch.nn.GroupNorm)
    assert norm.num_groups == norm.num_channels == 8


@pytest.mark.parametrize(("side", "spatial"), [(16, 2), (8, 1)])
def test_small_single_channel_images(side, spatial):
    net = ConvNet(1, 10, side, width=8, depth=3)
    assert net.feature_dim == 8 * spatial * spatial
    assert net(torch.randn(2, 1, side, side)).shape == (2, 10)


def test_mnist_sized_images_are_padded_to_cifar_maths():
    net = ConvNet(1, 10, 28, width=8)
    assert net.features[0].padding == (3, 3)
    assert net.feature_dim == 8 * 4 * 4
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("norm", ["instancenorm", "batchnorm", "layernorm", "groupnorm", "none"])
def test_every_norm_runs(norm):
    net = ConvNet(3, 5, (16, 12), width=8, depth=2, norm=norm)
    assert net.feature_dim == 8 * 4 * 3
    assert net(torch.randn(3, 3, 16, 12)).shape == (3, 5)


def test_too_deep_raises_with_the_depth_that_fits():
    with pytest.raises(ValueError, match="at most 3"):
        ConvNet(1, 10, 8, depth=4)


def test_equal_generators_give_equal_weights_and_leave_global_rng_alone():
    config = ModelConfig(width=8)
    state = torch.get_rng_state()
    nets = [
        build_model(
            config, channels=3, num_classes=10, image_size=16, generator=torch.Generator().manual_seed(s)
        )
        for s in (1, 1, 2)
    ]
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(flatten_params(nets[0]), flatten_params(nets[1]))
    assert not torch.equal(flatten_params(nets[0]), flatten_params(nets[2]))


def test_flat_parameters_round_trip_and_functional_forward():
    net = ConvNet(3, 4, 8, width=6, depth=2)
    flat = flatten_params(net).requires_grad_()
    pieces = unflatten_params(net, flat)
    assert list(pieces) == [name for name, _ in net.named_parameters()]
    for name, param in net.named_parameters():
        assert torch.equal(pieces[name], param)
    x = torch.randn(3, 3, 8, 8)
    logits = functional_forward(net, flat, x)
    assert torch.allclose(logits, net(x))
    logits.square().sum().backward()
    assert flat.grad is not None and flat.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="flat vector"):
        unflatten_params(net, flat[:-1])


def test_a_model_for_images_takes_their_channels_and_side():
    images = torch.zeros(5, 3, 16, 16)
    config = ModelConfig(width=8, depth=2)
    net = model_for_images(config, images, 7, generator=torch.Generator().manual_seed(3))
    same = build_model(
        config, channels=3, num_classes=7, image_size=16, generator=torch.Generator().manual_seed(3)
    )
    assert torch.equal(flatten_params(net), flatten_params(same))
    assert net(images).shape == (5, 7)
