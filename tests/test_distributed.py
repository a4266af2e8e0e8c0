"""tad.distributed: shares of work, agreement checks and the shared-folder check, on two CPU ranks."""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import traceback

import pytest
import torch

from tad import distributed
from tad.distributed import World


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank, size, port, task, args, results):
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(size),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    try:
        world = distributed.current()
        distributed.start(world, torch.device("cpu"))
        try:
            results.put((rank, "ok", task(world, *args)))
        finally:
            distributed.stop()
    except Exception as err:  # reported to the test, which asserts on it
        results.put((rank, "error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))


def on_two_ranks(task, *args) -> dict[int, tuple[str, object]]:
    """Run ``task(world, *args)`` on two gloo ranks; {rank: (status, value or error)}."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_rank_main, args=(r, 2, port, task, args, results)) for r in range(2)]
    for p in procs:
        p.start()
    out = {}
    for _ in procs:
        rank, status, value = results.get(timeout=120)
        out[rank] = (status, value)
    for p in procs:
        p.join(timeout=60)
    return out


def _gather_ranks(world):
    return distributed.gather(world, world.rank * 10)


def _agree(world, payload):
    distributed.check_agreement(world, "configuration", payload(world.rank))
    return "agreed"


def _same(rank):
    return {"ipc": 10}


def _differs(rank):
    return {"ipc": 10 + rank}


def _shared(world, folders):
    distributed.check_shared_folder(world, folders[world.rank])
    return sorted(p.name for p in folders[world.rank].iterdir())


def test_a_world_of_one_without_torchrun(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    world = distributed.current()
    assert world == World() and not world.distributed and world.is_main
    assert distributed.gather(world, 3) == [3]
    distributed.barrier(world)  # nothing to wait for


def test_shares_are_round_robin_and_cover_every_unit_once():
    units = list(range(7))
    shares = [World(r, 3).share(units) for r in range(3)]
    assert shares == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(u for s in shares for u in s) == units
    assert [World(1, 3).owns(u) for u in range(4)] == [False, True, False, False]


def test_bad_launcher_environment_is_one_sentence(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match="not a valid place"):
        distributed.current()
    monkeypatch.setenv("RANK", "one")
    with pytest.raises(ValueError, match="must be integers"):
        distributed.current()


def test_a_world_larger_than_the_work_is_refused():
    distributed.check_work(World(1, 2), 2, "experts per kind")
    with pytest.raises(ValueError, match="3 ranks for 2 experts per kind"):
        distributed.check_work(World(0, 3), 2, "experts per kind")


def test_fingerprint_ignores_key_order():
    assert distributed.fingerprint({"a": 1, "b": 2}) == distributed.fingerprint({"b": 2, "a": 1})
    assert distributed.fingerprint({"a": 1}) != distributed.fingerprint({"a": 2})


@pytest.mark.slow
def test_two_ranks_gather_and_agree():
    out = on_two_ranks(_gather_ranks)
    assert out == {0: ("ok", [0, 10]), 1: ("ok", [0, 10])}
    assert on_two_ranks(_agree, _same) == {0: ("ok", "agreed"), 1: ("ok", "agreed")}


@pytest.mark.slow
def test_ranks_with_different_configurations_are_refused():
    out = on_two_ranks(_agree, _differs)
    for rank in (0, 1):
        status, message = out[rank]
        assert status == "error" and "the ranks disagree on the configuration" in message


@pytest.mark.slow
def test_a_folder_the_ranks_do_not_share_is_refused(tmp_path):
    shared = tmp_path / "shared"
    assert on_two_ranks(_shared, [shared, shared]) == {0: ("ok", []), 1: ("ok", [])}  # the token is gone
    out = on_two_ranks(_shared, [tmp_path / "host-a", tmp_path / "host-b"])
    for rank in (0, 1):
        status, message = out[rank]
        assert status == "error" and "is not shared: rank 1 on" in message


@pytest.mark.slow
def test_an_unreachable_rendezvous_stops_with_one_sentence(tmp_path):
    env = {
        **os.environ,
        "RANK": "1",
        "WORLD_SIZE": "2",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),  # nobody listens: rank 0 never started
        "TAD_RENDEZVOUS_TIMEOUT_S": "3",
    }
    code = "import torch; from tad import distributed as d; d.start(d.current(), torch.device('cpu'))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "rank 1 could not reach the other 1 rank(s) at 127.0.0.1:" in done.stderr
