"""Build the book: execute the notebooks with papermill, then render everything with Jupyter Book.

    python scripts/build_book.py                    # the ci profile (make book)
    python scripts/build_book.py --profile full     # the full profile (make book PROFILE=full)
    python scripts/build_book.py --only 02          # re-execute notebook 02 only, reuse the others
    python scripts/build_book.py --no-execute       # render the notebooks executed last time

1. Every notebook that ``_toc.yml`` lists is read from its jupytext source ``notebooks/NN_*.py`` and
   executed by papermill, with the parameters of the chosen profile in ``notebooks/profiles.yml``, from
   the repository root. The results go to ``_build/executed/notebooks/NN_*.ipynb``.
2. The book's own sources (``_config.yml``, ``_toc.yml``, ``book/``) are copied next to them, so
   ``_build/executed`` mirrors the repository's layout with executed notebooks in place of the
   committed, output-free ones. The launch buttons therefore point at ``notebooks/NN_*.ipynb`` in the
   repository.
3. ``jupyter-book build -W -n --keep-going`` renders ``_build/html``: a warning or a broken reference
   fails the build, and so does a notebook that raised (after the rest of the book is built).
4. Every notebook page is checked for its Colab link.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import papermill
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
STAGE = ROOT / "_build" / "executed"
HTML = ROOT / "_build" / "html"
BOOK_SOURCES = ("_config.yml", "_toc.yml", "book", "_static")
COLAB = "https://colab.research.google.com/github"


def notebook_sources() -> list[Path]:
    """The jupytext sources of every notebook, in reading order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def book_notebooks() -> list[Path]:
    """The sources of the notebooks that ``_toc.yml`` puts in the book (only these are executed)."""

    def files(entries: list[dict]) -> list[str]:
        found = []
        for entry in entries:
            found += [entry["file"]] if "file" in entry else []
            found += files(entry.get("chapters", []) + entry.get("sections", []) + entry.get("parts", []))
        return found

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = [
        name
        for name in files(toc.get("parts", []) + toc.get("chapters", []))
        if name.startswith("notebooks/")
    ]
    return [ROOT / f"{name}.py" for name in listed]


def parameter_names(source: Path) -> set[str]:
    """Names assigned in the notebook's one cell tagged ``parameters`` (those papermill can set)."""
    tagged = [c for c in jupytext.read(source).cells if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"{source.name} needs exactly one cell tagged parameters; it has {len(tagged)}")
    tree = ast.parse(tagged[0].source)
    return {target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets}


def load_profile(name: str, *, root: Path = ROOT) -> dict[str, dict]:
    """Parameters per notebook stem for profile ``name``, with ``path_if_exists`` entries resolved."""
    profiles = yaml.safe_load((root / "notebooks" / "profiles.yml").read_text())
    if name not in profiles:
        raise SystemExit(f"unknown profile {name!r}; notebooks/profiles.yml defines {', '.join(profiles)}.")
    resolved = {}
    for stem, params in (profiles[name] or {}).items():
        resolved[stem] = {}
        for key, value in (params or {}).items():
            if isinstance(value, dict) and set(value) == {"path_if_exists"}:
                if (root / value["path_if_exists"]).exists():
                    resolved[stem][key] = value["path_if_exists"]
            else:
                resolved[stem][key] = value
    return resolved


def execute(source: Path, output: Path, parameters: dict, *, timeout: int, cwd: Path = ROOT) -> None:
    """Run one jupytext notebook with papermill (by default from the repository root); raises on a failure."""
    output.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        jupytext.read(source),
        str(output),
        parameters=parameters,
        kernel_name="python3",
        language="python",
        cwd=str(cwd),
        execution_timeout=timeout,
        progress_bar=False,
    )


def kernel_environment(threads: int | None) -> None:
    """Environment the kernels inherit: the inline plotting backend, and optionally fewer threads."""
    # An MPLBACKEND such as the Makefile's Agg would override the kernel's inline backend, and the
    # executed notebooks would then carry no figures.
    os.environ.pop("MPLBACKEND", None)
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(threads)


