"""Tests for tad.device: resolving a user's device choice once, with one-sentence errors."""

from __future__ import annotations

import pytest
import torch

from tad.device import resolve_device


def test_auto_picks_an_available_device():
    device = resolve_device("auto")
    assert isinstance(device, torch.device)
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert device == torch.device("cpu")


def test_cpu_passes_through():
    assert resolve_device("cpu") == torch.device("cpu")


def test_an_unknown_name_is_a_value_error():
    with pytest.raises(ValueError, match="unknown device 'foo'"):
        resolve_device("foo")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present here")
def test_an_absent_accelerator_is_a_value_error():
    with pytest.raises(ValueError, match="not available on this machine"):
        resolve_device("cuda")
