"""Differentiable siamese augmentation (DSA) with explicit parameters and an explicit generator.

Each call picks ONE operation uniformly from the strategy (the reference ``aug_mode='S'``) and
draws its parameters, either per sample or once for the whole batch (the siamese mode, in which
the same transform is applied to a real and a synthetic batch). Operations and constants follow
dd-baselines.md §2.3:

======== ==================================================================================
flip     horizontal mirror with probability ``flip_prob`` (0.5)
scale    sx, sy independently uniform in [1/scale, scale]; bilinear resampling, zero padding
rotate   angle uniform in [-rotate_degrees, +rotate_degrees]; bilinear resampling, zero padding
crop     integer translation by up to int(side*crop + 0.5) pixels per axis, zero fill
cutout   one zero square of side int(side*cutout + 0.5) at a random centre, clipped at borders
color    brightness x + b, then saturation (x - mean_c) * s + mean_c, then contrast
         (x - mean_chw) * k + mean_chw, with b = (U - 0.5) * brightness, s = U * saturation,
         k = U + contrast
======== ==================================================================================

Random numbers come only from the generator passed in, drawn on that generator's device (a CPU
generator in this library) and moved to the images' device when applied, so the same seed gives
the same transform on CPU and GPU. Every operation is differentiable with respect to the images.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from tad.config import AugmentConfig

Params = dict[str, Tensor]


@dataclass(frozen=True, eq=False)
class DSATransform:
    """One sampled augmentation: an operation and its drawn parameters.

    ``params`` holds, per operation (``n`` = batch size, or 1 when ``shared``):

    - flip: ``mirror`` (n,) bool;
    - scale: ``sx``, ``sy`` (n,) scale factors;
    - rotate: ``theta`` (n,) angle in radians;
    - crop, cutout: ``u_x``, ``u_y`` (n,) uniforms in [0, 1) and ``fraction`` (0-d), because the
      integer offsets depend on the image size, which is only known in :meth:`apply`;
    - color: ``brightness`` (n,) additive offset, ``saturation`` and ``contrast`` (n,) factors.

    A shared transform (one draw) applies to a batch of any size; a per-sample transform only to a
    batch of exactly ``n`` images.
    """

    op: str
    params: Params
    shared: bool

    def apply(self, x: Tensor) -> Tensor:
        """Augment images ``x`` of shape (B, C, H, W); differentiable w.r.t. ``x``; same shape and dtype."""
        if x.dim() != 4:
            raise ValueError(f"DSA expects images shaped (B, C, H, W); got shape {tuple(x.shape)}.")
        if not self.shared:
            drawn = next(iter(self.params.values())).shape[0]
            if x.shape[0] != drawn:
                raise ValueError(
                    f"this per-sample transform was drawn for {drawn} images but got {x.shape[0]}; "
                    "sample one per batch, or sample with shared=True."
                )
        params = {name: _to_images(value, x) for name, value in self.params.items()}
        return _OPERATIONS[self.op](x, params)


def _to_images(value: Tensor, x: Tensor) -> Tensor:
    if value.dim() == 0:  # a constant such as the crop fraction, read as a Python float
        return value
    if value.is_floating_point():
        return value.to(device=x.device, dtype=x.dtype)
    return value.to(device=x.device)


def _column(values: Tensor) -> Tensor:
    """(n,) -> (n, 1, 1, 1), to broadcast over images."""
    return values.view(-1, 1, 1, 1)


def _flip(x: Tensor, p: Params) -> Tensor:
    return torch.where(_column(p["mirror"]), x.flip(3), x)


def _resample(x: Tensor, theta: Tensor) -> Tensor:
    """Sample ``x`` on the affine grid of ``theta`` (n or 1, 2, 3), as the reference does."""
    theta = theta.expand(x.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def _scale(x: Tensor, p: Params) -> Tensor:
    zero = torch.zeros_like(p["sx"])
    theta = torch.stack([p["sx"], zero, zero, zero, p["sy"], zero], dim=1).view(-1, 2, 3)
    return _resample(x, theta)


def _rotate(x: Tensor, p: Params) -> Tensor:
    cos, sin = torch.cos(p["theta"]), torch.sin(p["theta"])
    zero = torch.zeros_like(cos)
    theta = torch.stack([cos, -sin, zero, sin, cos, zero], dim=1).view(-1, 2, 3)
    return _resample(x, theta)


def _integers(u: Tensor, count: int) -> Tensor:
    """Map uniforms in [0, 1) to integers uniform on {0, ..., count - 1}.

    Reconstruction: the reference draws these integers with ``torch.randint`` at apply time; we
    draw uniforms at sample time (the image size is unknown then), which gives the same distribution.
    """
    return torch.floor(u.double() * count).long().clamp(0, count - 1)


def _max_shift(side: int, fraction: Tensor) -> int:
    return int(side * float(fraction) + 0.5)


def _crop(x: Tensor, p: Params) -> Tensor:
    """Translate each image by whole pixels; pixels moved in from outside are zero.

    Output pixel (i, j) is input pixel (i + dy, j + dx), or 0 when that lies outside the image.
    """
    n, c, h, w = x.shape
    shift_y, shift_x = _max_shift(h, p["fraction"]), _max_shift(w, p["fraction"])
    dy = _integers(p["u_y"], 2 * shift_y + 1) - shift_y
    dx = _integers(p["u_x"], 2 * shift_x + 1) - shift_x
    # Index into a copy padded by one zero pixel; clamping sends every outside index onto the padding.
    rows = (torch.arange(h, device=x.device) + dy[:, None] + 1).clamp(0, h + 1)
    cols = (torch.arange(w, device=x.device) + dx[:, None] + 1).clamp(0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1))
    out = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2))
    return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))


def _span(u: Tensor, side: int, length: int, positions: Tensor) -> Tensor:
    """(n, side) mask of the positions covered by a segment of ``length`` at a random centre."""
    centre = _integers(u, side + 1 - length % 2)
    start = centre - length // 2
    return (positions >= start[:, None]) & (positions < start[:, None] + length)


def _cutout(x: Tensor, p: Params) -> Tensor:
    _, _, h, w = x.shape
    length_y, length_x = _max_shift(h, p["fraction"]), _max_shift(w, p["fraction"])
    inside_y = _span(p["u_y"], h, length_y, torch.arange(h, device=x.device))
    inside_x = _span(p["u_x"], w, length_x, torch.arange(w, device=x.device))
    keep = ~(inside_y[:, :, None] & inside_x[:, None, :])
    return x * keep[:, None].to(x.dtype)


def _color(x: Tensor, p: Params) -> Tensor:
    x = x + _column(p["brightness"])
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * _column(p["saturation"]) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _column(p["contrast"]) + mean


_OPERATIONS: dict[str, Callable[[Tensor, Params], Tensor]] = {
    "flip": _flip,
    "scale": _scale,
    "rotate": _rotate,
    "crop": _crop,
    "cutout": _cutout,
    "color": _color,
}


def _draw_params(op: str, config: AugmentConfig, uniform: Callable[[], Tensor]) -> Params:
    """The parameters of ``op``, built from successive calls to ``uniform`` (a fresh U[0, 1) each)."""
    if op == "flip":
        return {"mirror": uniform() < config.flip_prob}
    if op == "scale":
        low, high = 1.0 / config.scale, config.scale
        return {"sx": uniform() * (high - low) + low, "sy": uniform() * (high - low) + low}
    if op == "rotate":
        return {"theta": (uniform() - 0.5) * 2.0 * math.radians(config.rotate_degrees)}
    if op in ("crop", "cutout"):
        fraction = config.crop if op == "crop" else config.cutout
        return {"u_x": uniform(), "u_y": uniform(), "fraction": torch.tensor(fraction, dtype=torch.float64)}
    if op == "color":
        return {
            "brightness": (uniform() - 0.5) * config.brightness,
            "saturation": uniform() * config.saturation,
            "contrast": uniform() + config.contrast,
        }
    raise ValueError(f"unknown augmentation {op!r}; choose from {sorted(_OPERATIONS)}.")


def sample_dsa(
    config: AugmentConfig,
    batch_size: int,
    *,
    generator: torch.Generator,
    shared: bool = False,
    device: torch.device | str | None = None,
) -> DSATransform:
    """Draw one operation of ``config.strategy`` and its parameters.

    Args:
        config: the strategy and the constants.
        batch_size: images the transform will be applied to (ignored for the draw when ``shared``).
        generator: the only source of randomness.
        shared: one draw for the whole batch (siamese mode: DM/DC apply it to a real and a
            synthetic batch of different sizes); otherwise one draw per sample (MTT/DATM inner
            loop, expert training, evaluation).
        device: where to keep the parameters; they are moved to the images' device when applied.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}.")
    ops = config.operations
    op = ops[int(torch.randint(len(ops), (1,), generator=generator, device=generator.device))]
    draws = 1 if shared else batch_size

    def uniform() -> Tensor:
        return torch.rand(draws, generator=generator, device=generator.device)

    params = _draw_params(op, config, uniform)
    if device is not None:
        params = {name: value if value.dim() == 0 else value.to(device) for name, value in params.items()}
    return DSATransform(op=op, params=params, shared=shared)


def dsa(x: Tensor, config: AugmentConfig, *, generator: torch.Generator) -> Tensor:
    """Augment ``x`` (B, C, H, W) with one operation and per-sample parameters."""
    return sample_dsa(config, x.shape[0], generator=generator).apply(x)


__all__ = ["DSATransform", "dsa", "sample_dsa"]
