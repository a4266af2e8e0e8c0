"""Atomic checkpoints with metadata, so that long jobs survive interruption.

A checkpoint is written to a temporary file in the same folder and renamed into
place, so a crash leaves either the old file or the new one, never half of one.
Each file carries metadata (the configuration that produced it, the package
version); loading compares it with what the caller expects and says what differs.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

log = logging.getLogger(__name__)

_umask = os.umask(0)
os.umask(_umask)
_FILE_MODE = 0o666 & ~_umask  # what open() would give; mkstemp's own default is 0600


def _atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write`` on a temporary file beside ``path``, sync it, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to ``path`` through a temporary file and an atomic rename."""
    return _atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_text(text: str, path: str | Path) -> Path:
    """Write a text file atomically (results JSON, logs)."""
    return _atomic_write(path, lambda f: f.write(text.encode()))


def metadata_differences(found: dict, expected: dict, prefix: str = "") -> list[str]:
    """Human-readable list of the keys whose values differ (nested dicts are walked)."""
    diffs = []
    for key in sorted(set(found) | set(expected)):
        a, b = found.get(key, "<missing>"), expected.get(key, "<missing>")
        if isinstance(a, dict) and isinstance(b, dict):
            diffs.extend(metadata_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            diffs.append(f"{prefix}{key}: saved {a!r}, expected {b!r}")
    return diffs


def load_checkpoint(path: str | Path, expected_meta: dict, *, ignore: tuple[str, ...] = ()) -> dict | None:
    """Load a checkpoint saved as ``{"meta": ..., ...}`` if its metadata matches.

    Returns None when the file does not exist. Raises ``ValueError`` naming the
    differing fields when it exists but was produced by another configuration, so
    a resumed job never silently mixes results. Keys in ``ignore`` are not compared.
    """
    path = Path(path)
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    found = {k: v for k, v in state.get("meta", {}).items() if k not in ignore}
    wanted = {k: v for k, v in expected_meta.items() if k not in ignore}
    diffs = metadata_differences(found, wanted)
    if diffs:
        raise ValueError(
            f"{path} was written by a different configuration ({'; '.join(diffs[:5])}); "
            "delete it or choose another run name."
        )
    return state


__all__ = ["atomic_save", "atomic_write_text", "load_checkpoint", "metadata_differences"]
