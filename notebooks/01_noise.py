# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Noise injection
#
# TAD is evaluated on training labels that are partly wrong. Before any distillation, this notebook
# looks at the noise itself: what each noise model *asks* for, as a transition matrix
# $P_{ij} = P(\tilde y = j \mid y^* = i)$, and what a seeded draw *realises* on a finite training set.
#
# Three kinds of noise appear in the paper's abstract: symmetric, asymmetric and real-world. We add the
# pair-flip noise ($c \to c+1$) of the demo; the next notebooks use symmetric noise. Real-world noise
# means the human CIFAR-10N labels; they need a CIFAR-10 copy on disk and are skipped without one.

# %% tags=["remove-cell"]
# Set-up on a fresh Colab runtime (does nothing elsewhere): fetch the repository, with the package and
# its committed results, install it, and work from its root. REPOSITORY is _config.yml's
# repository.url; scripts/set_repository.py changes both.
import os
import subprocess
import sys

REPOSITORY = "https://github.com/tad-companion/tad"
if "google.colab" in sys.modules:
    if not os.path.isdir("tad-repository"):
        cloned = subprocess.run(
            ["git", "clone", "--depth", "1", REPOSITORY, "tad-repository"], capture_output=True, text=True
        )
        if cloned.returncode != 0:
            raise RuntimeError(
                f"could not clone {REPOSITORY} ({cloned.stderr.strip()}); set REPOSITORY to the "
                "published repository (see the book's Reproduce page)."
            )
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "./tad-repository"], check=True)
    os.chdir("tad-repository")

# %% tags=["parameters", "hide-cell"]
rate = 0.4  # flip probability of the synthetic noise models
noise_seed = 0  # seed of the label corruption
data_root = None  # a CIFAR-10 folder (with CIFAR-10_human.pt nearby); None: the embedded digits
real_labels = "worse"  # which CIFAR-10N label set: aggre, rand1, rand2, rand3 or worse
train_per_class = 1000  # CIFAR-10 images per class to load (the digits are always loaded whole)
out_dir = None  # if set, the key numbers are written to <out_dir>/01_noise.json

# %% tags=["hide-cell"]
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from tad.config import DataConfig, NoiseConfig
from tad.data import load_dataset
from tad.noise import apply_noise
from tad.plots import per_class_rate_bars, transition_heatmaps

# %% [markdown]
# ## The data
#
# Without a data root we use the 1,347 training images of the embedded digits set; with one, a
# class-balanced CIFAR-10 subset. Only the *clean labels* matter here; the images are not used.

# %%
if data_root is None:
    data = load_dataset(DataConfig(dataset="digits"))
else:
    data = load_dataset(DataConfig(dataset="cifar10", data_root=data_root, train_per_class=train_per_class))
clean = data.train_labels
num_classes = data.num_classes
print(f"{data.name}: {len(clean)} training labels, {num_classes} classes")

# %% [markdown]
# ## Requested and realised noise
#
# `apply_noise` draws one noisy label per sample from its row of the requested matrix and reports the
# matrix it actually produced. *Symmetric* noise spreads a flipped label uniformly over the other
# classes. *Asymmetric* noise flips between semantically close classes (on CIFAR-10: truck to
# automobile, bird to airplane, deer to horse, cat and dog both ways; on the digits: 2 to 7, 3 to 8,
# 5 and 6 both ways, 7 to 1). Only half the classes are flipped, so the overall rate is about half of
# `rate`. *Pair-flip* noise sends every class $c$ to $c+1$.

# %%
reports = {}
for kind in ("symmetric", "asymmetric", "pairflip"):
    config = NoiseConfig(kind=kind, rate=rate, seed=noise_seed)
    _, reports[kind] = apply_noise(config, data.name, clean, num_classes)

# %% [markdown]
# The expected rate of a draw is $\frac{1}{N}\sum_n (1 - P_{y^*_n y^*_n})$; the realised one differs from
# it only by sampling noise, which shrinks as $1/\sqrt{N}$.

# %%
expected = {
    kind: float(np.mean(1.0 - np.diag(r.requested_matrix)[clean.numpy()])) for kind, r in reports.items()
}
table = pd.DataFrame(
    {
        kind: {"requested rate": r.requested_rate, "expected": expected[kind], "realised": r.realised_rate}
        for kind, r in reports.items()
    }
).T
table.round(4)

# %% [markdown]
# Each pair of heatmaps shows the requested matrix and the realised one side by side. Rows are the true
# class, columns the label the training set ends up with.

# %%
for kind, report in reports.items():
    fig = transition_heatmaps(
        {f"{kind}: requested": report.requested_matrix, f"{kind}: realised": report.realised_matrix},
        data.class_names,
    )
    plt.show()

# %% [markdown]
# ## Real-world noise: CIFAR-10N
#
# The CIFAR-10N files hold labels given by human annotators to the 50,000 CIFAR-10 training images.
# There is no requested matrix; the realised one shows which confusions people make. `apply_noise`
# checks that the file's clean labels match the images we loaded before using it.

# %%
if data_root is None:
    print("No data_root given: the CIFAR-10N part is skipped (pass data_root=<a CIFAR-10 folder>).")
else:
    real_config = NoiseConfig(kind="real", real_labels=real_labels)
    _, reports[f"CIFAR-10N {real_labels}"] = apply_noise(
        real_config, "cifar10", clean, num_classes, data_root=data_root, indices=data.train_indices
    )
    real = reports[f"CIFAR-10N {real_labels}"]
    print(f"CIFAR-10N '{real_labels}': realised rate {real.realised_rate:.4f}")
    fig = transition_heatmaps({f"CIFAR-10N {real_labels}: realised": real.realised_matrix}, data.class_names)
    plt.show()

# %% [markdown]
# ## Which classes are hit
#
# The per-class rate is the share of each true class whose label was changed. Symmetric and pair-flip
# noise hit every class alike; asymmetric noise leaves half the classes clean and hits the others at
# the full `rate`. Human noise (CIFAR-10N, when shown) is uneven as well, and its errors fall mostly on
# look-alike classes. Classes hit this differently are one reason for TAD's class-wise thresholds.

# %%
fig = per_class_rate_bars({kind: r.per_class_rate for kind, r in reports.items()}, data.class_names)
plt.show()

# %% tags=["remove-cell"]
# Not shown in the book: the key numbers, for tests/test_notebooks.py.
if out_dir is not None:
    summary = {
        "dataset": data.name,
        "num_samples": len(clean),
        "noise": {
            kind: {
                "realised_rate": r.realised_rate,
                "requested_rate": r.requested_rate,
                "expected_rate": expected.get(kind),
                "per_class_rate": r.per_class_rate.tolist(),
            }
            for kind, r in reports.items()
        },
    }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    Path(out_dir, "01_noise.json").write_text(json.dumps(summary, indent=1))
