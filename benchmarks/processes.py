"""The expert stage on one machine: one process with T threads against ``torchrun`` with T processes.

    python benchmarks/processes.py --data-root ../shared/data/cifar10 --out benchmarks/results/processes.json

Each layout trains the same vanilla experts of the ``cifar10-cpu`` preset (the digits without
``--data-root``) into a fresh buffer folder: one process on one thread (the baseline of one core),
one process with ``OMP_NUM_THREADS=T``, and ``torchrun --standalone --nproc-per-node T`` with one
thread per process, each rank training its share of the experts (:mod:`tad.distributed`). The
layouts take turns within each repeat so that slow drifts of the machine hit all alike; each ratio
is the median over the repeats. The ratios against one core say what the machine's T cores give at
all: processes that share no data can reach T times one core only where the cores share nothing. Two times are
kept per run: the expert stage (data loaded, from the first expert to the last rank's barrier)
and the whole command (Python and torch start-up and torchrun's rendezvous included).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(args: argparse.Namespace) -> None:
    """One rank (or the single process): train the experts, report the stage's seconds."""
    import torch

    from tad import distributed
    from tad.config import apply_overrides
    from tad.context import RunContext, prepare_data
    from tad.presets import get_preset

    world = distributed.current()
    distributed.start(world, torch.device("cpu"))
    config = get_preset(args.preset)
    changes = [f"expert.num_experts={args.experts}", f"expert.epochs={args.epochs}"]
    if args.data_root:
        changes.append(f"data.data_root={args.data_root}")
    config = apply_overrides(config, changes)
    nd = prepare_data(config)
    ctx = RunContext(config, nd, torch.device("cpu"), experts_root=Path(args.root), world=world)
    distributed.barrier(world)
    start = time.perf_counter()
    ctx.experts("vanilla")
    seconds = time.perf_counter() - start
    slowest = max(distributed.gather(world, seconds))
    if world.is_main:
        Path(args.report).write_text(json.dumps({"stage_s": slowest, "threads": torch.get_num_threads()}))
    distributed.stop()


def run_layout(args: argparse.Namespace, processes: int, threads: int) -> dict:
    """One timed run of the expert stage: ``processes`` processes of ``threads`` threads each."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        inner = [
            __file__, "--worker", "--preset", args.preset, "--experts", str(args.experts),
            "--epochs", str(args.epochs), "--root", str(Path(scratch) / "experts"), "--report", str(report),
        ]  # fmt: skip
        if args.data_root:
            inner += ["--data-root", args.data_root]
        if processes == 1:
            command = [sys.executable, *inner]
        else:
            launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
            command = [*launcher, "--nproc-per-node", str(processes), *inner]
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - start
        return {**json.loads(report.read_text()), "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    parser.add_argument("--data-root", default=None, help="CIFAR-10 folder (default: the digits)")
    parser.add_argument("--preset", default=None, help="default: cifar10-cpu with --data-root, else digits")
    parser.add_argument("--experts", type=int, default=4, help="experts to train (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per expert (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="cores to use (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="A/B pairs (default: %(default)s)")
    parser.add_argument("--out", default=None, help="write the results here as JSON")
    args = parser.parse_args()
    args.preset = args.preset or ("cifar10-cpu" if args.data_root else "digits")
    if args.worker:
        worker(args)
        return
    # name: (processes, threads each); the first is the baseline of one core
    layouts = {
        "1 process x 1 thread": (1, 1),
        f"1 process x {args.threads} threads": (1, args.threads),
        f"{args.threads} processes x 1 thread": (args.threads, 1),
    }
    runs: dict[str, list[dict]] = {name: [] for name in layouts}
    for repeat in range(args.repeats):
        for name, (processes, threads) in layouts.items():
            runs[name].append(run_layout(args, processes, threads))
            print(f"repeat {repeat}: {name:<12} stage {runs[name][-1]['stage_s']:6.1f} s, "
                  f"command {runs[name][-1]['wall_s']:6.1f} s", flush=True)  # fmt: skip
    single, threaded, many = runs.values()

    def ratio(a: list[dict], b: list[dict], key: str) -> float:
        return statistics.median(x[key] / y[key] for x, y in zip(a, b, strict=True))

    stage_ratio, wall_ratio = ratio(threaded, many, "stage_s"), ratio(threaded, many, "wall_s")
    result = {
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "preset": args.preset,
        "experts": args.experts,
        "epochs": args.epochs,
        "threads": args.threads,
        "runs": runs,
        "speedup_stage": stage_ratio,
        "speedup_command": wall_ratio,
        # what the machine gives at all: each layout's stage against one process on one core
        "over_one_core": {name: ratio(single, rows, "stage_s") for name, rows in runs.items()},
        "command": ["python", "benchmarks/processes.py", *sys.argv[1:]],
    }
    print(
        f"{args.threads} processes x 1 thread against 1 process x {args.threads} threads: {stage_ratio:.2f}x "
        f"faster expert stage, {wall_ratio:.2f}x faster command (median of {args.repeats}); "
        "against one core: "
        + ", ".join(f"{name} {value:.2f}x" for name, value in result["over_one_core"].items())
    )
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
