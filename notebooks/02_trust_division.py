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
# # Trust division: the outer loop
#
# TAD's outer loop splits the noisy training set into a *trusted* and an *untrusted* space and trains
# on the trusted one. Following the summaries of the paper, the split comes from a class-wise Gaussian
# mixture on per-sample losses. Our default (a reconstruction, chosen on noisy validation splits of
# CIFAR-10; see the [method page](../book/method.md)) keeps the per-sample losses but decides *how many*
# samples of a class to trust from an estimate of the class's share of wrong labels, taken from two
# plainly trained networks; the mixture is the alternative (`trust.sizing="mixture"`).
#
# This notebook estimates those shares, trains one trust-aware expert on noisy labels and opens up its
# first division: the loss distribution of every class with its trusted range, beside the mixture the
# alternative would fit. It then measures the trusted space against the true labels and follows it over
# the epochs.

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
seed = 0  # seed of the expert and of the divisions
device = "auto"
out_dir = None  # if set, the key numbers are written to <out_dir>/02_trust_division.json

# %% tags=["hide-cell"]
import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch

from tad.context import prepare_data
from tad.device import resolve_device
from tad.diversion import trust_diagnostics
from tad.evidence import class_evidence
from tad.plots import loss_mixture_panels, trusted_space_plot
from tad.replay import estimate_rates, replay_config, replay_division, train_recorded_expert
from tad.trust import divide, fit_class_gmms, normalise_losses

# %% [markdown]
# ## Data, noise and configuration
#
# A preset fixes the compute scale (data preparation, network, epochs); `replay_config` puts the noise
# on top of it. `prepare_data` loads the images and corrupts the training labels.

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
print(f"{len(noisy)} training images, {100 * nd.noise.realised_rate:.1f}% of labels wrong ({noise} noise)")
earliest, latest = (
    config.trust.warmup_epochs(config.expert.epochs),
    config.trust.latest_start(config.expert.epochs),
)
print(f"expert: {config.expert.epochs} epochs; the first division comes after {earliest} to {latest} of them")

# %% [markdown]
# ## How much of each class to trust
#
# Two networks train plainly on the noisy labels (in a full run they are the vanilla arm's first two
# experts). Each is read by its snapshot ensemble, the mean softmax of its last five checkpoints
# (`trust.rate_snapshots`), which steadies a reading that moves from one epoch to the next. Confident
# learning on the two networks' mean prediction counts, for each label, the share of its
# samples that the networks confidently place in another class; the share their own errors explain,
# read from how often the two agree, is taken out. The true share of wrong labels is shown beside the
# estimate; the estimate never reads it.

# %%
estimate = estimate_rates(nd, config, device=device)
rates = estimate.rates
pd.DataFrame(
    {
        "estimated share of wrong labels": rates.numpy(),
        "uncorrected estimate": estimate.raw.numpy(),
        "true share": [float((clean[noisy == c] != c).float().mean()) for c in range(num_classes)],
    },
    index=names,
).round(3).T

# %%
agreement, error = estimate.agreement, estimate.error
print(f"the two networks agree on {agreement:.3f} of the samples: one errs on about {error:.3f}")

# %% [markdown]
# ## One trust-aware expert
#
# The expert trains on every sample until its training loss has fallen 10% below $\ln C$ (within the
# bounds printed above). From then on, at the start of every epoch it
# scores all samples, divides them (outer loop), recalls reliable untrusted samples with pseudo-labels
# (inner loop, next notebook), and trains on the trusted space plus a consistency term over all samples.
# The clean labels are passed only to record diagnostics; `train_recorded_expert` keeps the parameters
# after every epoch, so we can go back to any of them.

# %%
run = train_recorded_expert(nd, config, device=device, noise_rates=rates)

# %% [markdown]
# ## The first division, class by class
#
# The first division comes when every label is still the observed one. We restore the expert's
# parameters from that moment, score all samples and repeat the outer step (`replay_division`). Each
# panel shows one class of observed labels: the min-max normalised losses of samples whose label is
# right (blue) and wrong (orange), and in green the range of losses the division trusts: the
# $1 - \hat\eta_c$ share of the class with the lowest losses. The black curves are the two components
# of the mixture that the alternative division (`sizing="mixture"`) would fit to the same losses.

