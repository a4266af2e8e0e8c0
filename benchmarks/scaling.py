"""How the trust division and the recalibration grow with the number of samples N and classes C.

    python benchmarks/scaling.py --out benchmarks/results/scaling.json

One outer step (per-class normalisation, C Gaussian mixtures, thresholds) and one inner step (anchors,
shared covariance, Cholesky whitening, N x C Mahalanobis distances and cosines, recall) on synthetic
scores: losses from a two-component mixture, features of dimension d = 2048 (the DD ConvNet's on
CIFAR) with a class signal. Model forward passes are not included: they are the same as a training
epoch's and are timed in overhead.py.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from tad.config import RecalibConfig, TrustConfig
from tad.recalibrate import recalibrate
from tad.trust import divide


def synthetic_scores(n: int, c: int, d: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, c, (n,), generator=gen)
    noisy = torch.rand(n, generator=gen) < 0.3
    losses = torch.where(
        noisy, 2.0 + 0.5 * torch.randn(n, generator=gen), 0.2 + 0.1 * torch.randn(n, generator=gen)
    )
    centres = torch.randn(c, d, generator=gen)
    features = (centres[labels] + 2.0 * torch.randn(n, d, generator=gen)).relu()
    probs = torch.softmax(torch.randn(n, c, generator=gen), dim=1)
    return labels, losses.abs(), features, probs


def time_once(n: int, c: int, d: int) -> tuple[float, float]:
    labels, losses, features, probs = synthetic_scores(n, c, d)
    t = time.perf_counter()
    split = divide(losses, labels, torch.zeros(n, dtype=torch.bool), c, config=TrustConfig(), seed=0)
    outer = time.perf_counter() - t
    t = time.perf_counter()
    recalibrate(features, probs, split, c, config=RecalibConfig())
    return outer, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,50000")
    parser.add_argument("--classes", default="10,100,200")
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/scaling.json")
    args = parser.parse_args()
    rows = []
    for n in map(int, args.sizes.split(",")):
        for c in map(int, args.classes.split(",")):
            runs = [time_once(n, c, args.dim) for _ in range(args.repeats)]
            outer = statistics.median(r[0] for r in runs)
            inner = statistics.median(r[1] for r in runs)
            rows.append({"N": n, "C": c, "d": args.dim, "outer_s": outer, "inner_s": inner})
            print(f"N={n:>6} C={c:>4}: division {outer:6.2f} s, recalibration {inner:6.2f} s", flush=True)
    out = {"machine": {"platform": platform.platform(), "threads": torch.get_num_threads()}, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
