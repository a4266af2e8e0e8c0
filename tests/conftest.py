"""Shared test set-up: one intra-op thread, so that timings hold on a small shared CPU.

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