# %%
warmup = next(i for i, h in enumerate(run.history) if h["divided"])  # plain epochs before the first division
print(f"first division after {warmup} epochs (mean training loss {run.history[warmup - 1]['loss']:.2f})")
scores, first = replay_division(run, warmup, nd, config, noise_rates=rates)
fits = fit_class_gmms(scores.losses, noisy, num_classes, config=config.trust, seed=seed)
normalised = normalise_losses(scores.losses, noisy, num_classes, per_class=config.trust.classwise_gmm)
cuts = [float(normalised[(noisy == c) & first.trusted].max()) for c in range(num_classes)]
fig = loss_mixture_panels(
    normalised.numpy(),
    noisy.numpy(),
    (noisy == clean).numpy(),
    fits,
    first.thresholds.numpy(),
    names,
    cuts=cuts,
)
plt.show()

# %% [markdown]
# By the first division, wrongly labelled samples tend to have higher losses than right ones: a network
# learns the label that most samples of a class share before it memorises the flipped ones. In most
# classes they form the high-loss component; where the two groups overlap, the division is poor, and
# the later epochs have to make up for it. The sized division cuts each class where its estimated share
# of wrong labels says; the mixture would instead decide the size from the shape of the losses, after a
# test of whether they show noise at all (the table below, for the mixture only), with a threshold
# $\tau_c$ per class.

# %%
evidence = class_evidence(
    scores.losses, noisy, num_classes, config=config.trust, seed=seed, predictions=scores.probs.argmax(1)
)
pd.DataFrame(
    {
        "separation D": [e.separation for e in evidence],
        "high component's loss / ln C": [e.high_loss / math.log(num_classes) for e in evidence],
        "high component's loss / a right label's": [e.high_loss / e.right_loss for e in evidence],
        "split": [e.split for e in evidence],
        "τ_c": first.thresholds.numpy(),
        "wrong labels in the class": [
            float((clean[noisy == c] != c).float().mean()) for c in range(num_classes)
        ],
    },
    index=names,
).round(3).T

# %% [markdown]
# ## How good is the trusted space?
#
# *Precision* is the share of trusted samples whose current label is right, and *recall* the share of
# correctly labelled samples that are trusted. Before any division the whole noisy set is trusted, so its
# precision is one minus the noise rate. We compare it with the first division alone and with the
# trusted space the expert ends with, after every epoch's division and recall.

# %%
quality = {
    "all data, noisy labels": {
        "precision": 1.0 - nd.noise.realised_rate,
        "recall": 1.0,
        "trusted_fraction": 1.0,
    },
    "first division": trust_diagnostics(first, noisy, clean, num_classes),
    "first division, the mixture's instead": trust_diagnostics(
        divide(
            scores.losses,
            noisy,
            torch.zeros_like(noisy, dtype=torch.bool),
            num_classes,
            config=config.trust,
            seed=seed,
            predictions=scores.probs.argmax(dim=1),
        ),
        noisy,
        clean,
        num_classes,
    ),
    "final trusted space": trust_diagnostics(run.state.split, noisy, clean, num_classes),
}
pd.DataFrame(quality).T[["precision", "recall", "trusted_fraction"]].astype(float).round(3)

# %%
final = quality["final trusted space"]
print(f"recalled with a pseudo-label: {final['recalled_size']} samples of the final trusted space")
if final["pseudo_label_accuracy"] is not None:
    print(f"pseudo-labels that are right: {100 * final['pseudo_label_accuracy']:.1f}%")

# %% [markdown]
# ## The trusted space over the epochs
#
# Until the first division everything is trusted, wrong labels included. At the first division the trusted
# space shrinks to each class's estimated share of right labels; afterwards the inner loop recalls
# untrusted samples with pseudo-labels, which adds them to the class of their pseudo-label, and the
# trusted space grows by the share of them that class trusts.

# %%
fig = trusted_space_plot(run.history)
plt.show()

# %% tags=["remove-cell"]
# Not shown in the book: the key numbers, for tests/test_notebooks.py.
if out_dir is not None:
    summary = {
        "noise_rate": nd.noise.realised_rate,
        "noisy_precision": 1.0 - nd.noise.realised_rate,
        "warmup_epochs": warmup,
        "first": quality["first division"],
        "final": final,
        "thresholds": first.thresholds.tolist(),
        "rates": rates.tolist(),
        "true_rates": [float((clean[noisy == c] != c).float().mean()) for c in range(num_classes)],
        "history": run.history,
    }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    Path(out_dir, "02_trust_division.json").write_text(json.dumps(summary, indent=1))
