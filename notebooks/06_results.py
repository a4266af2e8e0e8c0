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
# # Results on CIFAR-10 (CPU scale)
#
# Every number on this page is read from the results files committed under `results/`, and every table
# names the command that produced it. None of them is the paper's: its tables could not be retrieved, and
# our runs are at a much smaller scale than its (see *The protocol* below). What they can show is whether
# the reconstructed method does what the paper claims, improve existing distillation methods under
# symmetric, asymmetric and real-world label noise, and where it does not.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the package first
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/tad-companion/tad"],
        check=True,
    )

# %% tags=["parameters"]
results_dir = "results"  # where the committed results files live (relative to the repository root)
preset = "cifar10-cpu"
out_dir = None  # if set, the key numbers are written to <out_dir>/06_results.json

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from tad.presets import get_preset
from tad.reproduce import read_results
from tad.results import (
    ablation_table,
    accuracy_table,
    exact_accuracy_table,
    grid_frame,
    high_noise_table,
    provenance_table,
    target_checks,
    trust_table,
)

results = Path(results_dir)
main = read_results(results / f"{preset}-main.jsonl")
ablations = read_results(results / f"{preset}-ablations.jsonl")
high_noise = read_results(results / f"{preset}-high-noise.jsonl")
selection_file = results / f"{preset}-selection.json"
selection = json.loads(selection_file.read_text()) if selection_file.exists() else None
print(f"{len(main)} main rows, {len(ablations)} ablation rows, {len(high_noise)} high-noise rows")

# %% [markdown]
# ## The protocol
#
# The `cifar10-cpu` preset is sized so that one noise setting (random real images, vanilla, TAD and clean,
# for both DM and DATM) runs on a 2-core CPU in minutes rather than days (40% symmetric noise, run alone
# with every expert trained afresh, took 12.8 minutes; see *Where each row came from*):

# %%
config = get_preset(preset)
e, tm = config.expert, config.tm
protocol = {
    "training images": f"{10 * config.data.train_per_class} (a class-balanced subset of CIFAR-10, seeded)",
    "test images": "all 10,000 (see the note on the local copy below)",
    "network": f"ConvNet, depth {config.model.depth}, width {config.model.width} (reference: 128)",
    "images per class (IPC)": config.ipc,
    "experts per kind": f"{e.num_experts} x {e.epochs} epochs, SGD lr {e.lr}",
    "DM": f"{config.dm.iterations} iterations, {config.dm.batch_real} real images per class",
    "DATM": f"{tm.iterations} iterations, {tm.syn_steps} student steps, batch {tm.batch_syn}",
    "evaluation": f"{config.eval.num_eval} ConvNets x {config.eval.epochs} epochs per synthetic set",
}
pd.Series(protocol, name="cifar10-cpu").to_frame()

# %% [markdown]
# The local CIFAR-10 copy has an exact training set, but only test images 0–999 are exact; images
# 1000–9999 were rebuilt from JPEG copies, which costs a network one to four points of accuracy (see the
# copy's README). We therefore report, next to the accuracy on all 10,000 test images, the accuracy on
# the exact subset 0–999.
#
# ## How TAD's hyper-parameters were chosen
#
# On a validation split carved from the training subset with the *noisy* labels, as a user would have
# it, never on the test set: each candidate trains a trust-aware expert on the rest and is scored by its
# agreement with the held-out noisy labels. The winner became the default of `TrustConfig` and
# `RecalibConfig`, and serves every setting and dataset below.

# %%
if selection is not None:
    rows = {
        (setting, s["name"]): {
            "noisy-label validation accuracy": s["noisy_val_accuracy"],
            "clean validation accuracy (not used)": s["clean_val_accuracy"],
        }
        for setting, scores in selection["settings"].items()
        for s in scores
    }
    print("command:", " ".join(selection["command"]), "\nchosen:", selection["chosen"])
    display(pd.DataFrame(rows).T.round(2))  # noqa: F821

# %% [markdown]
# ## Main results
#
# Test accuracy (%) of ConvNets trained on each synthetic set, mean ± standard deviation over the
# evaluation networks. Columns are noise settings; "asymmetric" flips the CIFAR-10 pairs
# truck→automobile, bird→airplane, deer→horse and cat↔dog with the given probability (so about half that
# share of all labels is wrong); CIFAR-10N are the human labels of Wei et al. (2022).

# %%
frame = grid_frame(main)
print("command:", " ".join(main[0]["command"]) if main else "(no results yet)")
accuracy_table(frame)

# %% [markdown]
# The same, on the exact test images 0–999:

# %%
exact_accuracy_table(frame)

