"""tad: Trust-Aware Diversion for dataset distillation under noisy labels.

A reproducible companion to Wu, Liu, Shen, Cao and Yu, *Trust-Aware Diversion for
Data-Effective Distillation* (arXiv 2502.05027). The paper's body text was not
available to us: the method here is a reconstruction, and every choice that is ours
rather than the paper's carries a ``Reconstruction:`` note.
"""

__version__ = "0.1.0"
