"""Fetching what a fresh machine (a Colab runtime) lacks: datasets and the CIFAR-N human labels.

Every download goes to a ``.part`` file beside its destination and is renamed into place only
once it is complete (its length matches the server's ``Content-Length``) and, where a checksum is
known, its SHA-256 matches. A failed, truncated or corrupt download leaves nothing that a rerun
would trust: the ``.part`` file is removed and the error says what to do.

* CIFAR-10/100: torchvision's own download (with its MD5 check) into the data root.
* CIFAR-10N/100N: ``CIFAR-10_human.pt`` and ``CIFAR-100_human.pt`` from the authors' repository
  (github.com/UCSC-REAL/cifar-10-100n, ``data/``), checked against the SHA-256 of the copies this
  project was developed with.
* Tiny ImageNet: the public archive ``tiny-imagenet-200.zip``, unpacked into the data root. No
  checksum is pinned for it: we have not had the archive to compute one, so only its length is
  checked.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tad.checks import LABEL_FILES, find_label_file

log = logging.getLogger(__name__)

CHUNK = 1 << 20


@dataclass(frozen=True)
class Remote:
    url: str
    sha256: str | None  # None: not pinned (only the length is checked)


_CIFAR_N = "https://raw.githubusercontent.com/UCSC-REAL/cifar-10-100n/main/data/"
HUMAN_LABELS = {
    "cifar10": Remote(
        _CIFAR_N + LABEL_FILES["cifar10"], "873e69c39cb9b5e97fb6bae2d60bb59b38a5cbc31d2b868f7903dcb2b9dd2310"
    ),
    "cifar100": Remote(
        _CIFAR_N + LABEL_FILES["cifar100"], "bd2d80409754d420292d622e15e25248ba21e37d27429efac49c8da723f44394"
    ),
}
TINY_IMAGENET = Remote("http://cs231n.stanford.edu/tiny-imagenet-200.zip", None)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, dest: str | Path, *, sha256: str | None = None, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically; raise ValueError (one sentence) on any failure."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
                expected = response.headers.get("Content-Length")
                received = 0
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    received += len(chunk)
        except (http.client.HTTPException, OSError, ValueError) as err:  # URLError is an OSError
            reason = getattr(err, "reason", err)
            raise ValueError(
                f"could not download {url} ({reason}); check the network, or put the file at {dest} by hand."
            ) from None
        if expected is not None and received != int(expected):
            raise ValueError(
                f"the download of {url} stopped after {received} of {expected} bytes; run the command again."
            )
        if sha256 is not None and (got := sha256_of(part)) != sha256:
            raise ValueError(
                f"{url} does not have the expected SHA-256 (expected {sha256}, got {got}): the download is "
                "corrupt or the file changed at its source; nothing was kept."
            )
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    log.info("downloaded %s to %s", url, dest)
    return dest


def ensure_human_labels(dataset: str, data_root: str | Path, *, source: Remote | None = None) -> Path:
    """The CIFAR-N label file of ``dataset``: found near ``data_root``, else downloaded into it."""
    if dataset not in HUMAN_LABELS:
        raise ValueError(f"human labels exist only for cifar10 and cifar100, not {dataset!r}.")
    try:
        return find_label_file(dataset, str(data_root), None)
    except ValueError:
        pass
    remote = source or HUMAN_LABELS[dataset]
    return fetch(
        remote.url, Path(data_root).expanduser() / "cifar10n" / LABEL_FILES[dataset], sha256=remote.sha256
    )


def ensure_tiny_imagenet(data_root: str | Path, *, source: Remote = TINY_IMAGENET) -> Path:
    """``<data_root>/tiny-imagenet-200``: present, or downloaded and unpacked (atomically) into it."""
    root = Path(data_root).expanduser()
    target = root / "tiny-imagenet-200"
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".tiny-") as scratch:
        archive = fetch(source.url, Path(scratch) / "tiny-imagenet-200.zip", sha256=source.sha256)
        try:
            with zipfile.ZipFile(archive) as z:
                z.extractall(scratch)
        except zipfile.BadZipFile:
            raise ValueError(f"{source.url} is not a readable zip archive; nothing was kept.") from None
        unpacked = Path(scratch) / "tiny-imagenet-200"
        if not unpacked.is_dir():
            raise ValueError(f"{source.url} holds no tiny-imagenet-200 folder; nothing was kept.")
        shutil.move(str(unpacked), target)
    return target


def ensure_data(dataset: str, data_root: str | Path | None, *, human_labels: bool = False) -> None:
    """Fetch whatever ``dataset`` needs under ``data_root`` that is not there yet (nothing for digits)."""
    if dataset == "digits":
        return
    if data_root is None:
        raise ValueError(f"{dataset} needs a data folder; set data_root (for example /content/data).")
    if dataset in ("cifar10", "cifar100"):
        from tad.config import DataConfig
        from tad.sources import ensure_cifar

        ensure_cifar(DataConfig(dataset=dataset, data_root=str(data_root)))  # type: ignore[arg-type]
        if human_labels:
            ensure_human_labels(dataset, data_root)
    elif dataset == "tinyimagenet":
        ensure_tiny_imagenet(data_root)
    else:
        raise ValueError(f"unknown dataset {dataset!r}; choose from digits, cifar10, cifar100, tinyimagenet.")


__all__ = [
    "HUMAN_LABELS",
    "TINY_IMAGENET",
    "Remote",
    "ensure_data",
    "ensure_human_labels",
    "ensure_tiny_imagenet",
    "fetch",
    "sha256_of",
]