# %%
sweep = frame[frame["kind"].isin(["clean", "symmetric", "asymmetric"])].copy()
sweep["noise"] = sweep["kind"].replace({"clean": None})
curves = []
for kind in ("symmetric", "asymmetric"):
    part = sweep[(sweep["kind"] == kind) | (sweep["kind"] == "clean")].copy()
    part["noise type"] = kind
    curves.append(part)
curves = pd.concat(curves)
grid = sns.relplot(
    data=curves,
    x="rate",
    y="acc_mean",
    hue="arm",
    style="arm",
    col="method",
    row="noise type",
    kind="line",
    markers=True,
    height=2.8,
    aspect=1.3,
    hue_order=["random", "vanilla", "tad", "clean"],
    style_order=["random", "vanilla", "tad", "clean"],
)
grid.set_axis_labels("noise rate", "test accuracy (%)")
plt.show()

# %% [markdown]
# ## Does TAD do what the paper claims?
#
# The targets we set ourselves before running the grid: for both DM and DATM, TAD beats vanilla by at
# least 3 points under 40% asymmetric noise, beats it under 40% symmetric noise and CIFAR-10N rand1, and
# is nowhere worse than vanilla by more than one standard deviation. A miss is reported as a miss.

# %%
checks = target_checks(frame)
checks

# %% [markdown]
# TAD's gain over vanilla in each setting, and the same gain minus its gain on the clean labels (the
# part of the improvement that has to do with label noise at all; see below):

# %%
if not checks.empty:
    gains = checks["TAD − vanilla"].unstack(0)
    gains = gains.loc[[s for s in gains.index if s != "clean"]]
    beyond = gains - checks["TAD − vanilla"].unstack(0).loc["clean"]
    display(pd.concat({"TAD − vanilla": gains, "minus the gain on clean labels": beyond}, axis=1).round(2))  # noqa: F821

# %% [markdown]
# ## What the grid says
#
# **DM.** TAD beats vanilla DM in every setting, and every target is met. Part of that gain, though,
# has nothing to do with wrong labels: on the clean labels DM on TAD's trusted space also beats DM on
# all the data, by 2.9 points, and DM + TAD is above DM with the clean labels in most noisy settings.
# At this scale distribution matching profits from leaving out the third of the data with the highest
# losses, wrong label or not (the trusted fraction stays near two thirds in every setting, see the
# trusted-space table below). What TAD adds *against noise* is the second block of the table above:
# largest under heavy symmetric noise, a point or two under asymmetric noise, about nothing under
# CIFAR-10N.
#
# **DATM.** Vanilla DATM is robust at this scale: 20% symmetric or asymmetric noise costs it nothing
# against the clean labels. TAD helps it only under heavy symmetric noise (40% and 60%); it misses the
# 3-point target under 40% asymmetric noise (where the whole vanilla-to-clean gap is under 3 points),
# and it costs between half a point and two and a half points where noise is light, absent or real
# (CIFAR-10N): the trust-aware experts train on about two thirds of the data, and the trajectories of a
# network that saw less data are worth less to DATM than the wrong labels it avoided. These are misses
# of the targets we set, and we report them as such.
#
# A division that stops dividing a class whose losses are not bimodal (on clean data TAD still sets a
# third of the samples aside) is the obvious next step; like the other settings, it would have to be
# chosen on the noisy validation split, not on this table.

# %% [markdown]
# ## The trusted space
#
# Precision (share of trusted samples whose label is right) and recall (share of correctly labelled
# samples that are trusted) of the final trusted space, the consensus of the trust-aware experts, against
# the true labels, with the pseudo-label accuracy of recalled samples.

# %%
trust = trust_table(main)
trust

# %% [markdown]
# The last two columns show the inner loop at work, and at this scale it did not work at all: no
# untrusted sample reached the recall threshold γ = 0.9 in any setting. The reliability of a sample is
# the product of its Mahalanobis softmax confidence and its cosine similarity to the anchor, and the
# features of a width-32 ConvNet trained for 15 epochs on 5,000 noisy images are too diffuse for that
# product to reach 0.9. The threshold itself was chosen fairly (see the selection above): with γ = 0.8
# the runs differed, so samples were recalled, and validation accuracy on the noisy labels was lower in
# both noise settings. So on
# CIFAR-10 at CPU scale, "TAD" measures the outer loop and the consistency term; the inner loop's
# recall is seen at work on the digits (notebooks 3 and 4), where features separate the classes well.

# %%
if not trust.empty:
    print(
        "settings with at least one recall:",
        int((trust["recalls during training"] > 0).sum()),
        "of",
        len(trust),
    )

