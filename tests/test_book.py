"""The book's sources: the API page covers the package, and the configuration keeps its guards."""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import yaml

import tad

ROOT = Path(__file__).resolve().parents[1]


def test_the_api_page_documents_every_module():
    modules = {"tad"} | {m.name for m in pkgutil.walk_packages(tad.__path__, prefix="tad.")}
    documented = set(re.findall(r"^\.\. automodule:: (\S+)$", (ROOT / "book" / "api.md").read_text(), re.M))
    assert modules - documented == set(), "add these modules to book/api.md"
    assert documented - modules == set(), "book/api.md documents modules that do not exist"


def test_the_config_excludes_everything_that_is_not_a_book_source():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["only_build_toc_files"] is True
    assert {".venv", "tad", "tests", "scripts", "runs", "_build"} <= set(config["exclude_patterns"])
    assert config["execute"]["execute_notebooks"] == "off"  # papermill executes, the book renders
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


def test_every_toc_entry_exists():
    toc = (ROOT / "_toc.yml").read_text()
    for name in re.findall(r"file: (\S+)", toc):
        suffix = ".ipynb" if name.startswith("notebooks/") else ".md"
        assert (ROOT / f"{name}{suffix}").is_file(), f"_toc.yml lists {name}, which has no {suffix} file"


def _readme_tables():
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "scripts" / "readme_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_figures_are_those_of_the_committed_results():
    readme = (ROOT / "README.md").read_text()
    assert _readme_tables().render(readme) == readme, "run python scripts/readme_tables.py"


def test_a_changed_results_file_changes_the_readme_block(tmp_path):
    import json
    import shutil

    module = _readme_tables()
    (tmp_path / "results").mkdir()
    name = "results/digits-pairflip0.4-ipc10-dm-s0.json"
    for copied in (name, "results/digits-symmetric0.4-ipc10-dm-s0.json", "results/cifar10-cpu-main.jsonl"):
        shutil.copy(ROOT / copied, tmp_path / copied)
    payload = json.loads((tmp_path / name).read_text())
    payload["arms"]["tad"]["acc_mean"] += 1.0
    (tmp_path / name).write_text(json.dumps(payload))
    readme = (ROOT / "README.md").read_text()
    assert module.render(readme, tmp_path) != readme


def _set_repository():
    import importlib.util

    spec = importlib.util.spec_from_file_location("set_repository", ROOT / "scripts" / "set_repository.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_notebook_clones_the_repository_the_book_names():
    script = _set_repository()
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert script.config_url() == url
    for path in script.notebook_sources():
        assert script.notebook_url(path) == url, f"{path.name}: run scripts/set_repository.py {url}"
        assert len(script.PATTERN.findall(path.read_text())) == 1  # one set-up cell, which the script finds
    # the paired .ipynb files carry the same cell
    for path in script.notebook_sources():
        assert f'REPOSITORY = \\"{url}\\"' in path.with_suffix(".ipynb").read_text()
