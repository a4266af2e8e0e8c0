"""Downloads from a local HTTP server on 127.0.0.1: complete, corrupt, truncated and unreachable."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import zipfile
from pathlib import Path
from typing import ClassVar

import pytest

from tad.download import HUMAN_LABELS, Remote, ensure_human_labels, ensure_tiny_imagenet, fetch

PAYLOAD = b"label file bytes " * 1000


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self):
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        if self.path.startswith("/truncated"):  # announces more than it sends, then hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) * 2))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    archive = tmp_path_factory.mktemp("zip") / "tiny.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("tiny-imagenet-200/wnids.txt", "n01443537\n")
        z.writestr("tiny-imagenet-200/train/n01443537/images/a.JPEG", b"x")
        z.writestr("tiny-imagenet-200/val/val_annotations.txt", "a.JPEG\tn01443537\n")
    _Handler.files = {
        "/labels.pt": PAYLOAD,
        "/truncated.pt": PAYLOAD,
        "/tiny.zip": archive.read_bytes(),
        "/not-a-zip.zip": b"this is not a zip archive",
    }
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_complete_download_with_the_right_checksum_lands_in_place(server, tmp_path):
    dest = fetch(f"{server}/labels.pt", tmp_path / "sub" / "labels.pt", sha256=sha(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert sorted(p.name for p in dest.parent.iterdir()) == ["labels.pt"]


def test_a_file_url_works_too(tmp_path):
    source = tmp_path / "source.pt"
    source.write_bytes(PAYLOAD)
    dest = fetch(source.as_uri(), tmp_path / "copy.pt", sha256=sha(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD


def test_a_checksum_mismatch_keeps_nothing(server, tmp_path):
    with pytest.raises(ValueError, match="expected SHA-256") as info:
        fetch(f"{server}/labels.pt", tmp_path / "labels.pt", sha256="0" * 64)
    assert "nothing was kept" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_download_keeps_nothing(server, tmp_path):
    with pytest.raises(ValueError, match=r"stopped after|could not download"):
        fetch(f"{server}/truncated.pt", tmp_path / "labels.pt", timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_source_is_one_sentence(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ValueError, match=r"could not download .*check the network, or put the file at"):
        fetch(f"http://127.0.0.1:{port}/labels.pt", tmp_path / "labels.pt", timeout=5)
    with pytest.raises(ValueError, match="could not download"):
        fetch(f"{(tmp_path / 'absent.pt').as_uri()}", tmp_path / "labels.pt")
    assert list(tmp_path.iterdir()) == []


def test_human_labels_are_found_first_and_fetched_only_when_missing(server, tmp_path):
    remote = Remote(f"{server}/labels.pt", sha(PAYLOAD))
    path = ensure_human_labels("cifar10", tmp_path, source=remote)
    assert path == tmp_path / "cifar10n" / "CIFAR-10_human.pt" and path.read_bytes() == PAYLOAD
    path.write_bytes(b"already here")  # a second call finds the file and downloads nothing
    assert ensure_human_labels("cifar10", tmp_path, source=Remote(f"{server}/absent", None)) == path
    assert path.read_bytes() == b"already here"
    with pytest.raises(ValueError, match="only for cifar10 and cifar100"):
        ensure_human_labels("digits", tmp_path)


def test_the_pinned_checksums_are_those_of_the_shared_label_files():
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10n"
    if not shared.is_dir():
        pytest.skip("the shared CIFAR-N label files are not on this machine")
    for dataset, remote in HUMAN_LABELS.items():
        name = remote.url.rsplit("/", 1)[1]
        assert sha((shared / name).read_bytes()) == remote.sha256, dataset


def test_tiny_imagenet_is_unpacked_atomically(server, tmp_path):
    target = ensure_tiny_imagenet(tmp_path, source=Remote(f"{server}/tiny.zip", None))
    assert (target / "train" / "n01443537" / "images" / "a.JPEG").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["tiny-imagenet-200"]  # no scratch left behind
    other = tmp_path / "other"
    with pytest.raises(ValueError, match="not a readable zip archive"):
        ensure_tiny_imagenet(other, source=Remote(f"{server}/not-a-zip.zip", None))
    assert list(other.iterdir()) == []
