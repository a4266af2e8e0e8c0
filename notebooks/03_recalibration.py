# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Recalibration: the inner loop
#
# The outer loop leaves an untrusted space of samples whose labels it does not believe. Many of them
# are good images with a wrong label. TAD's inner loop gives such samples a second chance: it scores
# how reliably each one belongs to some class, pseudo-labels the reliable ones and *recalls* them into
# the trusted space. The summaries of the paper name the ingredients (Mahalanobis distance to class
# anchors and cosine similarity); how they are combined here is our reconstruction, described on the
# [method page](../book/method.md).
#
# This notebook trains the same expert as the previous one and then looks at its first inner step in
# detail: how reliability separates right from wrong candidate labels, how the per-class cuts that the
# precision target $\gamma$ sets compare with one fixed cut, and where the anchors sit in feature space.

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
dataset = "digits"  # digits (embedded) or cifar10 (needs data_root)
data_root = None  # folder holding cifar-10-batches-py; not needed for digits
preset = None  # compute scale; None: the dataset's CPU preset (tad.presets)
noise = "symmetric"  # symmetric, asymmetric or pairflip
rate = 0.4
epochs = None  # expert epochs; None: the preset's
width = None  # ConvNet width; None: the preset's
noise_seed = 0  # seed of the label corruption
seed = 0  # seed of the expert, of the divisions and of the inner step
device = "auto"
out_dir = None  # if set, the key numbers are written to <out_dir>/03_recalibration.json

# %% tags=["hide-cell"]
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA

from tad.context import prepare_data
from tad.device import resolve_device
from tad.plots import feature_projection, recall_sweep_plot, reliability_histograms
from tad.recalibrate import (
    anchor_subspace,
    class_anchors,
    prepare_features,
    recalibrate,
    select_recalls,
    shared_covariance,
    whitening_matrix,
)
from tad.replay import estimate_rates, replay_config, replay_division, train_recorded_expert

# %% [markdown]
# ## The expert and its first recall
#
# As in the previous notebook, and with the same calls: each class's share of wrong labels estimated by
# two plain networks, then one trust-aware expert on noisy labels whose divisions it sizes, with its
# parameters kept after every epoch. The inner loop recalls nothing until its features have matured
# (below); we go back to the first epoch at which it recalled, and repeat that epoch's outer step
# *without* recall (`replay_division`). That gives the untrusted space the inner step worked on (with
# the latest losses and no earlier recall, the outer step depends only on the network of that epoch).

# %%
config = replay_config(
    dataset,
    preset,
    data_root=data_root,
    noise=noise,
    rate=rate,
    noise_seed=noise_seed,
    seed=seed,
    epochs=epochs,
    width=width,
)
device = resolve_device(device)
nd = prepare_data(config)
noisy, clean = nd.noisy_labels, nd.clean_labels
num_classes, names = nd.data.num_classes, nd.data.class_names
rates = estimate_rates(nd, config, device=device).rates
run = train_recorded_expert(nd, config, device=device, noise_rates=rates)

# %%
divided = [i for i, h in enumerate(run.history) if h["divided"]]
recalling = [i for i in divided if run.history[i]["newly_recalled"] > 0]
warmup = recalling[0] if recalling else divided[0]  # epochs trained before that step
scores, split = replay_division(run, warmup, nd, config, noise_rates=rates)
print(f"first division after {divided[0]} epochs; first recall after {warmup} epochs")
print(f"untrusted samples at that step: {int(split.untrusted.sum())}")

# %% [markdown]
# ## Reliability of the untrusted samples
#
# The inner loop keeps a fifth of the trusted space aside. From the rest it computes the class anchors
# (mean trusted feature of each class) and projects every feature onto the $C-1$ directions the anchors
# span. There, with one covariance shared by all classes, it measures the Mahalanobis distance $d_c$ to
# each anchor and the cosine similarity $s_c$. The candidate label is the nearest anchor; the
# reliability is $r = \mathrm{softmax}_c(-d_c^2/2T)[\hat y] \cdot \max(0, s_{\hat y})$, where the first
# factor is the class posterior of Gaussian classes (linear discriminant analysis) and the temperature $T$ is
# fitted on the held-out trusted samples. A candidate is eligible only if the cosine and the classifier
# agree with it.

# %%
recal = recalibrate(scores.features, scores.probs, split, num_classes, config=config.recalib, seed=seed)
untrusted = split.untrusted
eligible = untrusted & recal.agree
right = recal.candidates == clean
observed_right = noisy == clean
pd.Series(
    {
        "untrusted samples": int(untrusted.sum()),
        "of which the observed label is right": int((untrusted & observed_right).sum()),
        "eligible (measures agree)": int(eligible.sum()),
        "eligible with the right candidate": int((eligible & right).sum()),
    }
).to_frame("count")

