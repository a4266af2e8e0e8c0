"""The ConvNet of the dataset-distillation literature, and flat-parameter helpers.

Every method we reproduce (DM, MTT, DATM) trains and evaluates the same small network
(dd-baselines.md §1.1): ``depth`` blocks of 3x3 convolution -> normalisation -> ReLU ->
2x2 average pooling, then one linear layer on the flattened features. Trajectory matching
needs the network as a pure function of one flat parameter vector; :func:`flatten_params`,
:func:`unflatten_params` and :func:`functional_forward` provide that through
:func:`torch.func.functional_call`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tad.config import ModelConfig, NormName

ImageSize = tuple[int, int] | int


def _pair(image_size: ImageSize) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    height, width = image_size
    return int(height), int(width)


def _norm_layer(norm: NormName, width: int, height_now: int, width_now: int) -> nn.Module:
    """The normalisation after a convolution whose output is ``width x height_now x width_now``."""
    if norm == "instancenorm":
        # As in the reference code, "instance norm" is GroupNorm with one group per channel:
        # the same maths as InstanceNorm2d(affine=True), without running statistics.
        return nn.GroupNorm(width, width, affine=True)
    if norm == "batchnorm":
        return nn.BatchNorm2d(width)
    if norm == "layernorm":
        return nn.LayerNorm([width, height_now, width_now])
    if norm == "groupnorm":
        return nn.GroupNorm(4, width, affine=True)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {norm!r}; choose instancenorm, batchnorm, layernorm, groupnorm or none.")


def _deepest_fit(size: int) -> int:
    """How many 2x2 poolings an image side of ``size`` survives before it shrinks to 0."""
    depth = 0
    while size // 2 > 0:
        size //= 2
        depth += 1
    return depth


class ConvNet(nn.Module):
    """``depth`` x [conv3x3 -> norm -> ReLU -> avgpool2] followed by one linear classifier.

    Args:
        channels: input channels (3 for CIFAR, 1 for digits).
        num_classes: number of logits.
        image_size: input side, or (height, width).
        width: channels of every convolution (``net_width``).
        depth: number of blocks (``net_depth``); each halves the spatial size (floor).
        norm: normalisation after each convolution.

    Attributes:
        feature_dim: length of :meth:`embed`'s output, ``width * h * w`` after the poolings.
    """

    def __init__(
        self,
        channels: int,
        num_classes: int,
        image_size: ImageSize,
        *,
        width: int = 128,
        depth: int = 3,
        norm: NormName = "instancenorm",
    ) -> None:
        super().__init__()
        height_now, width_now = _pair(image_size)
        # The reference code pads MNIST-sized (1x28x28) inputs by 3 in the first convolution, so the
        # feature maps are 32x32 and every later shape (and the classifier size) matches CIFAR.
        # Reconstruction: the reference pads every 1-channel input by 3 (its classifier size assumes
        # the side is 28); we pad by 3 only for 28x28, so other sizes (8x8 digits) keep padding 1.
        first_padding = 3 if channels == 1 and (height_now, width_now) == (28, 28) else 1
        height_now += 2 * first_padding - 2
        width_now += 2 * first_padding - 2
        fits = _deepest_fit(min(height_now, width_now))
        if depth > fits:
            raise ValueError(
                f"a {_pair(image_size)} image shrinks to nothing after {fits + 1} poolings; "
                f"use a depth of at most {fits} (got {depth})."
            )
        blocks: list[nn.Module] = []
        in_channels = channels
        for block in range(depth):
            padding = first_padding if block == 0 else 1
            blocks += [
                nn.Conv2d(in_channels, width, kernel_size=3, padding=padding),
                _norm_layer(norm, width, height_now, width_now),
                nn.ReLU(),
                nn.AvgPool2d(kernel_size=2, stride=2),
            ]
            in_channels = width
            height_now, width_now = height_now // 2, width_now // 2
        self.features = nn.Sequential(*blocks)
        self.feature_dim = width * height_now * width_now
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        """Flattened features before the classifier: (B, C, H, W) -> (B, feature_dim)."""
        return self.features(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits: (B, C, H, W) -> (B, num_classes)."""
        return self.classifier(self.embed(x))


def build_model(
    config: ModelConfig,
    *,
    channels: int,
    num_classes: int,
    image_size: ImageSize,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> ConvNet:
    """A ConvNet from its config; with a generator, the initial weights are a function of it.

    The module is built under a forked global RNG seeded from ``generator``, so equal generators
    give equal weights and the caller's global RNG state is left as it was. Without a generator
    PyTorch's global RNG initialises the weights, as usual.
    """

    def make() -> ConvNet:
        return ConvNet(
            channels, num_classes, image_size, width=config.width, depth=config.depth, norm=config.norm
        )

    if generator is None:
        net = make()
    else:
        seed = int(torch.randint(2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = make()
    return net.to(device) if device is not None else net


def model_for_images(
    config: ModelConfig,
    images: Tensor,
    num_classes: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> ConvNet:
    """:func:`build_model` shaped for ``images`` (N, C, H, W) with square sides: C channels, side W."""
    return build_model(
        config,
        channels=images.shape[1],
        num_classes=num_classes,
        image_size=images.shape[-1],
        generator=generator,
        device=device,
    )


def parameter_count(model: nn.Module) -> int:
    """Number of scalar parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


def flatten_params(model: nn.Module) -> Tensor:
    """All parameters in ``named_parameters()`` order as one new 1-D tensor, detached from the model."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def unflatten_params(model: nn.Module, flat: Tensor) -> dict[str, Tensor]:
    """Split ``flat`` into ``{name: tensor shaped like the parameter}``; the pieces are views of ``flat``."""
    expected = parameter_count(model)
    if flat.dim() != 1 or flat.numel() != expected:
        raise ValueError(f"expected a flat vector of {expected} parameters; got shape {tuple(flat.shape)}.")
    pieces: dict[str, Tensor] = {}
    start = 0
    for name, param in model.named_parameters():
        pieces[name] = flat[start : start + param.numel()].view(param.shape)
        start += param.numel()
    return pieces


def functional_forward(model: nn.Module, flat: Tensor, x: Tensor) -> Tensor:
    """Logits of ``model`` evaluated with the parameters in ``flat``; differentiable w.r.t. ``flat``.

    Buffers (BatchNorm running statistics) are the module's own.
    """
    return torch.func.functional_call(model, unflatten_params(model, flat), (x,))


__all__ = [
    "ConvNet",
    "build_model",
    "flatten_params",
    "functional_forward",
    "model_for_images",
    "parameter_count",
    "unflatten_params",
]
