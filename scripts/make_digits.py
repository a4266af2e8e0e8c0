"""Regenerate ``tad/_data/digits.npz`` from scikit-learn's bundled digits (no download).

The file holds ``images`` (uint8, 1797 x 8 x 8, values 0..16) and ``labels`` (uint8, 1797), in the order
of :func:`sklearn.datasets.load_digits`. ``tad.data`` reads it at run time, so the package needs no
scikit-learn call to load the digits. Run from the repository root::

    python scripts/make_digits.py
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "tad" / "_data" / "digits.npz"


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The digit images and labels as compact integer arrays (the values are whole numbers 0..16)."""
    bunch = load_digits()
    images = np.asarray(bunch.images)
    if not np.array_equal(images, np.round(images)) or images.min() < 0 or images.max() > 16:
        raise ValueError("scikit-learn's digits are no longer whole numbers in 0..16; check the version.")
    return images.astype(np.uint8), np.asarray(bunch.target).astype(np.uint8)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the .npz")
    args = parser.parse_args(argv)
    images, labels = digits_arrays()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.output, images=images, labels=labels)
    logging.getLogger(__name__).info("wrote %d digits to %s", len(labels), args.output)
    return args.output


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