# %% [markdown]
# Here "right" means that the *candidate* label equals the true label. In the run shown here most
# untrusted samples carry a wrong observed label, yet most eligible candidates are right, and the two
# groups separate by reliability: right candidates spread up to 1, wrong ones stay low. The dashed line is
# the median of the per-class cuts.

# %%
finite_cuts = recal.cuts[torch.isfinite(recal.cuts)]
median_cut = float(finite_cuts.median()) if finite_cuts.numel() else 1.0
fig = reliability_histograms(recal.reliability[eligible].numpy(), right[eligible].numpy(), gamma=median_cut)
plt.show()

# %% [markdown]
# ## Per-class cuts against one fixed cut
#
# A class's cut is the lowest reliability at which the held-out trusted samples whose candidate is that
# class still carry that label with probability $\gamma$ = 0.9; a class whose held-out samples never get
# there recalls nothing, and no class recalls anything until the nearest anchor names the held-out
# samples' labels with accuracy $\gamma$ (printed below; on CIFAR-10 at CPU scale it stays below 0.6,
# and the inner loop stays off). The table shows the cuts. The sweep below instead applies one cut to
# every class and ignores the cap on recalls per step (dotted line), to show the trade-off itself: a
# higher cut recalls fewer samples with more accurate pseudo-labels.

# %%
print(f"held-out accuracy of the nearest anchor (maturity): {recal.maturity:.3f}")
pd.Series(
    [float(c) for c in recal.cuts], index=list(names), name=f"cut at precision {config.recalib.gamma:g}"
).round(3).to_frame().T

# %%
gammas = np.round(np.linspace(0.3, 0.95, 14), 3)
everyone = int(untrusted.sum())
sweep = []
for gamma in gammas:
    chosen = select_recalls(recal.reliability, eligible, gamma=float(gamma), cap=everyone)
    accuracy = float(right[chosen].float().mean()) if chosen.any() else float("nan")
    sweep.append({"gamma": float(gamma), "recalled": int(chosen.sum()), "accuracy": accuracy})
sweep = pd.DataFrame(sweep)
cap = int(config.recalib.recall_cap * everyone)
fig = recall_sweep_plot(
    gammas, sweep["accuracy"].to_numpy(), sweep["recalled"].to_numpy(), gamma=median_cut, cap=cap
)
plt.show()

# %%
sweep.set_index("gamma").round(3).T

# %% [markdown]
# ## Anchors in feature space
#
# The features are centred on the trusted mean, normalised and projected onto the anchors' subspace, as
# the inner loop does, then whitened with the shared covariance, so that Euclidean distance is the
# Mahalanobis distance the loop uses. A PCA of the whitened trusted features gives the two axes. Trusted
# samples are coloured by their label, untrusted ones are grey, and the samples this step recalls are
# crosses in the colour of their pseudo-label; the stars are the class anchors.

# %%
z = prepare_features(scores.features, split.trusted, normalise=config.recalib.normalise_features)
anchors = class_anchors(z, split.labels, split.trusted, num_classes)
basis = anchor_subspace(anchors)
z, anchors = z @ basis, anchors @ basis
cov = shared_covariance(z, split.labels, split.trusted, anchors, shrinkage=config.recalib.shrinkage)
whiten = whitening_matrix(cov)
pca = PCA(n_components=2, random_state=seed).fit((z[split.trusted] @ whiten).numpy())
labels_now = np.where(recal.recalled.numpy(), recal.candidates.numpy(), split.labels.numpy())
fig = feature_projection(
    pca.transform((z @ whiten).numpy()),
    labels_now,
    split.trusted.numpy(),
    pca.transform((anchors @ whiten).numpy()),
    names,
    recalled=recal.recalled.numpy(),
)
plt.show()

# %% [markdown]
# Recalled samples lie close to an anchor, among trusted samples of the class they are given. A sample
# halfway between two anchors gets a flat posterior and hence a low reliability, so it stays untrusted
# until a later step, with better features, can place it.

# %% tags=["remove-cell"]
# Not shown in the book: the key numbers, for tests/test_notebooks.py.
if out_dir is not None:
    at_gamma = eligible & (recal.reliability >= recal.cuts[recal.candidates])
    summary = {
        "untrusted": int(untrusted.sum()),
        "eligible": int(eligible.sum()),
        "observed_label_accuracy_untrusted": float(observed_right[untrusted].float().mean()),
        "mean_reliability_right": float(recal.reliability[eligible & right].mean()),
        "mean_reliability_wrong": float(recal.reliability[eligible & ~right].mean()),
        "gamma": config.recalib.gamma,
        "accuracy_at_gamma": float(right[at_gamma].float().mean()),
        "recalled_this_step": int(recal.recalled.sum()),
        "recalled_accuracy": float(right[recal.recalled].float().mean()),
        "cap": cap,
        "sweep": sweep.to_dict(orient="list"),
    }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    Path(out_dir, "03_recalibration.json").write_text(json.dumps(summary, indent=1))
