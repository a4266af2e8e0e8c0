"""``torchrun --nproc-per-node 2 -m tad ...`` on the CPU (gloo) against one process, on the digits.

The ranks must produce the very files and results of a single process with the same seeds, survive a
job killed mid-way, and refuse a bad launch with one sentence.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tad.buffer import _SAVED as EXPERT_CLASSES
from tad.checkpoint import safe_load

pytestmark = pytest.mark.slow

TINY = [
    "--method", "datm", "--device", "cpu",
    "--set", "expert.epochs=4", "--set", "tm.iterations=6", "--set", "tm.syn_steps=3",
    "--set", "tm.max_start_epoch=2", "--set", "tm.current_max_start_epoch=1",
    "--set", "eval.epochs=10", "--set", "eval.num_eval=2",
]  # fmt: skip
RUN = "digits-pairflip0.4-ipc10-datm-s0"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def tad(*args: str, ranks: bool = False, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    launcher = TORCHRUN if ranks else [sys.executable]
    command = [*launcher, "-m", "tad", *args]
    return subprocess.run(command, env=_env(**env), capture_output=True, text=True, timeout=timeout)


def experts_of(out: Path) -> dict[str, dict]:
    return {
        str(p.relative_to(out)): safe_load(p, EXPERT_CLASSES) for p in sorted(out.glob("experts/**/*.pt"))
    }


def assert_same_run(a: Path, b: Path) -> None:
    """Equal expert files, equal synthetic sets and equal accuracies in the two output folders."""
    experts_a, experts_b = experts_of(a), experts_of(b)
    assert experts_a.keys() == experts_b.keys() and len(experts_a) == 6  # 2 experts x 3 kinds
    for name, saved in experts_a.items():
        other = experts_b[name]
        assert saved["meta"] == other["meta"]
        assert torch.equal(saved["expert"].trajectory, other["expert"].trajectory), name
        assert torch.equal(saved["expert"].trusted, other["expert"].trusted), name
    result_a, result_b = (json.loads((p / RUN / "results.json").read_text()) for p in (a, b))
    for arm in ("random", "vanilla", "tad", "clean"):
        assert result_a["arms"][arm]["accs"] == result_b["arms"][arm]["accs"], arm
    assert result_a["trust"]["final"] == result_b["trust"]["final"]
    with np.load(a / RUN / "synthetic.npz") as first, np.load(b / RUN / "synthetic.npz") as second:
        assert first.files == second.files
        for key in first.files:
            np.testing.assert_array_equal(first[key], second[key])


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("single")
    done = tad("run", *TINY, "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


def test_two_ranks_write_the_files_and_results_of_one_process(single, tmp_path):
    done = tad("run", *TINY, "--out", str(tmp_path), ranks=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "x 2 ranks" in done.stdout and done.stdout.count("DATM + TAD") == 1  # rank 0 alone reports
    state = tmp_path / RUN / "state"
    assert not list(state.glob("eval-*.pt")) and not list(state.glob("synthetic-*.pt"))  # in arm-*.pt now
    assert_same_run(single, tmp_path)


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux ``/proc``)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def kill_job(job: subprocess.Popen) -> None:
    """SIGKILL ``torchrun`` and its ranks: each rank runs in a session of its own, so killing the
    launcher's process group alone would leave them running (and racing the resumed job)."""
    ranks = _children(job.pid)
    for pid in [job.pid, *ranks]:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    job.wait(timeout=60)
    deadline = time.monotonic() + 60
    while any(Path(f"/proc/{pid}").exists() and _state(pid) != "Z" for pid in ranks):
        assert time.monotonic() < deadline, "a rank survived SIGKILL"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"


def test_a_killed_job_resumes_and_finishes_what_is_missing(single, tmp_path):
    command = [*TORCHRUN, "-m", "tad", "run", *TINY, "--out", str(tmp_path)]
    job = subprocess.Popen(
        command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    first = None
    deadline = time.monotonic() + 240
    while first is None and time.monotonic() < deadline and job.poll() is None:
        finished = sorted(tmp_path.glob("experts/**/expert_*[0-9].pt"))
        first = finished[0] if finished else None
        time.sleep(0.05)
    kill_job(job)  # every rank at once, mid-way through the experts
    assert first is not None, "no expert was finished before the deadline"
    stamp = first.stat().st_mtime_ns
    done = tad("run", *TINY, "--out", str(tmp_path), ranks=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert first.stat().st_mtime_ns == stamp  # a finished expert is read back, not retrained
    assert_same_run(single, tmp_path)


def test_a_grid_spreads_its_settings_over_the_ranks(tmp_path):
    grid = ["reproduce", "--preset", "digits", "--device", "cpu", "--methods", "dm",
            "--only", "symmetric-40,pairflip-40", "--set", "expert.epochs=4", "--set", "dm.iterations=5",
            "--set", "eval.epochs=5", "--set", "eval.num_eval=1"]  # fmt: skip
    one = tad(*grid, "--out", str(tmp_path / "one"), "--results", str(tmp_path / "one.jsonl"))
    two = tad(*grid, "--out", str(tmp_path / "two"), "--results", str(tmp_path / "two.jsonl"), ranks=True)
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-3000:]
    assert "[rank 0]" in two.stdout and "[rank 1]" in two.stdout and "main: 2 new row(s)" in two.stdout
    rows = {}
    for name in ("one", "two"):
        lines = (tmp_path / f"{name}.jsonl").read_text().splitlines()
        rows[name] = {r["key"]: r for r in map(json.loads, lines)}
    assert rows["one"].keys() == rows["two"].keys() and len(rows["one"]) == 2
    for key, row in rows["one"].items():
        assert {a: r["accs"] for a, r in row["arms"].items()} == {
            a: r["accs"] for a, r in rows["two"][key]["arms"].items()
        }


def _one_sentence(done: subprocess.CompletedProcess, text: str) -> None:
    """Our sentence, and no traceback from our code (torchrun adds its own report of a failed rank)."""
    assert done.returncode != 0
    assert f"tad: error: {text}" in done.stderr, done.stderr[-2000:]
    assert "/tad/" not in done.stderr, done.stderr[-2000:]


def test_more_ranks_than_work_is_refused(tmp_path):
    done = tad(
        "run",
        *TINY,
        "--set",
        "eval.num_eval=1",
        "--set",
        "expert.num_experts=1",
        "--set",
        "trust.sizing=mixture",  # one expert: a sized division needs two plain ones
        "--out",
        str(tmp_path),
        ranks=True,
    )
    _one_sentence(done, "2 ranks for 1 experts per kind or evaluation networks")
    assert not list(tmp_path.glob("**/*.pt"))  # nothing a rerun would trust


def test_an_unreachable_rendezvous_and_a_single_process_command_are_refused(tmp_path):
    lone = {"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}
    done = tad("run", *TINY, "--out", str(tmp_path), TAD_RENDEZVOUS_TIMEOUT_S="2", **lone)
    _one_sentence(done, "rank 1 could not reach the other 1 rank(s) at 127.0.0.1:1")
    done = tad("select", "--preset", "digits", "--device", "cpu", **lone)
    _one_sentence(done, "select runs in one process; start it without torchrun")
