"""Spreading independent work over the processes that ``torchrun`` starts.

The expensive stages of an experiment are embarrassingly parallel: expert ``k`` of
each kind, evaluation network ``k`` of each arm, and the settings of a grid never
depend on one another. Under ``torchrun --nproc-per-node N -m tad ...`` every
process (rank) takes its share of those units, writes each finished unit into the
folder the ranks share (atomically, with metadata, exactly as a single process
would), waits for the others at a barrier, and reads everything back from the
files. Collectives carry only barriers and small checks; the files carry the work,
so an interrupted job resumes unit by unit whichever rank was killed.

Without ``torchrun`` (no ``WORLD_SIZE`` in the environment) :func:`current` is a
world of one and nothing here communicates.

Environment (set by ``torchrun``): ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``. Ours: ``TAD_RENDEZVOUS_TIMEOUT_S`` (how long the
ranks wait for each other at start, default 300) and ``TAD_STAGE_TIMEOUT_S`` (how
long a barrier after a long stage may wait, default one week).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import torch

# torch.distributed is imported where it is used: the command line reads the world (and refuses a bad
# launch) before torch loads.

T = TypeVar("T")


class LaunchError(RuntimeError):
    """The ranks could not start together (an unreachable rendezvous): one sentence for the user."""


@dataclass(frozen=True)
class World:
    """This process's place among the ranks: ``rank`` of ``size``, ``local_rank`` on its host."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def owns(self, unit: int) -> bool:
        """Whether unit ``unit`` (0, 1, 2, ...) of a stage is this rank's (round robin)."""
        return unit % self.size == self.rank

    def share(self, units: Sequence[T]) -> list[T]:
        """This rank's units of ``units``, in order."""
        return [u for i, u in enumerate(units) if self.owns(i)]


SINGLE = World()


def current() -> World:
    """The world ``torchrun`` describes in the environment (a world of one without it)."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as err:
        raise ValueError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers ({err}).") from None
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"rank {rank} of world size {size} is not a valid place; check the launcher.")
    return World(rank, size, local_rank)


def _seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds.") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive.")
    return value


_LONG_GROUP: object | None = None


def start(world: World, device: torch.device) -> None:
    """Join the other ranks (gloo on the CPU, NCCL on CUDA); nothing for a world of one.

    An unreachable rendezvous ends in one sentence after ``TAD_RENDEZVOUS_TIMEOUT_S``.
    """
    global _LONG_GROUP
    import torch.distributed as dist

    if not world.distributed or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    timeout = _seconds("TAD_RENDEZVOUS_TIMEOUT_S", 300.0)
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    try:
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout))
        # Barriers after hours of work on one rank need their own, long timeout.
        stage = timedelta(seconds=_seconds("TAD_STAGE_TIMEOUT_S", 7 * 86400.0))
        _LONG_GROUP = dist.new_group(backend="gloo", timeout=stage)
        dist.barrier(group=_LONG_GROUP)
    except (RuntimeError, ValueError, OSError, dist.DistStoreError) as err:
        raise LaunchError(
            f"rank {world.rank} could not reach the other {world.size - 1} rank(s) at {where} within "
            f"{timeout:g} s ({type(err).__name__}); check the rendezvous endpoint and that every rank "
            "started."
        ) from None


def stop() -> None:
    """Leave the process group (every rank calls it at the end)."""
    global _LONG_GROUP
    if "torch.distributed" in sys.modules and sys.modules["torch.distributed"].is_initialized():
        sys.modules["torch.distributed"].destroy_process_group()
    _LONG_GROUP = None


def barrier(world: World) -> None:
    """Wait for every rank; the wait may last as long as the slowest rank's stage."""
    if world.distributed:
        import torch.distributed as dist

        dist.barrier(group=_LONG_GROUP)


def gather(world: World, value: object) -> list[object]:
    """Every rank's ``value`` (small, picklable), in rank order; ``[value]`` for a world of one."""
    if not world.distributed:
        return [value]
    import torch.distributed as dist

    values: list[object] = [None] * world.size
    dist.all_gather_object(values, value, group=_LONG_GROUP)
    return values


def fingerprint(payload: object) -> str:
    """A short hash of a JSON-serialisable ``payload`` (a configuration as a dict)."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_agreement(world: World, what: str, payload: object) -> None:
    """Refuse to start when the ranks were given different ``payload`` (configurations, commands)."""
    prints = gather(world, fingerprint(payload))
    if len(set(prints)) > 1:
        groups = {p: [r for r, q in enumerate(prints) if q == p] for p in prints}
        detail = "; ".join(f"ranks {ranks} have {p}" for p, ranks in groups.items())
        raise ValueError(
            f"the ranks disagree on the {what} ({detail}); start every rank with the same command."
        )


def check_work(world: World, units: int, what: str) -> None:
    """Refuse a world larger than the work: a rank with nothing to do means a mistyped launch."""
    if world.size > units:
        raise ValueError(
            f"{world.size} ranks for {units} {what}: at most {units} processes can share this work; "
            f"lower --nproc-per-node (or --nnodes)."
        )


def check_shared_folder(world: World, folder: Path) -> None:
    """Refuse a ``folder`` that the ranks do not all see (each must read the others' files).

    Rank 0 writes a token with a fresh random value; every rank must read the same value.
    """
    if not world.distributed:
        return
    token = Path(folder) / f".tad-shared-check-{os.environ.get('MASTER_PORT', 'x')}"
    value = secrets.token_hex(8) if world.is_main else None
    if world.is_main:
        Path(folder).mkdir(parents=True, exist_ok=True)
        token.write_text(value)
    values = gather(world, value)
    seen = token.read_text() if token.is_file() else None
    verdicts = gather(world, (socket.gethostname(), seen == values[0]))
    barrier(world)
    if world.is_main:
        token.unlink(missing_ok=True)
    barrier(world)  # no rank goes on while the token is still there (it would see a stray file)
    blind = [f"rank {r} on {host}" for r, (host, ok) in enumerate(verdicts) if not ok]
    if blind:
        raise ValueError(
            f"the folder {folder} is not shared: {', '.join(blind)} cannot see rank 0's files there; "
            "put it on a file system every host mounts (see the book's Scaling out page)."
        )


def device_for(world: World, device: torch.device) -> torch.device:
    """One accelerator per rank on its host: ``cuda`` becomes ``cuda:<local_rank>``."""
    if world.distributed and device.type == "cuda":
        import torch

        return torch.device(device.type, world.local_rank % max(1, torch.cuda.device_count()))
    return device


__all__ = [
    "SINGLE",
    "LaunchError",
    "World",
    "barrier",
    "check_agreement",
    "check_shared_folder",
    "check_work",
    "current",
    "device_for",
    "fingerprint",
    "gather",
    "start",
    "stop",
]
