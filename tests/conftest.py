"""Shared test set-up: one intra-op thread, so that timings hold on a small shared CPU.

Two threads on two cores that another process also uses make every small convolution wait for a
busy core; one thread keeps the unit tests in seconds whatever else runs on the machine.
"""

import torch

torch.set_num_threads(1)
