"""Named random streams derived from one experiment seed.

Every stochastic function in ``tad`` takes a :class:`torch.Generator` (or an integer
seed for scikit-learn). Deriving each stage's generator from the experiment seed
*and a name* keeps stages independent: adding a draw in one stage never shifts the
numbers another stage sees, and two arms that should share evaluation networks
can ask for the same stream.
"""

from __future__ import annotations

import hashlib

import torch


def stream_seed(seed: int, *names: object) -> int:
    """A 63-bit integer seed determined by ``seed`` and the stream's names."""
    text = "/".join([str(seed), *map(str, names)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def generator(seed: int, *names: object) -> torch.Generator:
    """A CPU generator for the stream ``names`` of experiment ``seed``."""
    return torch.Generator().manual_seed(stream_seed(seed, *names))


def sklearn_seed(seed: int, *names: object) -> int:
    """:func:`stream_seed` folded below 2**31 (scikit-learn accepts 32-bit seeds only)."""
    return stream_seed(seed, *names) % 2**31


def child_seed(gen: torch.Generator) -> int:
    """Draw a seed below 2**31 from ``gen`` (scikit-learn accepts 32-bit seeds only)."""
    return int(torch.randint(0, 2**31 - 1, (1,), generator=gen))


__all__ = ["child_seed", "generator", "sklearn_seed", "stream_seed"]
