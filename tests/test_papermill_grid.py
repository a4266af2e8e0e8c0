"""The papermill reproduction of notebook 5 over a list of settings, at tiny sizes on the CPU."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("papermill_grid", ROOT / "scripts" / "papermill_grid.py")
papermill_grid = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(papermill_grid)

TINY = ["--num-experts", "2", "--expert-epochs", "4", "--dm-iterations", "3", "--eval-epochs", "2"]


@pytest.mark.notebooks
def test_one_notebook_and_one_results_line_per_setting_and_a_rerun_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    results = tmp_path / "rows.jsonl"
    argv = [
        "--preset", "digits", "--dataset", "digits", "--settings", "symmetric-40,pairflip-40",
        "--methods", "dm", "--arms", "vanilla,tad", "--num-eval", "1", "--device", "cpu",
        "--out", str(tmp_path / "out"), "--results", str(results), *TINY,
    ]  # fmt: skip
    assert papermill_grid.main(argv) == 0
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["setting"] for r in rows] == ["symmetric-40", "pairflip-40"]
    assert all(set(r["arms"]) == {"vanilla", "tad"} and r["grid"] == "papermill" for r in rows)
    assert rows[0]["command"][:2] == ["python", "scripts/papermill_grid.py"]
    executed = sorted(p.name for p in (tmp_path / "out").glob("*.ipynb"))
    assert executed == ["digits-dm-pairflip-40-ipc10-s0.ipynb", "digits-dm-symmetric-40-ipc10-s0.ipynb"]
    capsys.readouterr()
    assert papermill_grid.main(argv) == 0  # everything is in the results file: nothing runs again
    assert capsys.readouterr().out.count("skipped") == 2
    assert len(results.read_text().splitlines()) == 2


def test_bad_settings_and_methods_stop_before_anything_runs(tmp_path):
    with pytest.raises(SystemExit, match="unknown setting"):
        papermill_grid.main(["--preset", "digits", "--settings", "bogus-10", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="unknown method"):
        papermill_grid.main(["--preset", "digits", "--settings", "clean", "--methods", "gm"])
    with pytest.raises(ValueError, match="unknown preset"):
        papermill_grid.main(["--preset", "huge", "--settings", "clean"])
    assert list(tmp_path.iterdir()) == []
