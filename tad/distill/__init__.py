"""Base distillation methods that TAD plugs into: one module per method."""

from tad.distill.base import SyntheticSet

__all__ = ["SyntheticSet"]
