"""scripts/merge_selections.py: selection files of different settings become one, with their commands."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("merge_selections", ROOT / "scripts" / "merge_selections.py")
merge_selections = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(merge_selections)


def part(settings: list[str], command: str, **changes) -> dict:
    payload = {
        "criterion": "noisy-val",
        "validation_per_class": 500,
        "candidates": {"a": ["x=1"], "b": ["x=2"]},
        "base_config": {"seed": 0},
        "settings": {s: [{"name": "a", "seed": 0, "noisy_val_accuracy": 1.0}] for s in settings},
        "command": command.split(),
        "mean_noisy_val_accuracy": {"a": 1.0},
        "chosen": "a",
    }
    return {**payload, **changes}


def test_parts_merge_with_their_commands_and_nothing_else():
    merged = merge_selections.merge(
        [part(["clean"], "select --settings clean"), part(["sym"], "select --settings sym")]
    )
    assert list(merged["settings"]) == ["clean", "sym"]
    assert "chosen" not in merged and "mean_noisy_val_accuracy" not in merged  # the rerun writes them
    assert merged["notes"][0] == "scores of clean made by: select --settings clean"
    assert merged["notes"][1] == "scores of sym made by: select --settings sym"


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (part(["sym"], "c", base_config={"seed": 1}), "differ in base_config"),
        (part(["clean"], "c"), "setting clean is in more than one part"),
    ],
)
def test_parts_that_cannot_be_compared_are_refused(second, message):
    with pytest.raises(ValueError, match=message):
        merge_selections.merge([part(["clean"], "c"), second])
