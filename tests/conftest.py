"""Shared test set-up: one intra-op thread, so that timings hold on a small shared CPU; the notebooks
executed once per session for the notebook and browser tests (``ci_notebooks``).

Two threads on two cores that another process also uses make every small convolution wait for a
busy core; one thread keeps the unit tests in seconds whatever else runs on the machine.
"""

import logging

import pytest
import torch

torch.set_num_threads(1)


class _Quarantines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(autouse=True)
def _no_file_of_ours_is_refused(request):
    """Fail a test in which a file the project wrote itself was refused on load and moved aside.

    ``tad.checkpoint.safe_load`` trusts only the classes a caller names; a class missing from
    that list would silently turn every cached stage into a recomputation. Tests that damage
    files on purpose carry the ``damaged_files`` marker.
    """
    handler = _Quarantines()
    logger = logging.getLogger("tad.checkpoint")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    if request.node.get_closest_marker("damaged_files") is None:
        assert not handler.messages, f"a file written by the project was refused: {handler.messages}"


def _load_build_book():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "build_book.py"
    spec = importlib.util.spec_from_file_location("build_book", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CiNotebooks:
    """Each notebook executed once per test session with the ci profile, as ``make book`` executes it.

    The executed notebook goes where ``scripts/build_book.py`` puts it (``_build/executed/notebooks``),
    so that the browser tests render the very executions the notebook tests checked instead of
    executing every notebook a second time (about four minutes on two cores). Each notebook writes its
    JSON summary to a folder of its own, and one that takes ``runs_dir`` starts from an empty one: no
    checkpoint of an earlier run is reused. A failed execution is kept and raised again to every test
    that asks for that notebook.
    """

    def __init__(self, root) -> None:
        self.root = root
        self.done: dict[str, BaseException | None] = {}
        self.build_book = _load_build_book()  # papermill and jupytext only where notebooks run

    def summary_dir(self, source):
        return self.root / source.stem

    def executed(self, source):
        """The path of ``source``'s executed notebook; executes it on the first request."""
        build_book = self.build_book
        output = build_book.STAGE / "notebooks" / f"{source.stem}.ipynb"
        if source.stem not in self.done:
            out = self.summary_dir(source)
            params = {**build_book.load_profile("ci").get(source.stem, {}), "out_dir": str(out)}
            if "runs_dir" in build_book.parameter_names(source):
                params["runs_dir"] = str(out / "runs")
            with pytest.MonkeyPatch.context() as env:
                env.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend, as in the book
                env.setenv("OMP_NUM_THREADS", "1")
                try:
                    build_book.execute(source, output, params, timeout=600)
                    self.done[source.stem] = None
                except Exception as err:  # kept for every test that reads this notebook
                    self.done[source.stem] = err
        if self.done[source.stem] is not None:
            raise self.done[source.stem]
        return output

    def execute_book(self) -> None:
        """Every notebook the book shows, executed (raises the first failure)."""
        for source in self.build_book.book_notebooks():
            self.executed(source)


@pytest.fixture(scope="session")
def ci_notebooks(tmp_path_factory) -> CiNotebooks:
    return CiNotebooks(tmp_path_factory.mktemp("notebooks"))