def stage_book_sources() -> None:
    """Copy the book's own sources into the staging tree beside the executed notebooks."""
    STAGE.mkdir(parents=True, exist_ok=True)
    for name in BOOK_SOURCES:
        source, target = ROOT / name, STAGE / name
        if source.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)


# The landing page's figure: the committed run of `make demo` (results.json and the arms' images).
DEMO = ROOT / "results" / "digits-pairflip0.4-ipc10-dm-s0"


def write_demo_figure(target: Path) -> None:
    """Render the demo's synthetic images and accuracies from its committed files into ``target``."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from tad.plots import demo_figure

    results = json.loads(DEMO.with_name(DEMO.name + ".json").read_text())
    with np.load(DEMO.with_name(DEMO.name + "-synthetic.npz")) as arrays:
        images = {arm: arrays[arm] for arm in results["arms"] if arm in arrays}
    target.parent.mkdir(parents=True, exist_ok=True)
    demo_figure(results, images).savefig(target, dpi=130, bbox_inches="tight")


def render() -> int:
    """``jupyter-book build`` of the staging tree into ``_build/html``; returns its exit status."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    shutil.rmtree(HTML, ignore_errors=True)  # no figures left over from earlier builds
    # --all: an incremental build would not repeat the warnings of pages it skips.
    flags = ["--path-output", str(ROOT), "--all", "-W", "-n", "--keep-going"]
    return subprocess.run([str(jupyter_book), "build", str(STAGE), *flags], cwd=ROOT, check=False).returncode


def missing_colab_links(sources: list[Path]) -> list[str]:
    """Notebook pages whose Colab button does not open the repository's ``.ipynb``."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repository = config["repository"]["url"].removeprefix("https://github.com/")
    branch = config["repository"].get("branch", "main")
    problems = []
    for source in sources:
        page = HTML / "notebooks" / f"{source.stem}.html"
        link = f"{COLAB}/{repository}/blob/{branch}/notebooks/{source.stem}.ipynb"
        if not page.is_file() or link not in page.read_text():
            problems.append(f"{page.relative_to(ROOT)} lacks the link {link}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci", help="parameter profile of notebooks/profiles.yml")
    parser.add_argument("--only", nargs="*", help="execute only notebooks whose name starts with these")
    parser.add_argument("--no-execute", action="store_true", help="render the last executed notebooks")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per kernel (ci default: 1)")
    args = parser.parse_args(argv)

    profile = load_profile(args.profile)
    kernel_environment(args.threads if args.threads is not None else (1 if args.profile == "ci" else None))
    sources, failed = book_notebooks(), []
    start = time.perf_counter()
    for source in sources:
        output = STAGE / "notebooks" / f"{source.stem}.ipynb"
        if args.no_execute or (args.only and not source.stem.startswith(tuple(args.only))):
            if not output.is_file():
                failed.append(f"{source.name} (never executed)")
            continue
        params = profile.get(source.stem, {})
        t0 = time.perf_counter()
        try:
            execute(source, output, params, timeout=args.timeout)
            print(f"executed {source.name} {params} in {time.perf_counter() - t0:.0f} s", flush=True)
        except papermill.PapermillExecutionError as err:
            failed.append(f"{source.name}: {err.ename}: {err.evalue}")
            print(f"FAILED {source.name}: {err.ename}: {err.evalue}", file=sys.stderr, flush=True)
    stage_book_sources()
    write_demo_figure(STAGE / "book" / "images" / "demo.png")
    status = render()
    problems = failed + ([] if status else missing_colab_links(sources))
    for problem in problems:
        print(f"book: {problem}", file=sys.stderr)
    print(f"book built in {time.perf_counter() - start:.0f} s: {HTML.relative_to(ROOT)}/index.html")
    return 1 if status or problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
