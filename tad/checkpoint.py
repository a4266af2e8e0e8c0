"""Atomic checkpoints with metadata, so that long jobs survive interruption.

A checkpoint is written to a temporary file in the same folder and renamed into
place, so a crash leaves either the old file or the new one, never half of one.
Each file carries metadata (the configuration that produced it, the package
version); loading compares it with what the caller expects and says what differs.

Loading never runs code from a file: ``torch.load(weights_only=True)`` accepts
tensors and plain Python values, plus only the project's own result classes that
the caller names. A file that cannot be read that way (cut short by a full disk or
an interrupted copy, corrupted, or holding anything else) is named in one log line,
moved aside as ``<name>.bad-<time>`` and treated as missing, so the caller
recomputes it; a file from another configuration is an error (see ``load_checkpoint``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import torch

log = logging.getLogger(__name__)

#: Settings added after files were saved, by section, each with the value that behaves as those files
#: did. A checkpoint or an expert saved before the setting existed matches that value, and only that one.
ADDED_AT_EARLIER_BEHAVIOUR: dict[str, dict[str, Any]] = {
    "trust": {"rate_agreement": "top1", "rate_snapshots": 1, "rate_snapshot_mean": "probabilities"}
}
_MISSING = object()

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


def metadata_differences(
    found: dict, expected: dict, prefix: str = "", *, added_later: dict | None = None
) -> list[str]:
    """Human-readable list of the keys whose values differ (nested dicts are walked).

    ``added_later`` maps a section name (at any depth) to the settings added to it after files were
    saved, each with the value that behaves as those files did (:data:`ADDED_AT_EARLIER_BEHAVIOUR` by
    default): a file saved before such a setting existed matches that value.
    """
    table = ADDED_AT_EARLIER_BEHAVIOUR if added_later is None else added_later
    return _differences(found, expected, prefix, table, {})


def _differences(found: dict, expected: dict, prefix: str, table: dict, earlier: dict) -> list[str]:
    diffs = []
    for key in sorted(set(found) | set(expected)):
        a, b = found.get(key, _MISSING), expected.get(key, _MISSING)
        if key in earlier:  # a setting added later: absent reads as its earlier behaviour
            a, b = (earlier[key] if v is _MISSING else v for v in (a, b))
        if isinstance(a, dict) and isinstance(b, dict):
            diffs.extend(_differences(a, b, f"{prefix}{key}.", table, table.get(key, {})))
        elif a != b:
            a, b = ("<missing>" if v is _MISSING else v for v in (a, b))
            diffs.append(f"{prefix}{key}: saved {a!r}, expected {b!r}")
    return diffs


def quarantine(path: str | Path, reason: str) -> Path:
    """Move an unreadable file aside (``<name>.bad-<UTC time>``) and say so in one log line."""
    path = Path(path)
    target = path.with_name(f"{path.name}.bad-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    os.replace(path, target)
    log.warning("%s is unreadable (%s); moved it to %s and will recompute it", path, reason, target.name)
    return target


def can_alias() -> bool:
    """Whether ``weights_only`` loading can allow a class under another import path (torch >= 2.6)."""
    return tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 6)


def aliases(*moved: tuple[type, str]) -> tuple:
    """Old import paths of moved classes, so files written before the move still load.

    ``(SyntheticSet, "tad.distill.base")`` lets a file that pickled the class under its former
    module load as today's class. torch < 2.6 cannot alias: there such files are recomputed.
    """
    if not can_alias():
        return ()
    return tuple((cls, f"{module}.{cls.__qualname__}") for cls, module in moved)


def _trusting(classes: list[type]):
    """A context in which ``weights_only`` loading accepts ``classes`` (torch >= 2.5 scopes it)."""
    if hasattr(torch.serialization, "safe_globals"):
        return torch.serialization.safe_globals(classes)
    torch.serialization.add_safe_globals(classes)  # torch 2.4: process-wide, our own classes only
    return contextlib.nullcontext()


def safe_load(path: str | Path, allowed: Iterable[type] = ()) -> Any | None:
    """``torch.load`` with ``weights_only=True``, trusting only the classes in ``allowed``.

    Returns None after moving the file aside (:func:`quarantine`) when it cannot be
    read: truncated, corrupted, not a torch file, or referring to any class that is
    not in ``allowed`` (a file planted to run code on load falls here too).
    """
    try:
        with _trusting(list(allowed)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception as err:  # every way a file can fail to load: the file is bad, not the run
        first_line = (str(err).strip().splitlines() or [""])[0]
        quarantine(path, f"{type(err).__name__}: {first_line[:160]}")
        return None


def load_checkpoint(
    path: str | Path, expected_meta: dict, *, ignore: tuple[str, ...] = (), allowed: Iterable[type] = ()
) -> dict | None:
    """Load a checkpoint saved as ``{"meta": ..., ...}`` if its metadata matches.

    Returns None when the file does not exist, or when it cannot be read safely
    (:func:`safe_load`, which moves it aside; ``allowed`` names the project classes
    the file may hold). Raises ``ValueError`` naming the differing fields when it was
    produced by another configuration, so a resumed job never silently mixes results.
    Keys in ``ignore`` are not compared.
    """
    path = Path(path)
    if not path.exists():
        return None
    state = safe_load(path, allowed)
    if state is None:
        return None
    if not isinstance(state, dict) or not isinstance(state.get("meta"), dict):
        quarantine(path, "no metadata")
        return None
    found = {k: v for k, v in state["meta"].items() if k not in ignore}
    wanted = {k: v for k, v in expected_meta.items() if k not in ignore}
    diffs = metadata_differences(found, wanted)
    if diffs:
        raise ValueError(
            f"{path} was written by a different configuration ({'; '.join(diffs[:5])}); "
            "delete it or choose another run name."
        )
    return state


__all__ = [
    "ADDED_AT_EARLIER_BEHAVIOUR",
    "aliases",
    "atomic_save",
    "atomic_write_text",
    "can_alias",
    "load_checkpoint",
    "metadata_differences",
    "quarantine",
    "safe_load",
]
