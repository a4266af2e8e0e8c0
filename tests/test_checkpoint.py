"""Tests for tad.checkpoint: atomic writes, metadata checks and what is left on disk."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from tad.checkpoint import atomic_save, atomic_write_text, load_checkpoint, metadata_differences, safe_load

META = {"config": {"ipc": 10, "noise": {"kind": "pairflip", "rate": 0.4}}, "version": "0.1.0"}


def test_atomic_save_and_load_round_trip(tmp_path):
    state = {"meta": META, "value": {"images": torch.arange(6.0).view(2, 3), "accs": (1.0, 2.0)}}
    path = atomic_save(state, tmp_path / "nested" / "arm.pt")
    assert path == tmp_path / "nested" / "arm.pt"
    loaded = load_checkpoint(path, META)
    assert loaded is not None
    assert torch.equal(loaded["value"]["images"], state["value"]["images"])
    assert loaded["value"]["accs"] == (1.0, 2.0)
    assert sorted(p.name for p in path.parent.iterdir()) == ["arm.pt"]


def test_overwriting_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "arm.pt"
    atomic_save({"meta": META, "value": 1}, path)
    atomic_save({"meta": META, "value": 2}, path)
    assert load_checkpoint(path, META)["value"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["arm.pt"]


def test_a_failed_save_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "arm.pt"
    atomic_save({"meta": META, "value": "old"}, path)
    with pytest.raises(Exception, match=r"pickle|lambda"):
        atomic_save({"meta": META, "value": lambda x: x}, path)  # lambdas cannot be pickled
    assert load_checkpoint(path, META)["value"] == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["arm.pt"]


def test_missing_checkpoint_is_none(tmp_path):
    assert load_checkpoint(tmp_path / "nothing.pt", META) is None


def test_mismatched_metadata_names_the_differing_field(tmp_path):
    path = atomic_save({"meta": META, "value": 1}, tmp_path / "trust.pt")
    other = {"config": {"ipc": 50, "noise": {"kind": "pairflip", "rate": 0.4}}, "version": "0.1.0"}
    with pytest.raises(ValueError, match=r"config\.ipc: saved 10, expected 50") as info:
        load_checkpoint(path, other)
    assert str(path) in str(info.value) and "noise" not in str(info.value)
    assert load_checkpoint(path, {**META, "version": "9.9"}, ignore=("version",))["value"] == 1


def test_metadata_differences_walk_nested_dicts_and_report_missing_keys():
    found = {"a": 1, "b": {"c": 2, "d": 3}, "only_saved": True}
    expected = {"a": 1, "b": {"c": 2, "d": 4}, "only_new": 0}
    assert metadata_differences(found, expected) == [
        "b.d: saved 3, expected 4",
        "only_new: saved '<missing>', expected 0",
        "only_saved: saved True, expected '<missing>'",
    ]
    assert metadata_differences(META, META) == []


def test_atomic_write_text(tmp_path):
    path = atomic_write_text('{"format": 1}\n', tmp_path / "out" / "results.json")
    assert path.read_text() == '{"format": 1}\n'
    atomic_write_text("second", path)
    assert path.read_text() == "second"
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]


@dataclass(frozen=True)
class _Result:
    images: torch.Tensor
    accs: tuple[float, ...]


class _Planted:
    """Pickles to a call of ``Path.touch``: what a file planted to run code on load looks like."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def _bad_files(folder):
    return sorted(p.name.split(".bad-")[0] for p in folder.iterdir() if ".bad-" in p.name)


@pytest.mark.damaged_files
def test_the_project_classes_named_by_the_caller_load_and_no_others(tmp_path):
    value = _Result(torch.ones(2, 3), (1.0, 2.0))
    path = atomic_save({"meta": META, "value": value}, tmp_path / "arm.pt")
    loaded = load_checkpoint(path, META, allowed=(_Result,))
    assert torch.equal(loaded["value"].images, value.images) and loaded["value"].accs == (1.0, 2.0)
    assert load_checkpoint(path, META) is None  # _Result not named: refused, moved aside
    assert _bad_files(tmp_path) == ["arm.pt"] and not path.exists()


@pytest.mark.damaged_files
def test_a_file_planted_to_run_code_is_refused_without_running_it(tmp_path, caplog):
    touched = tmp_path / "code-ran"
    path = tmp_path / "expert_000.pt"
    torch.save({"meta": META, "value": _Planted(touched)}, path)
    with caplog.at_level(logging.WARNING, logger="tad.checkpoint"):
        assert load_checkpoint(path, META) is None
    assert not touched.exists()
    assert _bad_files(tmp_path) == ["expert_000.pt"]
    assert len(caplog.records) == 1 and "expert_000.pt" in caplog.records[0].getMessage()


@pytest.mark.damaged_files
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "no-metadata"])
def test_a_damaged_file_is_moved_aside_and_reads_as_missing(tmp_path, caplog, damage):
    path = atomic_save({"meta": META, "value": torch.arange(1000.0)}, tmp_path / "trust.pt")
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])  # what a full disk or an interrupted copy leaves
    elif damage == "garbage":
        path.write_bytes(bytes(reversed(data)))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        atomic_save({"value": 1}, path)
    with caplog.at_level(logging.WARNING, logger="tad.checkpoint"):
        assert load_checkpoint(path, META) is None
    assert not path.exists() and _bad_files(tmp_path) == ["trust.pt"]
    assert "trust.pt" in caplog.text and "recompute" in caplog.text
    # the caller recomputes and saves; the next load finds the new file
    atomic_save({"meta": META, "value": 2}, path)
    assert load_checkpoint(path, META)["value"] == 2


def test_safe_load_returns_plain_values(tmp_path):
    path = atomic_save({"a": [1, 2.5, "x", None], "t": torch.zeros(3)}, tmp_path / "plain.pt")
    loaded = safe_load(path)
    assert loaded["a"] == [1, 2.5, "x", None] and torch.equal(loaded["t"], torch.zeros(3))


def test_a_setting_added_later_matches_only_its_earlier_behaviour(tmp_path):
    # A file saved before trust.rate_agreement existed behaves as "top1": it still loads at that value
    # (wherever the trust section sits) and is refused, naming the setting, at any other.
    saved = {"config": {"trust": {"lambda_cons": 1.0}}, "version": "0.1.0"}
    path = atomic_save({"meta": saved, "value": 1}, tmp_path / "trust.pt")
    now = {"config": {"trust": {"lambda_cons": 1.0, "rate_agreement": "top1"}}, "version": "0.1.0"}
    assert load_checkpoint(path, now)["value"] == 1
    assert metadata_differences(now, saved) == []  # either side may be the older one
    top2 = {"config": {"trust": {"lambda_cons": 1.0, "rate_agreement": "top2"}}, "version": "0.1.0"}
    with pytest.raises(ValueError, match=r"config\.trust\.rate_agreement: saved 'top1', expected 'top2'"):
        load_checkpoint(path, top2)
    # Only in its own section: the same name elsewhere is an ordinary setting.
    assert metadata_differences({"other": {}}, {"other": {"rate_agreement": "top1"}}) == [
        "other.rate_agreement: saved '<missing>', expected 'top1'"
    ]
    assert metadata_differences(saved["config"], top2["config"], added_later={}) == [
        "trust.rate_agreement: saved '<missing>', expected 'top2'"
    ]
