"""Write the first images of every CIFAR-10 batch file into a smaller folder of the same layout.

For a machine that cannot take the whole training set (the GPU check of the book's *Reproducing*
page ran on a machine whose transfers were limited to 64 MiB): ``--train-per-batch`` images from each
of the five training batches and ``--test`` from the test batch, in their original order, with the
original ``batches.meta``. ``python -m tad gpu-check --full-train-images 50000`` then projects the
full run from the smaller one. Run from the repository root::

    python scripts/cifar_subset.py --data-root /path/to/data --out /tmp/cifar-part --train-per-batch 3000
"""

from __future__ import annotations

import argparse
import pickle
import shutil
from pathlib import Path

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]


def write_subset(data_root: Path, out: Path, *, train_per_batch: int, test: int) -> int:
    """Write the subset under ``out / FOLDER``; return the number of training images written."""
    if train_per_batch < 1 or test < 1:
        raise ValueError("--train-per-batch and --test must be at least 1.")
    source, target = Path(data_root) / FOLDER, Path(out) / FOLDER
    missing = [f for f in ["batches.meta", *TRAIN_FILES, "test_batch"] if not (source / f).is_file()]
    if missing:
        raise ValueError(f"{source} lacks {', '.join(missing)}.")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / "batches.meta", target / "batches.meta")
    written = 0
    for name, keep in [(f, train_per_batch) for f in TRAIN_FILES] + [("test_batch", test)]:
        with open(source / name, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        part = {"data": batch["data"][:keep], "labels": list(batch["labels"][:keep])}
        with open(target / name, "wb") as f:
            pickle.dump(part, f)
        written += len(part["labels"]) if name != "test_batch" else 0
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True, help="folder holding cifar-10-batches-py")
    parser.add_argument("--out", required=True, help="folder to write cifar-10-batches-py into")
    parser.add_argument("--train-per-batch", type=int, default=3000, help="(default: %(default)s)")
    parser.add_argument("--test", type=int, default=2000, help="test images kept (default: %(default)s)")
    args = parser.parse_args(argv)
    written = write_subset(
        Path(args.data_root), Path(args.out), train_per_batch=args.train_per_batch, test=args.test
    )
    print(f"{written} training and at most {args.test} test images in {Path(args.out) / FOLDER}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
