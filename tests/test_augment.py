"""DSA: every operation on tiny tensors, seeding, siamese sharing, and the formulas with fixed draws."""

import math

import pytest
import torch

from tad.augment import DSATransform, dsa, sample_dsa
from tad.config import AugmentConfig

OPS = ["color", "crop", "cutout", "flip", "scale", "rotate"]


def only(op: str) -> AugmentConfig:
    return AugmentConfig(strategy=op)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 4, side: int = 8, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(n, 3, side, side, generator=gen(seed), dtype=dtype)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_each_op_keeps_shape_and_dtype_and_passes_gradients(op, dtype):
    x = images(dtype=dtype).requires_grad_()
    transform = sample_dsa(only(op), 4, generator=gen())
    assert transform.op == op
    out = transform.apply(x)
    assert out.shape == x.shape and out.dtype == dtype
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_same_seed_same_output_different_seed_different():
    x, config = images(), AugmentConfig()
    assert torch.equal(dsa(x, config, generator=gen(3)), dsa(x, config, generator=gen(3)))
    outputs = [dsa(x, config, generator=gen(seed)) for seed in range(4)]
    assert not all(torch.equal(outputs[0], other) for other in outputs[1:])


@pytest.mark.parametrize("op", OPS)
def test_shared_transform_is_the_same_for_batches_of_different_sizes(op):
    transform = sample_dsa(only(op), 1, generator=gen(5), shared=True)
    assert all(value.numel() == 1 for value in transform.params.values())
    x, others = images(4), images(3, seed=1)
    alone = transform.apply(x)
    together = transform.apply(torch.cat([x, others]))
    assert torch.allclose(alone, together[:4], atol=1e-6)
    same = transform.apply(x[:1].expand(5, -1, -1, -1))
    assert torch.allclose(same, same[:1].expand_as(same), atol=1e-6)


@pytest.mark.parametrize("op", ["crop", "cutout", "scale", "rotate", "color"])
def test_per_sample_draws_vary_across_the_batch(op):
    x = images(1).expand(6, -1, -1, -1)
    out = sample_dsa(only(op), 6, generator=gen(2)).apply(x)
    assert len({tuple(row.flatten().tolist()) for row in out}) > 1


def test_per_sample_transform_rejects_another_batch_size():
    with pytest.raises(ValueError, match="drawn for 4"):
        sample_dsa(only("rotate"), 4, generator=gen()).apply(images(3))


def test_crop_is_an_integer_translation_with_zero_fill():
    # u -> integer: floor(u * 9) - 4 for a 32-pixel side (max shift int(32 * 0.125 + 0.5) = 4).
    params = {
        "u_y": torch.tensor([6.5 / 9]),  # dy = +2
        "u_x": torch.tensor([1.5 / 9]),  # dx = -3
        "fraction": torch.tensor(0.125, dtype=torch.float64),
    }
    crop = DSATransform(op="crop", params=params, shared=False)
    one_hot = torch.zeros(1, 1, 32, 32)
    one_hot[0, 0, 10, 10] = 1.0
    moved = crop.apply(one_hot)
    assert moved[0, 0, 8, 13] == 1.0 and moved.sum() == 1.0  # out(i, j) = in(i + dy, j + dx)
    ones = crop.apply(torch.ones(1, 2, 32, 32))
    assert ones[:, :, 30:].abs().sum() == 0 and ones[:, :, :, :3].abs().sum() == 0
    assert ones.sum() == 2 * 30 * 29


def test_sampled_crops_move_a_one_hot_pixel_by_at_most_four():
    one_hot = torch.zeros(64, 1, 32, 32)
    one_hot[:, 0, 16, 16] = 1.0
    out = sample_dsa(only("crop"), 64, generator=gen()).apply(one_hot)
    assert torch.all(out.flatten(1).sum(1) == 1.0)
    rows, cols = out[:, 0].nonzero()[:, 1], out[:, 0].nonzero()[:, 2]
    assert (rows - 16).abs().max() <= 4 and (cols - 16).abs().max() <= 4
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 10


