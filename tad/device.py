"""Choosing where tensors live: one function shared by the command line and the notebooks.

Library functions never pick a device themselves (they take one as an argument);
the caller resolves a user's choice such as ``"auto"`` once, here.
"""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """``"auto"`` becomes the first accelerator present (CUDA, then MPS), else the CPU.

    Any other name (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) is checked and
    returned as a :class:`torch.device`; an unknown or absent device raises
    ``ValueError`` with a sentence saying what to use instead.
    """
    if name != "auto":
        try:
            device = torch.device(name)
        except RuntimeError as err:
            raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:1 or mps.") from err
        present = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
        if not present.get(device.type, True):
            raise ValueError(f"device {name!r} is not available on this machine; use cpu or auto.")
        return device
    if torch.cuda.is_available():
        return torch.device(torch.cuda.current_device())
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def inference_batch(device: torch.device) -> int:
    """Images per forward pass when a network only scores (no gradient): 128 on a CPU, else 1024.

    Measured, not guessed (benchmarks/results/overhead.json, ``score_batch``): on a CPU the
    activations of a small batch stay in the caches, so the width-32 ConvNet scores 5,000 CIFAR
    images about three times faster in batches of 128 than of 512; an accelerator wants large
    batches. Each image's outputs do not depend on the batch it is in (instance norm), so this
    changes the speed only.
    """
    return 128 if device.type == "cpu" else 1024


__all__ = ["inference_batch", "resolve_device"]
