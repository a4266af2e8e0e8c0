"""Run chosen arms of grid rows ahead of the full rows, so that two processes can share one grid.

A row of ``python -m tad reproduce`` runs its arms one after another and caches each finished arm under
``runs/<row>/state/``; the random, vanilla and clean arms do not depend on TAD's settings, so they can
run in one process while another runs the TAD arms. The full ``reproduce`` command afterwards finds
every arm cached and writes the rows (their wall times then count only what was left to do).

    python scripts/grid_stages.py --arms random,vanilla,clean --methods dm,datm --settings clean,pairflip-40
    python scripts/grid_stages.py --arms tad --methods dm,datm --settings clean,pairflip-40
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from tad.pipeline import run_experiment
from tad.presets import get_preset
from tad.reproduce import grid_jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cifar10-cpu")
    parser.add_argument("--data-root", default="../shared/data/cifar10")
    parser.add_argument("--grid", default="main")
    parser.add_argument("--arms", required=True, help="comma-separated arms to run now")
    parser.add_argument("--methods", default="dm,datm")
    parser.add_argument("--settings", required=True, help="comma-separated settings, in the order to run")
    parser.add_argument("--ipc", type=int, default=None, help="images per class (default: the preset's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs")
    args = parser.parse_args()
    base = get_preset(args.preset)
    base = replace(base, data=replace(base.data, data_root=args.data_root), seed=args.seed)
    base = replace(base, ipc=args.ipc or base.ipc)
    wanted = args.settings.split(",")
    arms = set(args.arms.split(","))
    jobs = [j for j in grid_jobs(args.grid, tuple(args.methods.split(","))) if j.setting in wanted]
    jobs.sort(key=lambda j: wanted.index(j.setting))
    for job in jobs:
        config = job.config(base)
        config = replace(config, arms=tuple(a for a in config.arms if a in arms))
        if not config.arms:
            continue
        start = time.perf_counter()
        result = run_experiment(config, device="cpu", out_dir=Path(args.out) / config.name)
        accs = {a: round(r.evaluation.mean, 1) for a, r in result.arms.items()}
        print(job.method, job.setting, accs, f"{time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