def test_flip_is_an_exact_mirror_when_drawn():
    x = images(32)
    out = sample_dsa(only("flip"), 32, generator=gen()).apply(x)
    mirrored = torch.tensor([torch.equal(o, m) for o, m in zip(out, x.flip(3), strict=True)])
    unchanged = torch.tensor([torch.equal(o, i) for o, i in zip(out, x, strict=True)])
    assert torch.all(mirrored | unchanged) and mirrored.any() and unchanged.any()


def test_cutout_zeroes_a_side_squared_square_inside_the_image():
    side = int(32 * 0.5 + 0.5)
    u = torch.tensor([16.5 / 33])  # centre 16 of 0..32, so rows and columns 8..23
    params = {"u_y": u, "u_x": u, "fraction": torch.tensor(0.5, dtype=torch.float64)}
    out = DSATransform(op="cutout", params=params, shared=False).apply(torch.ones(1, 3, 32, 32))
    assert (out[0, 0] == 0).sum() == side * side
    assert out[0, :, 8:24, 8:24].abs().sum() == 0
    sampled = sample_dsa(only("cutout"), 16, generator=gen()).apply(torch.ones(16, 1, 32, 32))
    zeros = (sampled == 0).flatten(1).sum(1)
    assert torch.all((zeros > 0) & (zeros <= side * side))


def test_color_matches_the_formula_for_fixed_draws():
    u_b, u_s, u_c = 0.8, 0.3, 0.6
    params = {
        "brightness": torch.tensor([(u_b - 0.5) * 1.0]),
        "saturation": torch.tensor([u_s * 2.0]),
        "contrast": torch.tensor([u_c + 0.5]),
    }
    x = images(1, dtype=torch.float64)
    expected = x + (u_b - 0.5)
    mean = expected.mean(dim=1, keepdim=True)
    expected = (expected - mean) * (u_s * 2.0) + mean
    mean = expected.mean(dim=(1, 2, 3), keepdim=True)
    expected = (expected - mean) * (u_c + 0.5) + mean
    out = DSATransform(op="color", params=params, shared=False).apply(x)
    assert torch.allclose(out, expected)


def test_color_draws_lie_in_the_reference_ranges():
    params = sample_dsa(only("color"), 256, generator=gen()).params
    assert params["brightness"].abs().max() <= 0.5
    assert params["saturation"].min() >= 0 and params["saturation"].max() <= 2.0
    assert params["contrast"].min() >= 0.5 and params["contrast"].max() <= 1.5


def test_scale_and_rotate_draw_ranges_and_geometry():
    scale = sample_dsa(only("scale"), 256, generator=gen()).params
    assert scale["sx"].min() >= 1 / 1.2 and scale["sy"].max() <= 1.2
    assert not torch.equal(scale["sx"], scale["sy"])
    angles = sample_dsa(only("rotate"), 256, generator=gen()).params["theta"]
    assert angles.abs().max() <= math.radians(15)
    # Bilinear sampling reproduces a linear ramp exactly: a factor s < 1 samples at s * position
    # (a zoom in), so a ramp along the width is multiplied by sx; sy leaves it unchanged.
    ramp = torch.linspace(-1, 1, 9, dtype=torch.float64).expand(1, 1, 9, 9)
    scaled = DSATransform("scale", {"sx": torch.tensor([0.9]), "sy": torch.tensor([0.85])}, False)
    assert torch.allclose(scaled.apply(ramp), 0.9 * ramp)
    # A quarter turn on a square image is an exact rot90.
    x = images(2, dtype=torch.float64)
    quarter = DSATransform("rotate", {"theta": torch.full((2,), math.pi / 2)}, False)
    assert torch.allclose(quarter.apply(x), torch.rot90(x, 1, dims=(2, 3)), atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("op", OPS)
def test_cpu_and_gpu_agree_for_the_same_seed(op):
    x = images(4, side=16)
    on_cpu = dsa(x, only(op), generator=gen(7))
    on_gpu = dsa(x.cuda(), only(op), generator=gen(7)).cpu()
    assert torch.allclose(on_cpu, on_gpu, atol=1e-5)