# %%
histories = []
for row in main:
    if row["method"] != "dm" or not row["trust"]["history"]:
        continue
    for h in row["trust"]["history"]:
        histories.append(
            {
                "setting": row["setting"],
                "epoch": h["epoch"],
                "trusted fraction": h["trusted_fraction"],
                "precision": h["precision"],
                "noise type": row["noise"]["kind"],
            }
        )
histories = pd.DataFrame(histories)
if not histories.empty:
    grid = sns.relplot(
        data=histories,
        x="epoch",
        y="trusted fraction",
        hue="setting",
        col="noise type",
        kind="line",
        height=2.8,
        aspect=1.2,
    )
    plt.show()

# %% [markdown]
# ## Ablations (40% symmetric and asymmetric noise)
#
# One change at a time, TAD arm only (vanilla and the full method come from the main grid):
#
# * **two-stage**: a static filter, one GMM division of a plainly trained model before distillation;
# * **outer-only**: the dynamic class-wise division, without consistency term or recall;
# * **outer+consistency**: plus the consistency term, still without recall;
# * **full**: the whole method (main grid);
# * **global-threshold**: one threshold τ for every class instead of class-wise dynamic ones;
# * **mahalanobis-only** / **cosine-only**: the inner loop's reliability from one measure instead of both.

# %%
ablation_table(ablations, main)

# %% [markdown]
# **What was run.** All six variants at 40% asymmetric and 40% symmetric noise, for both methods. The
# three variants that only touch the inner loop (mahalanobis-only, cosine-only, and outer+consistency,
# which switches it off) reproduce the full method to the last digit in all four cases: the inner loop
# recalled nothing at this scale (see the trusted-space section), so here they ablate nothing, and the
# full method is outer+consistency.
#
# **What they say.** For DM every variant of the division beats vanilla by 3.7 to 6.9 points, and the
# differences between the variants (up to 1.7 points either way) are at the scale of one to two standard
# deviations: most of the gain comes from dividing at all. The consistency term (outer-only against
# outer+consistency) is the one change with a visible sign, and the sign flips:
# it adds about a point for DM under asymmetric noise and costs 1.7 points under symmetric noise; for DATM
# it is the other way round. Class-wise thresholds do not beat a global one consistently at this scale.
# For DATM under asymmetric noise the static two-stage filter does best (+0.8 over vanilla), better than
# the full method: another sign that TAD's consistency term and its data budget, not the division itself,
# are what costs DATM here. We report these as measured; with three evaluation networks and one seed they
# rank the variants only roughly.

# %% [markdown]
# ## High noise: 80% symmetric
#
# The paper's grid stops below this; here the noisy labels are right for only one image in five.

# %%
high_noise_table(high_noise)

# %% [markdown]
# At 80% symmetric noise vanilla DM falls to chance (10%), and DM on TAD's trusted space keeps about 17%.
# The trusted space itself is hardly cleaner than the data (its precision is about 25% against 20%
# right labels), so what helps DM here is less the noise filtering than, again, dropping the samples
# with the highest losses. DATM degrades more gracefully on its own and TAD adds under a point.

# %% [markdown]
# ## Where each row came from
#
# Every row records its preset (the scale), the machine, the software and its wall time. All rows on
# this page were produced at the `cifar10-cpu` scale on a 2-core CPU, two settings at a time with one
# torch thread each; none was produced with a GPU preset. Rows from a GPU preset (`python -m tad
# reproduce --preset datm-cifar10-ipc10 ...`) go to their own file, `results/<preset>-<grid>.jsonl`,
# and would show their device here.

# %%
provenance_table(main + ablations + high_noise)

# %% [markdown]
# Minutes per row of the main grid, as they ran (one torch thread each, two rows side by side; experts
# are cached under `runs/experts/`, so the second method of a setting reuses the experts the first one
# trained):

# %%
if main:
    minutes = pd.DataFrame(
        [
            {"setting": r["setting"], "method": r["method"].upper(), "minutes": r["wall_time_s"] / 60}
            for r in main
        ]
    ).pivot(index="setting", columns="method", values="minutes")
    minutes["setting total"] = minutes.sum(axis=1)
    display(minutes.round(1))  # noqa: F821

# %% tags=["remove-cell"]
# Not shown in the book: the key numbers, for tests/test_notebooks.py.
if out_dir is not None:
    summary = {
        "main_rows": len(main),
        "settings": sorted(frame["setting"].unique().tolist()) if not frame.empty else [],
        "checks": checks.reset_index().to_dict(orient="records") if not checks.empty else [],
    }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    Path(out_dir, "06_results.json").write_text(json.dumps(summary, indent=1, default=str))
