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
# # Results on CIFAR-10 (CPU scale)
#
# Every number on this page is read from the results files committed under `results/`, and every table
# names the command that produced it. None of them is the paper's: its tables could not be retrieved, and
# our runs are at a much smaller scale than its (see *The protocol* below). What they can show is whether
# the reconstructed method does what the paper claims (divide the data into a trusted and an untrusted
# space, recalibrate and recall untrusted samples, and so improve existing distillers under label
# noise) and where it does not. The rows of our first reconstruction, before the method work of issue 8,
# are kept in `results/v1/`, and those made before untrusted samples were kept with soft targets (when
# they were dropped) in `results/v2/`; neither is read here. Rows made while each class's trusted space
# was decided by a mixture on its losses, before the division sized by an estimated noise rate became
# the default, are in `results/v4/`; this page reads its main grid to compare the two divisions. The main
# grid and the second seed made while the noise-rate estimate read the final networks alone, before the
# snapshot ensembles became the default, are in `results/v5/`; this page reads them for the same purpose.
# The grids made while every division read an evaluation pass over the training data (`trust.scoring =
# "pass"`), before the training pass's own losses became the default, are in `results/v6/`; this page
# reads their main grid and second seed to compare the two (the ablations and the factorial diagnosis of
# that default are kept there too, and not read).

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
results_dir = "results"  # where the committed results files live (relative to the repository root)
preset = "cifar10-cpu"
out_dir = None  # if set, the key numbers are written to <out_dir>/06_results.json

# %% tags=["hide-cell"]
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import display

from tad.plots import peer_division_plot
from tad.presets import get_preset
from tad.reproduce import made_alike, read_results, settings_since
from tad.results import (
    ablation_table,
    ablation_trust_table,
    accuracy_table,
    exact_accuracy_table,
    grid_frame,
    grid_sentences,
    high_noise_table,
    locate,
    provenance_table,
    required_file,
    seed_table,
    trust_table,
)
from tad.study_tables import (
    diagnosis_sentences,
    diagnosis_table,
    evidence_by_class,
    factorial_effects,
    joint_selection,
    noise_rate_table,
    paired_differences,
    peer_division_epochs,
    peer_division_table,
    recall_sentences,
    recall_table,
    selection_by_setting,
    selection_sentences,
    selection_table,
    separability_frame,
    separability_sentences,
    separability_table,
    sizing_table,
)
from tad.targets import issue_targets, targets_side_by_side

# the committed results of the repository, found from the repository root or from notebooks/
results = locate(results_dir)
data = f"--preset {preset} --data-root ../shared/data/cifar10"


def rows(name: str, command: str) -> list[dict]:
    """The rows of a results file; a missing file is an error naming the command that produces it."""
    return read_results(required_file(results, name, f"python -m tad {command}"))


def document(name: str, command: str) -> dict:
    return json.loads(required_file(results, name, command).read_text())


# The later selections compare candidates on the same three settings, with DM's and DATM's distilled sets.
SELECTION_SETTINGS = "pairflip-40,clean,symmetric-40"
NOT_USED = {
    "trusted_fraction": "trusted share of the experts' consensus (not used to choose):",
    "trusted_precision": "its precision (not used to choose):",
    "clean_val_accuracy": "accuracy on the validation split's clean labels (not used to choose):",
}


def selection_pair(candidates: str) -> tuple[dict, dict]:
    """DM's and DATM's selection files of one candidate set (``--candidates``)."""
    options = f"--seeds 3 --candidates {candidates} --settings {SELECTION_SETTINGS}"
    return (
        document(f"{preset}-selection-{candidates}.json", f"python -m tad select {data} {options}"),
        document(
            f"{preset}-selection-{candidates}-datm.json",
            f"python -m tad select {data} --method datm {options}",
        ),
    )


def show_selection(payload: dict, baseline: str, measures: tuple[str, ...] = ("trusted_fraction",)):
    """One distiller's selection: its command, scores by setting, the clean-label measures beside them
    (which chose nothing), the sentences, and each candidate's paired difference from ``baseline``."""
    print("command:", " ".join(payload["command"]))
    display(selection_by_setting(payload))
    for measure in measures:
        print(NOT_USED[measure])
        display(selection_by_setting(payload, measure))
    print("\n".join(selection_sentences(payload)))
    return paired_differences(payload, baseline)


def show_rerun(before: list[list[dict]], after: list[list[dict]], names: tuple[str, str]):
    """A grid run again with another default beside its rows before (main grid first, then its other
    seeds): seed 0 row by row, and the targets of both with the other seeds' gains averaged in."""
    display(sizing_table(before[0], after[0], names))
    return targets_side_by_side(*(issue_targets(g[0], other_seeds=g[1:]) for g in (before, after)), names)


def show_joint_selection(dm: dict, datm: dict, baseline: str):
    """DATM's selection beside DM's, and the choice by the joint rule (the mean of the two means)."""
    print("command:", " ".join(datm["command"]))
    display(selection_by_setting(datm))
    display(paired_differences(datm, baseline))
    return joint_selection({"DM": dm, "DATM": datm})


main = rows(f"{preset}-main.jsonl", f"reproduce {data} --grid main")
diagnosis = rows(f"{preset}-diagnosis.jsonl", f"diagnose {data}")
ablations = rows(f"{preset}-ablations.jsonl", f"reproduce {data} --grid ablations")
selection = document(
    f"{preset}-selection-untrusted.json",
    f"python -m tad select {data} --settings symmetric-40,pairflip-40 --seeds 3 --candidates untrusted",
)
evidence_selection = document(
    f"{preset}-selection-evidence.json",
    f"python -m tad select {data} --settings symmetric-40,pairflip-40,clean,asymmetric-40,cifar10n-aggre "
    "--candidates evidence",
)
evidence_selection_datm = document(
    f"{preset}-selection-evidence-datm.json",
    f"python -m tad select {data} --method datm --settings symmetric-40,pairflip-40,clean,asymmetric-40,"
    "cifar10n-aggre --candidates evidence",
)
trajectory_selection = document(
    f"{preset}-selection-trajectories.json",
    f"python -m tad select {data} --method datm --settings pairflip-40,symmetric-40,clean --candidates "
    "trajectories",
)
sizing_selection, sizing_selection_datm = selection_pair("sizing")
# the main grid's rows made with the mixture's division (the default before the sized one)
mixture_main = rows(
    f"v4/{preset}-main.jsonl",
    f"reproduce {data} --grid main --set trust.sizing=mixture --results <this file>",
)
# the main grid's rows and the second seed's made with the final networks' noise-rate estimate
# (trust.rate_snapshots=1, the default before the five snapshot ensembles)
final_network_main = rows(
    f"v5/{preset}-main.jsonl",
    f"reproduce {data} --grid main --set trust.rate_snapshots=1 --results <this file>",
)
final_network_seed1 = rows(
    f"v5/{preset}-main-seed1.jsonl",
    f"reproduce {data} --grid main --seed 1 --set trust.rate_snapshots=1 --results <this file>",
)
# the main grid's rows and the second seed's made with an evaluation pass before each division
# (trust.scoring=pass, the default before the training pass's own losses)
pass_main = rows(
    f"v6/{preset}-main.jsonl", f"reproduce {data} --grid main --set trust.scoring=pass --results <this file>"
)
pass_seed1 = rows(
    f"v6/{preset}-main-seed1.jsonl",
    f"reproduce {data} --grid main --seed 1 --set trust.scoring=pass --results <this file>",
)
earlier_selection = document(f"{preset}-selection.json", "an earlier protocol; see its section")
recall = document(
    f"{preset}-recall.json",
    f"python -m tad diagnose --recall {data} --settings clean,pairflip-20,pairflip-40,symmetric-40",
)
separability = document(
    f"{preset}-separability.json",
    f"python -m tad diagnose --separability {data} --settings clean,symmetric-20,symmetric-40,symmetric-60,"
    "pairflip-20,pairflip-40,cifar10n-aggre,asymmetric-40",
)
seed1 = rows(f"{preset}-main-seed1.jsonl", f"reproduce {data} --grid main --seed 1 --results <this file>")
ipc50 = rows(f"{preset}-main-ipc50.jsonl", f"reproduce {data} --grid main --ipc 50 --results <this file>")
long_datm = rows(f"{preset}-long.jsonl", f"reproduce {data} --grid long --methods datm")
high_noise = rows(f"{preset}-high-noise.jsonl", f"reproduce {data} --grid high-noise")
gpu_rows = [row for path in sorted(results.glob("*-papermill.jsonl")) for row in read_results(path)]
digits = {
    f"{noise}0.4-{method}": document(
        f"digits-{noise}0.4-ipc10-{method}-s0.json",
        f"python -m tad run --dataset digits --noise {noise} --rate 0.4 --method {method} --ipc 10, "
        "then copy the run's results.json to that name",
    )
    for noise in ("symmetric", "pairflip")
    for method in ("dm", "datm")
}
benchmarks = locate("benchmarks/results")
overhead = json.loads(required_file(benchmarks, "overhead.json", "python benchmarks/overhead.py").read_text())
print(
    f"{len(main)} main rows (seed 0), {len(seed1)} of seed 1, {len(ipc50)} at IPC 50, {len(long_datm)} long "
    f"DATM rows, {len(diagnosis)} diagnosis rows, {len(ablations)} ablation rows, {len(high_noise)} rows at "
    "80% noise"
)

# %% [markdown]
# ## The protocol
#
# The `cifar10-cpu` preset is sized so that one noise setting (random real images, vanilla, TAD and
# clean, for both DM and DATM) runs on a 2-core CPU in minutes rather than days:

# %% tags=["hide-input"]
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
# Vanilla, TAD and clean experts share their random streams (expert $k$ of every kind starts from the same
# weights and sees the same batches and augmentations), every arm of a setting distils from the same
# random stream (so an arm whose data and labels equal another's gives the same synthetic set) and is
# evaluated on the same networks: the differences between arms in one column are paired comparisons. In
# our first reconstruction each arm had its own stream, so part of every difference between arms was
# the luck of the draw.
#
# ## How TAD's open choices were settled
#
# On data a user has: labels that may be wrong. The validation split is 500 images per class of the
# 45,000 CIFAR-10 training images the preset's subset leaves out, with labels noised by an independent
# draw of the same process. Each candidate runs the whole pipeline on the training subset (trust-aware
# experts, their trusted space, DM), and networks trained on its distilled set are scored on the
# validation split's *noisy* labels, over three seeds and two noise settings, every candidate with the
# same random numbers as the others. The clean-label accuracy and the trusted space's precision are
# shown for the reader and played no part in the choice. The candidates: drop the untrusted samples, or
# keep them with a target that mixes label and prediction by their clean-probability (and DM weights in
# the class means).

# %% tags=["hide-input"]
print("command:", " ".join(selection["command"]))
selection_table(selection)

# %% tags=["hide-input"]
print("\n".join(selection_sentences(selection)))

# %% [markdown]
# The same protocol then settled the evidence test's ratio criterion (`trust.evidence_ratio`): besides
# the level ln C, a class's high loss component may count as wrong labels when it sits at least that many
# times above the median loss of the labels the network predicts. Candidates: off, 2 and 3. Settings:
# symmetric 40%, pair-flip 40% and clean labels (the clean setting guards against a test that splits
# clean classes), then asymmetric 40% (five classes receive wrong labels) and CIFAR-10N's aggregate human
# labels, added when DATM + TAD fell below vanilla DATM there in the main grid. Three seeds each, with
# common random numbers. First with DM's distilled sets:

# %% tags=["hide-input"]
print("command:", " ".join(evidence_selection["command"]))
selection_by_setting(evidence_selection)

# %% tags=["hide-input"]
print("\n".join(selection_sentences(evidence_selection)))
paired_differences(evidence_selection, "evidence_ratio=3.0")

# %% [markdown]
# Then with DATM's distilled sets (`--method datm`):

# %% tags=["hide-input"]
print("command:", " ".join(evidence_selection_datm["command"]))
selection_by_setting(evidence_selection_datm)

# %% tags=["hide-input"]
print("\n".join(selection_sentences(evidence_selection_datm)))
paired_differences(evidence_selection_datm, "evidence_ratio=3.0")

# %% [markdown]
# The experts' final trusted share under each candidate (the same experts serve both distillers; shown
# for the reader, it played no part in the choice), with the share of right labels in the same training
# subset (read from the main grid's rows) as the last line.

# %% tags=["hide-input"]
trusted_by_candidate = selection_by_setting(evidence_selection_datm, "trusted_fraction")
right_share = {r["setting"]: 1 - r["realised_noise_rate"] for r in main if r["method"] == "dm"}
trusted_by_candidate.loc["right labels"] = [right_share.get(s) for s in trusted_by_candidate.columns]
trusted_by_candidate.astype(float).round(2)

# %% [markdown]
# The two distillers disagree. DM's distilled sets score higher with the ratio at 3 in almost every
# setting, clean labels and the two added settings included: the ratio opens more classes, and DM gains
# from distilling the easier part of a class whether or not it holds wrong labels (the easiness effect the
# issue found on clean labels). DATM's score higher with the ratio off under asymmetric and CIFAR-10N
# labels, where the ratio sets aside 27–30% of the data although only 9–20% of the labels are wrong,
# and tie elsewhere. One configuration serves both distillers, so the rule, fixed before DM's scores on
# the two added settings were read, is the mean of the two distillers' means over the same five settings,
# each distiller counting once:

# %% tags=["hide-input"]
joint_selection({"DM": evidence_selection, "DATM": evidence_selection_datm})

# %% [markdown]
# The ratio 3 stayed the default of the mixture's division, and the margin is small: it is DM's
# preference, and DATM paid for it under asymmetric and CIFAR-10N labels (the mixture's main-grid rows,
# `results/v4/`, show the same). Neither candidate makes the test find the noise at this scale; the
# separability section below shows why, and the division sized by an estimated noise rate (below)
# replaced the mixture as the default.
#
# A second comparison asked which trajectories DATM should match: the dividing experts' own, or those of
# experts trained afresh on their final trusted space (`trust.trajectories`). Same protocol and settings,
# with DATM's distilled set scored (`--method datm`), three seeds each.

# %% tags=["hide-input"]
print("command:", " ".join(trajectory_selection["command"]))
selection_by_setting(trajectory_selection)

# %% tags=["hide-input"]
print("\n".join(selection_sentences(trajectory_selection)))
paired_differences(trajectory_selection, "trajectories=dividing")

# %% [markdown]
# The default stays `dividing`: run by run the retrained trajectories scored lower on the noisy labels
# in every setting's mean, by less than a point. The exploratory digits runs below had suggested the
# opposite under pair-flip noise; on CIFAR-10 the noisy validation split does not bear it out.

# %% [markdown]
# Two earlier choices, the evidence test and the loss average, were settled under an earlier protocol:
# a held-out share of the training subset itself, scored by one trust-aware expert's agreement with its
# noisy labels, three seeds, two settings, common random numbers. That selection also ran while the
# evidence test's optional ratio criterion (`evidence_ratio`, printed below) was on at 3; it was then
# switched off, because it split clean digits classes, until the comparison above chose it again.

# %% tags=["hide-input"]
print("command:", " ".join(earlier_selection["command"]))
print(
    "evidence_ratio during that selection:", earlier_selection["base_config"]["trust"].get("evidence_ratio")
)
selection_table(earlier_selection)

# %% [markdown]
# ## Main results
#
# Test accuracy (%) of ConvNets trained on each synthetic set, mean ± standard deviation over the
# evaluation networks. Columns are noise settings: "symmetric" moves a label to one of the other classes,
# "pairflip" moves class $c$ to $c+1$, "clean" keeps the true labels. Settings of the grid that are not
# listed have not been run with the current method yet (`python -m tad reproduce --grid main` runs them).

# %% tags=["hide-input"]
frame = grid_frame(main)
print("command:", " ".join(main[0]["command"]))
accuracy_table(frame)

# %% [markdown]
# The same, on the exact test images 0–999:

# %% tags=["hide-input"]
exact_accuracy_table(frame)

# %% [markdown]
# Setting by setting, read from the same rows:

# %% tags=["hide-input"]
print("\n".join(grid_sentences(main)))

# %% [markdown]
# What the rows cannot show is whether TAD's gains come from removing wrong labels or from keeping easy
# images: the trusted-space table below gives the precision of what TAD keeps, and the separability
# section asks how much of the noise any per-sample score could find at this scale.
#
# With the division sized by the estimated noise rate (the default since the comparison in
# *A trusted space sized by the estimate* below), read from five snapshot ensembles per network (the
# default since *Reading the noise rate from snapshot ensembles*), on the losses of the training pass
# itself (the default since *Scoring from an evaluation pass or from the training pass*), the trusted
# share follows the share of right labels from just below: 0.55 where 0.60 are right under symmetric 40%
# noise, 0.58 for 0.61 under pair-flip 40%, 0.42 for 0.40 under symmetric 60%, but 0.92 on clean labels
# and 0.72 for 0.80 under pair-flip 20% (the next table), where the estimate finds more noise than there
# is. DM + TAD is above vanilla DM in every setting (by 1.8 to 11.1 points), on clean labels too (+3.5):
# DM still gains from leaving out the hardest images of a class, which is not denoising. DATM + TAD is
# above vanilla DATM under pair-flip 40% (+3.4), symmetric 60% (+1.6), CIFAR-10N aggre (+1.0), pair-flip
# 20% (+0.8) and asymmetric 20% (+0.1), and below it on clean labels (-0.3), under symmetric 20% and 40%
# (-0.5, -0.8), CIFAR-10N rand1 (-0.7) and asymmetric 40% (-2.1). Apart from pair-flip 40% these
# differences are within the spread of DATM between seeds (about two points; the second seed's table
# below). The rows made with the evaluation pass, with the final networks' estimate and with the
# mixture's division before them are compared with these row by row below.

# %% tags=["hide-input"]
shares = trust_table(main)
print(
    f"trusted share across the settings: {shares['trusted fraction'].min():.2f} to "
    f"{shares['trusted fraction'].max():.2f}, where the share of right labels runs from "
    f"{shares['noisy labels right'].min():.2f} to {shares['noisy labels right'].max():.2f}"
)

# %% [markdown]
# ## The trusted space
#
# The final trusted space is the consensus of the trust-aware experts. Against the true labels: its
# share of the data next to the share of right labels, its precision (share of trusted samples whose
# label is right) and recall (share of right labels that are trusted), and the inner loop's activity.

# %% tags=["hide-input"]
trust_table(main)

# %% tags=["hide-input"]
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
            }
        )
histories = pd.DataFrame(histories).melt(
    id_vars=["setting", "epoch"], value_vars=["trusted fraction", "precision"], var_name="measure"
)
grid = sns.relplot(
    data=histories, x="epoch", y="value", hue="setting", col="measure", kind="line", height=2.8, aspect=1.3
)
plt.show()

# %% [markdown]
# ## Can a per-sample score find the noise at this scale?
#
# TAD divides by per-sample losses of its experts. How much of the noise could such a score find at all?
# For experts trained on all the noisy data (the vanilla experts of each setting), after every epoch:
# their accuracy on the training images against the true labels, and the ROC AUC with which four scores
# separate the truly clean from the mislabelled samples (0.5 is chance, 1 perfect): the loss, the loss
# averaged over the epochs so far, the margin of the given label, and the share of the 20 nearest
# neighbours (in the expert's features) that carry the same label. The last columns give the outer loop's
# per-class evidence test on the same losses (`python -m tad diagnose --separability`). This reads the
# clean labels, so it is a diagnosis only and chose nothing. Asymmetric 40% noise is the control on
# real images: it gives wrong labels to five classes (truck, bird, deer, cat, dog move to automobile,
# airplane, horse, dog, cat) and leaves the other five clean, so the evidence test should split the
# first five and trust the others whole.

# %% tags=["hide-input"]
print("command:", " ".join(separability["command"]))
separability_table(separability)

# %% [markdown]
# The evidence test class by class under asymmetric 40% noise, at the experts' last epoch (`split`: the
# share of the experts whose test splits the class), beside each class's true share of wrong labels:

# %% tags=["hide-input"]
controls = evidence_by_class(separability, "asymmetric-40")
noisy_classes = controls["wrong labels"] > 0
split_noisy, split_clean = (
    controls.loc[noisy_classes, "split"].sum(),
    controls.loc[~noisy_classes, "split"].sum(),
)
print(
    f"split: {split_noisy:.1f} of the {noisy_classes.sum()} classes with wrong labels, "
    f"{split_clean:.1f} of the {(~noisy_classes).sum()} without"
)
controls

# %% tags=["hide-input"]
curves = separability_frame(separability)
grid = sns.relplot(
    data=curves,
    x="epoch",
    y="AUC",
    hue="score",
    col="setting",
    col_wrap=3,
    kind="line",
    height=2.4,
    aspect=1.2,
)
for ax in grid.axes.flat:
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
plt.show()

# %% tags=["hide-input"]
print("\n".join(separability_sentences(separability)))

# %% [markdown]
# **What it says.** At this scale the experts are weak (a width-32 ConvNet, 5,000 images, 15 epochs; the
# accuracy column), so the signal any per-sample score carries is bounded: under pair-flip noise, where
# the network learns the systematic flip, no score separates clean from mislabelled samples well (the
# AUC columns and the curves), and on clean labels the evidence test still opens some classes (false
# alarms; the "classes split" column), though fewer than under noise. The asymmetric control says it
# plainly: at this scale the evidence test splits the classes without wrong labels as often as those with
# them, so it does not tell a noisy class from a hard one here. The controls of `tests/test_evidence.py`
# pass on synthetic losses, where wrong labels sit near the loss of a label the network rules out; the
# losses of these weak experts do not look like that.
#
# The sized-precision columns make the bound concrete. They give the precision of a division that
# is *told* how many labels of each class are right and trusts that many samples per class, the
# best-scored first (`tad.diagnose.sized_precision`; a diagnostic that reads the truth), at the true
# share and at the true share less 0.07, the low end of the targets' band. No threshold rule on the
# same score does much better at those shares, so where these columns fall below 0.9 the targets
# "share within ±0.07 of the right share" and "precision at least 0.9" cannot both be met by these
# experts, whatever the rule: the limit is the experts' signal, not the division's thresholds. The
# oracle arm of the diagnosis shows what a division that found the noise would be worth.

# %% [markdown]
# **Would better-trained experts see more?** The same diagnosis under symmetric and pair-flip 40% noise
# with stronger vanilla experts: trained 40 epochs instead of 15, with the preset's optimiser (learning
# rate 0.1, no momentum) and with momentum 0.9, learning rate 0.01 and weight decay 5e-4; and a ConvNet
# of width 128 instead of 32, trained the preset's 15 epochs. Each is a diagnosis only (it reads the clean
# labels) and none of these experts is used anywhere else:

# %% tags=["hide-input"]
stronger = {
    "40 epochs": ("40-epochs", "--set expert.epochs=40"),
    "40 epochs, momentum 0.9": (
        "40-epochs-momentum",
        "--set expert.epochs=40 --set expert.momentum=0.9 --set expert.lr=0.01 "
        "--set expert.weight_decay=0.0005",
    ),
    "width 128": ("width-128", "--set model.width=128"),
}
stronger_tables = {"preset (15 epochs, width 32)": separability_table(separability)}
for name, (suffix, options) in stronger.items():
    payload = document(
        f"{preset}-separability-{suffix}.json",
        f"python -m tad diagnose --separability {data} --settings pairflip-40,symmetric-40 {options}",
    )
    print(f"{name}:", " ".join(payload["command"]))
    stronger_tables[name] = separability_table(payload)
stronger_table = pd.concat(stronger_tables, names=["experts"]).reset_index()
columns = ["experts", "setting", "expert accuracy (true labels)", "AUC loss"]
columns += [c for c in stronger_table.columns if c.startswith("sized precision")]
stronger_table = stronger_table[stronger_table["setting"].isin(["pairflip-40", "symmetric-40"])][columns]
stronger_table.sort_values("setting", kind="stable").set_index(["setting", "experts"])

# %% [markdown]
# **What it says.** The stronger experts name the true class of more of their training images (under
# pair-flip 40%: 0.48 and 0.52 after 40 epochs, 0.45 at width 128, against 0.39 with the preset's), but
# the precision of a division told each class's number of right labels barely moves: 0.689 to 0.693
# under pair-flip 40% (0.689 with the preset's experts) and 0.813 to 0.832 under symmetric 40% (0.813),
# and the loss's AUC moves by less than 0.03. Neither three times the training nor four times the width
# lifts the bound of the previous table, so at this scale the division's precision is not limited by how
# long or how wide its experts are trained: a division that reached 0.9 here would need a signal other
# than the losses of networks trained on these labels. One seed each, on the same noisy labels.

# %% [markdown]
# ### Dividing by a peer's scores
#
# A network that divides by its own losses may keep trusting the wrong labels it has already learnt
# (confirmation bias, which the issue asked us to reduce if the diagnosis shows it). Co-teaching (Han et
# al. 2018) answers it with two networks that choose the small-loss samples for each other. `python -m
# tad diagnose --peer-division --preset cifar10-cpu --data-root ../shared/data/cifar10 --settings
# pairflip-40,symmetric-40` trains TAD experts 0 and 1 side by side twice, with the same random streams:
# once each dividing by its own training pass's scores (TAD as it is; these are the buffer's experts, to
# the digit), once by the other's (its losses taken against the expert's own labels; each expert keeps its
# own consistency targets and trust state). The division is sized by the same noise-rate estimate in both
# modes, so only the ranking within each class can change. It reads the clean labels to score the
# divisions and chose nothing; one seed.

# %% tags=["hide-input"]
peer = document(
    f"{preset}-peer-division.json",
    f"python -m tad diagnose --peer-division {data} --settings pairflip-40,symmetric-40",
)
print("command:", " ".join(peer["command"]))
display(peer_division_table(peer).round(3))
peer_division_plot(peer_division_epochs(peer))
plt.show()

# %% [markdown]
# **What it says.** The peer's scores change which samples are trusted but not how precise the trusted
# space is: at the end, 0.692 against 0.693 under pair-flip 40% and 0.821 against 0.821 under symmetric
# 40%, and epoch by epoch the two curves stay within 0.015 of each other. The two experts' trusted spaces
# overlap by only 0.70 to 0.73 (intersection over union) in either mode, so each does rank its class
# differently; but its peer's ranking is no more right than its own. The precision climbs slowly in both
# modes as the networks learn (0.65 to 0.69 under pair-flip 40%), instead of falling as it would if a
# division locked in its own mistakes: at this scale and over fifteen epochs there is little confirmation
# bias for an exchange to remove. Like longer training and wider networks above, it leaves the
# division's precision where the separability of the losses puts it.

# %% [markdown]
# The same diagnosis on the digits (`python -m tad diagnose --separability --preset digits --settings
# clean,symmetric-40,pairflip-40`), whose experts are strong, shows what each criterion of the evidence
# test responds to. Per class at the experts' last epoch, on clean labels and under 40% pair-flip noise:

# %% tags=["hide-input"]
digits_separability = document(
    "digits-separability.json",
    "python -m tad diagnose --separability --preset digits --settings clean,symmetric-40,pairflip-40",
)
display(separability_table(digits_separability))
for setting in ("clean", "pairflip-40"):
    print(setting)
    display(evidence_by_class(digits_separability, setting))

# %% [markdown]
# The ratio criterion (the high mode at least three times the median loss of the labels the network
# predicts) measures how confident the network is on its right labels, not whether wrong ones are
# present: a confident network's clean classes have a tiny median loss, so their few hard images clear
# the ratio by far, while under pair-flip noise the network is less sure of every label and the ratio of
# a noisy class stays near two to four. The level criterion ($\ln C$) behaves as intended on the digits
# in the other two settings (its high mode sits near $\ln C$ in nearly every class under symmetric noise,
# and far below it in almost every clean class), and misses pair-flip noise, whose flipped labels the
# network half learns. Neither is a test for noise on its own. What the ratio buys on the pair-flip
# digits (`make demo`) is that it opens classes at all, noisy or not; once a class is open, the mixture
# on its losses does find the flipped labels there (the precision of the demo's trusted space, README).

# %% [markdown]
# ## Why the inner loop recalls nothing here
#
# `python -m tad diagnose --recall --preset cifar10-cpu --data-root ../shared/data/cifar10 --settings
# clean,pairflip-20,pairflip-40,symmetric-40` takes each TAD expert at its end and runs the inner loop once
# with its maturity gate (recall nothing until the class anchors name held-out trusted labels with accuracy
# γ) and once without it, then compares the pseudo-labels with the true labels. Two other rankings of the
# same untrusted space ask whether the experts know more than the reliability finds: each expert's own
# prediction ranked by its softmax probability (**confidence**), and the prediction of the mean softmax of
# the setting's two experts, where the expert agrees with it (**the ensemble**). It reads the clean
# labels, so it is a diagnostic and chose nothing. Means over the two experts of each setting (seed 0):

# %% tags=["hide-input"]
display(recall_table(recall))
print("\n".join(recall_sentences(recall)))

# %% [markdown]
# **What it says.** The gate is what keeps the inner loop silent on CIFAR-10 at this scale: the anchors of
# these weak experts name 50% to 55% of the held-out trusted labels, far from γ = 0.9. Without the gate
# the inner loop would relabel 70 to 210 samples per expert under noise, and its pseudo-labels would
# beat the given labels clearly only under symmetric 40% (right 62% of the time where the given labels
# are right 16%); under pair-flip 20% they are level (45% against 41%), and under pair-flip 40% a little
# better on fewer samples (44% against 36%). On clean labels, where the untrusted space holds only the
# outer loop's false alarms, each of the 26 samples it would recall has a right label and would get a
# wrong one. The other two rankings place the limit in the experts rather than in the reliability
# score: ranked by the experts' own confidence or by their ensemble, the top 5% of the untrusted space
# is right 80% to 84% of the time under symmetric 40% (71% by the reliability) and 41% to 58% under
# pair-flip noise, where the experts have learned the flips they would have to undo; none reaches the
# issue's 0.85. A better score on these features cannot recall 5% of the untrusted space at 0.85;
# stronger experts are the remaining lever (the next section tries more images). So the gate stays on,
# and the inner-loop targets stay missed at this scale; on the digits, whose features are mature, the
# inner loop fires (the digits runs of the README).
#
# These figures read the TAD experts of the current default (the training pass's losses, the division
# sized by the snapshot ensembles' noise-rate estimate). The same diagnosis on the experts of the
# evaluation pass (`results/v6/cifar10-cpu-recall.json`) found maturity 0.54 to 0.58 and a top 5% right
# 68% to 79% of the time under symmetric 40%, 45% to 58% under pair-flip 40%; on the experts of the
# mixture's division (`results/v4/cifar10-cpu-recall.json`) a smaller untrusted space with fewer right
# labels in it, and a top 5% right 82% to 85% of the time under symmetric 40%, 38% to 43% under
# pair-flip 40%.

# %% [markdown]
# ### With more images per class (one run on an H200)
#
# Are the experts weak because they see only 500 images per class? A GPU was lent to one session for
# fifteen minutes (2026-12-04). It could receive at most 64 MiB, so it held the first 15,000 CIFAR-10
# training images (`python scripts/cifar_subset.py --train-per-batch 3000`), and the two diagnoses ran on
# them at the preset's 500 images per class and at 1,400 (`python -m tad diagnose --recall` or
# `--separability --preset cifar10-cpu --data-root PART --device cuda --set data.train_per_class=N
# --settings pairflip-40,symmetric-40,clean`). Everything else is the preset's: the same network, 15
# epochs, the same TAD settings. Both sizes drew their training images from those 15,000, so the 500 row
# repeats the table above on other images and another device, not the same run; and those runs, like
# the mixture's recall diagnosis, read experts of the mixture's division (the default then). The
# separability runs had two minutes between them and finished three of the six settings.

# %% tags=["hide-input"]
h200_recall = pd.concat(
    {
        n: recall_table(
            document(
                f"{preset}-h200-recall-{n}.json",
                f"python -m tad diagnose --recall {data} --device cuda --set data.train_per_class={n}",
            )
        )
        for n in (500, 1400)
    },
    names=["images per class"],
)
display(
    h200_recall[
        [
            "trusted share",
            "trusted precision",
            "maturity",
            "recalls, ungated",
            "ungated pseudo-label accuracy",
            "top 5%: pseudo-label accuracy",
            "top 5%, by the ensemble",
        ]
    ].round(2)
)
h200_separability = pd.concat(
    {
        n: separability_table(
            document(
                f"{preset}-h200-separability-{n}.json",
                f"python -m tad diagnose --separability {data} --device cuda --set data.train_per_class={n}",
            )
        )
        for n in (500, 1400)
    },
    names=["images per class"],
)
h200_separability[
    ["expert accuracy (true labels)", "AUC loss", "AUC margin", "best AUC, any epoch and score"]
].round(3)

# %% [markdown]
# **What it says.** With 2.8 times the images the outer loop hardly moves: the trusted share stays near
# 0.74 on clean labels and the precision under pair-flip 40% stays near 0.64, because the experts'
# accuracy against the true labels rises only a few points (pair-flip 40%: 0.39 to 0.45) and so does the
# separation of right from wrong labels (AUC of the loss 0.61 to 0.64). The inner loop changes more.
# Under symmetric 40%, without its gate it would relabel about 360 samples (a tenth of the untrusted
# space) with pseudo-labels right 86% of the time where their given labels were right 6% of the time,
# and its top 5% would be right 91% of the time: the issue's inner-loop target, were the gate open. The
# gate stays shut (maturity 0.45 against 0.9), and it is not the gate's level that is wrong: the maturity
# is highest on clean labels (0.76), where all ~370 recalls would replace a right label with a wrong
# one. A maturity measure cannot tell "the untrusted space is mostly noise" from "the untrusted space is
# the hardest clean images"; the class-level evidence test, which would have to tell, cannot at this
# scale either (above). Under pair-flip 40% even 1,400 images per class leave the pseudo-labels at
# 0.45 to 0.50 for the top 5%.

# %% [markdown]
# ### Can the noise rate itself be estimated?
#
# The targets ask the trusted share to track the share of right labels. A division could be told how
# much to keep in each class if that share could be estimated. `python -m tad diagnose --noise-rate
# --preset cifar10-cpu --data-root ../shared/data/cifar10 --settings` with the settings of the table
# asks how well the experts' final networks estimate it, by confident learning (Northcutt, Jiang and
# Chuang 2021; `tad.noise_rate.confident_learning_rates`): a sample counts as confidently of class
# $j$ when the ensemble's probability of $j$ reaches the mean probability of $j$ among the samples
# labelled $j$, and the estimate for a label is the share of its confidently counted samples counted as
# another class. An expert that errs also on confident samples adds its own error to that estimate, so
# the diagnosis also corrects it by the two experts' agreement $A$: if each is right with probability
# $a$ and they err independently, $A \approx a^2$, so $e = 1 - \sqrt A$ and the corrected estimate is
# $\max(0, (\hat\eta - e)/(1 - e))$. Neither estimate reads the true labels; the diagnosis reads them to
# score the estimates, and to score the division that keeps in each class the share an estimate calls
# right, ranked by loss ("sized"). Not part of TAD, and it chose nothing.

# %% tags=["hide-input"]
noise_rate = document(
    f"{preset}-noise-rate.json",
    f"python -m tad diagnose --noise-rate {data} --settings clean,symmetric-40,pairflip-40,pairflip-20,"
    "symmetric-60,cifar10n-aggre,asymmetric-40,symmetric-20",
)
# the vanilla experts' estimates and the divisions they would size (shown for CIFAR-10 and the digits)
vanilla_estimates = [
    "wrong labels",
    "estimate, vanilla experts",
    *(
        f"{version} {column}, vanilla experts"
        for version in ("corrected", "top-2 corrected")
        for column in ("estimate", "sized share", "sized precision")
    ),
]
noise_rate_table(noise_rate)[[*vanilla_estimates, "estimate, TAD experts", "corrected estimate, TAD experts"]]

# %% [markdown]
# **What it says.** Uncorrected, the estimate counts the experts' own errors as noise: 0.21 on clean labels
# and 0.08 to 0.20 above the truth elsewhere. Corrected by the vanilla experts' agreement it lands within 0.05
# of the truth on clean labels, CIFAR-10N aggre, symmetric 20% and 40%, and a division sized by it would trust
# 0.98, 0.95, 0.84 and 0.59 of the data there (right labels 1.00, 0.91, 0.80, 0.60), at precision 0.82 at
# symmetric 40%. Where the noise is structured or heavy it undershoots: 0.25 for 0.39 at pair-flip 40%, 0.14
# for 0.20 at pair-flip 20%, 0.52 for 0.60 at symmetric 60%, 0.10 for 0.17 under asymmetric noise. The "TAD
# experts" columns are the trust-aware experts of the current default, whose divisions are sized by the
# vanilla experts' snapshot ensembles and read the training pass's losses (those of the evaluation pass are in
# `results/v6/`, those of the final networks' estimate in `results/v5/`; every other column repeats to the
# digit); their own estimate reads higher (they have learnt to doubt the samples they did not trust: 0.10 on
# clean labels, 0.29 for 0.20 at pair-flip 20%; with the evaluation pass 0.08 and 0.33), so the estimate is
# taken from plainly trained networks, once, before the trust-aware experts train. This diagnosis is what the
# division sized by the estimate (next section) was built on; the file was made again after that division
# became the default, with the top-2 columns added (below).
#
# The **top-2** columns count two experts as agreeing when each one's prediction is among the other's
# two most likely classes (`trust.rate_agreement="top2"`). Under pair-flip noise the experts are torn
# between a class and the one its labels flip to; counted as errors, those disagreements inflate the
# correction. With the top-2 agreement the estimate under pair-flip 40% is 0.34 for 0.39 (0.25 with the
# top-1 agreement), and every share target's setting falls within 0.07 of the right share; but on clean
# labels the estimate reads 0.07 (0.02), so a division sized by it would trust 0.93 of clean data, below
# the 0.95 the targets ask. It is an option; the noisy validation split decides (the section after next).
#
# **One checkpoint is a noisy reading.** The estimate above reads each network's final checkpoint. Read
# at every epoch instead, it moves a long way from one epoch to the next on the CPU preset: the two
# networks' agreement jumps by 0.1 to 0.2 (pair-flip 40%: 0.41 at the last epoch, 0.57 at the one
# before), and the corrected estimate with it (0.25 and 0.37). The final epoch happened to read low under
# pair-flip 40% and clean labels alike. `trust.rate_snapshots=k` reads the networks' last $k$
# checkpoints, which the trajectories hold anyway, in one of two ways
# (`trust.rate_snapshot_mean`): as **snapshot ensembles** (each network's mean softmax over its $k$
# checkpoints, then one estimate), or one estimate per checkpoint, the two networks at the same epoch,
# and the **mean of the estimates**. The second keeps the agreement correction's model of two single
# networks; the first lets two smoother ensembles agree more than single networks do, so it corrects
# less and reads higher everywhere. The same command with this file's columns for $k$ = 3, 5 and 8
# (the earlier columns repeat to the digit):

# %% tags=["hide-input"]
snapshot_columns = [
    f"5-snapshot {way}, {column}"
    for way in ("ensemble", "mean of estimates")
    for column in ("estimate", "sized share", "sized precision")
]
noise_rate_table(noise_rate)[["wrong labels", "corrected estimate, vanilla experts", *snapshot_columns]]

# %% [markdown]
# With five snapshots, the mean of the estimates lands within 0.05 of the truth in every setting but
# clean labels (0.055) and symmetric 60% (0.53 for 0.60), and under pair-flip 40% reads 0.35 for 0.39
# (0.25 from the last checkpoint); a division it sized would trust within 0.07 of the right share in
# every setting of the share targets but symmetric 60% (0.47 for 0.40 right), and 0.945 of clean data,
# just under the 0.95 the targets ask. The snapshot ensembles read 0.05 to 0.07 higher (0.42 under
# pair-flip 40%, 0.08 on clean labels). Three and eight snapshots give about the same figures
# (`noise_rate_table(noise_rate)` holds every column). Whether either way buys the distilled set
# anything is the noisy validation split's question (the section after the top-2 agreement's).

# %% [markdown]
# ### A trusted space sized by the estimate
#
# `TrustConfig(sizing="estimated")` (method page, step 5') makes that lead an option of TAD: before the
# trust-aware experts train, the corrected estimate is taken from the first two vanilla experts (the
# vanilla arm's own), and every division, and the experts' consensus, then trusts in each class the
# share the estimate calls right, lowest losses first. It was compared with the mixture's division by
# the selection protocol above: 5,000 unused training images with noisy labels, DM's distilled set
# scored on them, common random numbers, three seeds, under pair-flip 40%, symmetric 40% and clean
# labels. The runs went in two processes side by side, one file each
# (`python -m tad select --preset cifar10-cpu --data-root ../shared/data/cifar10 --seeds 3 --candidates
# sizing --settings pairflip-40,clean` and `--settings symmetric-40`), merged into one file whose `notes`
# say so. The trusted share and precision beside the scores come from the clean labels and chose nothing.

# %% tags=["hide-input"]
show_selection(sizing_selection, "sizing=mixture", ("trusted_fraction", "trusted_precision"))

# %% [markdown]
# The same comparison with DATM's distilled set scored (`--method datm`, three processes merged the same
# way), and the choice by the rule the evidence ratio was chosen by: the mean of the two distillers'
# means over the same settings.

# %% tags=["hide-input"]
show_joint_selection(sizing_selection, sizing_selection_datm, "sizing=mixture")

# %% [markdown]
# **What it says.** The sized division does what it was built for on the trusted share: 0.96 of the data
# on clean labels (the mixture's division trusts 0.71), 0.60 under symmetric 40% (right labels 0.60;
# mixture 0.68) at a slightly higher precision (0.81 against 0.78), and 0.69 under pair-flip 40% (right
# labels 0.61; mixture 0.80), where the estimate is low. The noisy validation split hardly tells the
# candidates apart. With DM's distilled set the rank score is level with the mixture run by run
# (-0.09 ± 0.27 points over nine pairs: ahead under symmetric 40%, level under pair-flip 40%, behind on
# clean labels) and the flat score is 1.2 points behind; with DATM's the rank score is ahead by
# 0.34 ± 0.24 (mostly on clean labels) and the flat score by 0.13 ± 0.24. By the joint rule the rank
# score wins, 28.85% against the mixture's 28.72%: a margin well inside the spread between runs. Trusting
# the right share is not what DM's distilled set gains from at this scale (the mixture's division also
# leaves out the hardest clean images, and DM gains from that); DATM, which the mixture's division cost
# points on clean labels, gains from not dividing clean classes.
#
# **So the default changed.** The rule chooses `sizing="estimated"` with `sized_score="rank"`, and that
# is TAD's default now: every grid on this page was run again with it (the rows made with the mixture's
# division are kept in `results/v4/`; the ablations' `mixture-division` variant runs it). The rule is
# the one the evidence ratio was chosen by, in an earlier stop; by it the change is a choice between two
# candidates the noisy validation split cannot tell apart, made for what the sized division does to the
# trusted space rather than for accuracy.

# %% [markdown]
# The main grid's settings ran with the sized division before it became the default (`python -m tad
# reproduce --preset cifar10-cpu --data-root ../shared/data/cifar10 --grid main --set
# trust.sizing=estimated`, all ten settings, one seed, in parts with `--only`; those rows were the main grid
# until the noise-rate estimate moved to snapshot ensembles, and are kept in `results/v5/`). Its vanilla arm
# is the mixture rows' run again (and bit-identical to them); the "mixture" columns are the TAD rows of the
# main grid made with the mixture's division (`results/v4/`). Under asymmetric and CIFAR-10N rand1 labels
# DATM + TAD stays below vanilla with either division (sized: -1.1, -0.2, -1.8; mixture: -1.0, -1.0,
# -3.0).

# %% tags=["hide-input"]
show_rerun([mixture_main], [final_network_main], ("mixture", "sized"))

# %% [markdown]
# **What the rows say** (one seed; the test set, so they chose nothing). The sized division (its estimate
# read from the final networks, as it was then) meets the share
# targets the mixture's misses on clean labels (0.98), under symmetric 40% (0.59 for 0.60 right) and
# pair-flip 20% (0.86 for 0.80), and keeps symmetric 20% within the band; under symmetric 60% and pair-flip
# 40% its estimate of the noise is too low (it trusts 0.48 for 0.40 right, 0.75 for 0.61). Precision is
# below 0.9 wherever there is noise, as the separability section predicts. It rescues DATM's no-harm targets
# (clean +1.9, CIFAR-10N aggre +0.1 instead of -0.9) and raises DATM + TAD at symmetric 60% (+2.2 over
# vanilla, mixture +1.5) and pair-flip 20% (+1.2, mixture +0.2), but costs DATM under pair-flip 40% (+1.2,
# mixture +2.1) and DM under symmetric 20% (33.0 against the mixture's 35.9) and pair-flip 20% (33.9 against
# 35.1): where the mixture trusts less than the right share, DM gains from leaving out hard clean images
# too. A fixed size cannot grow from one outer step to the next unless the inner loop recalls, and it still
# recalls nothing, so the "grows" targets turn from met to missed. On the targets both measured, 12 are met
# with the sized division and 11 with the mixture's. One seed, and the main grid's mixture rows are from an
# earlier session (its vanilla arms are bit-identical to these): differences of a point or less are not
# evidence.

# %% [markdown]
# ### The same estimate on the digits
#
# The digits runs of the README, made with the sized division while its estimate read the final networks, fell
# against the mixture's under pair-flip 40% noise: DM + TAD recovered 60% of the gap to the clean labels (the
# mixture's division 94%), DATM + TAD reached 76.4% (80.7%), and the trusted share was 0.78 where 0.60 of the
# labels are right, with no recall. Run again with the five snapshot ensembles and the evaluation pass
# (`results/v6/`), DM + TAD recovered 69% and DATM + TAD reached 82.6% (vanilla 69.8%), the trusted share was
# 0.71 at precision 0.79, and still nothing was recalled. Under symmetric 40% noise the inner loop fired: the
# trusted space ended at 0.92 of the data at precision 0.97, with 414 samples recalled at a pseudo-label
# accuracy of 0.998; DM + TAD recovered 82% of the gap and DATM + TAD stayed 0.6 points below vanilla DATM.
# With the training pass's own losses (the committed files now) the same share under pair-flip 40% is less
# precise (0.74), and DM + TAD recovers 39% of the gap, DATM + TAD reaches 78.2%. Under symmetric 40% the
# maturity gate opens only at epoch 18 of 20 (epoch 6 with the evaluation pass; presumably anchors built from
# augmented views while the weights move name fewer held-out trusted labels, which we have not measured), so
# 147 samples are recalled (pseudo-labels all right) and the trusted space ends at 0.72 of the data at
# precision 0.96; DM + TAD still recovers 74% of the gap, and DATM + TAD stays 0.6 points below vanilla DATM
# (94.0 against 94.6). The same diagnosis as above on the digits (`python -m tad diagnose --noise-rate
# --preset digits --settings clean,symmetric-40,pairflip-40,pairflip-20`; it reads the true labels and chose
# nothing) says why the pair-flip share is off:

# %% tags=["hide-input"]
digits_noise_rate = document(
    "digits-noise-rate.json",
    "python -m tad diagnose --noise-rate --preset digits --settings "
    "clean,symmetric-40,pairflip-40,pairflip-20",
)
noise_rate_table(digits_noise_rate)[[*vanilla_estimates, *snapshot_columns]]

# %% [markdown]
# On the digits the plain networks fit the right labels (the uncorrected estimate is 0.00 on clean
# labels, 0.39 for 0.41 under symmetric 40% noise), so there is nearly no error of theirs to take out,
# and under pair-flip noise the correction takes out the wrong thing: the two networks disagree on
# whether an image of digit c that carries the label c + 1 is a c or a c + 1, and the correction reads
# that disagreement, which the noise causes, as the networks' own error. The uncorrected estimate
# (0.34 for 0.40 at pair-flip 40%) is nearer the truth than the corrected one (0.22). On CIFAR-10 at
# this scale the correction is what makes the estimate usable (0.21 on clean labels uncorrected). The
# top-2 agreement is a first correction that tells the two apart: it leaves the digits' pair-flip
# estimate at 0.34 and the other settings where they were, at the cost on clean CIFAR-10 described above.
# The comparison on noisy validation splits (next) did not make it the default, so the sized division
# still trusts too much under pair-flip noise on both datasets. Five snapshots move the digits'
# pair-flip 40% estimate to 0.29 as ensembles and to 0.18 as a mean of estimates: on the digits the
# networks' disagreement under pair-flip noise is there at every epoch, so averaging over epochs does not
# remove it, while the ensembles' higher agreement takes out less of it.

# %% [markdown]
# ### Counting the networks' agreement on their top two classes
#
# `trust.rate_agreement="top2"` (above) against the default `top1`, by the selection protocol: 5,000
# unused training images with noisy labels, common random numbers, three seeds, under pair-flip 40%,
# clean labels and symmetric 40%. The settings ran as separate processes side by side
# (`python -m tad select --preset cifar10-cpu --data-root ../shared/data/cifar10 --seeds 3 --candidates
# agreement --settings <one setting>`), merged by `scripts/merge_selections.py` (the file's `notes` name
# every part). The `top1` candidate is today's default, and its scores repeat those of the sized
# division's candidate in the comparison above to the printed digit (the same experts, found in the
# cache, and the same random numbers). First DM's distilled set:

# %% tags=["hide-input"]
agreement_selection, agreement_selection_datm = selection_pair("agreement")
show_selection(agreement_selection, "agreement=top1")

# %% [markdown]
# Then DATM's distilled set (`--method datm`, three processes merged the same way; the experts are the
# DM selection's, found in the cache), and the choice by the joint rule:

# %% tags=["hide-input"]
show_joint_selection(agreement_selection, agreement_selection_datm, "agreement=top1")

# %% [markdown]
# **What it says.** The top-2 agreement does what it was built for on the trusted share under pair-flip
# 40% (0.62 of the validation runs' training data against 0.69 with the top-1 agreement; 0.61 of the
# labels are right), at the cost on clean labels the diagnosis predicted (0.91 against 0.96). The noisy
# validation split splits the two distillers: DM's distilled set scores it 0.24 ± 0.20 points higher run
# by run, DATM's 0.53 ± 0.23 lower (under pair-flip 40% most of all, by about a point). By the joint rule
# the default stays `top1`, 28.85% against 28.70%: a margin inside the spread between runs again, and the
# top-2 agreement stays an option. A trusted share nearer the right one under pair-flip noise does not
# by itself buy DATM accuracy at this scale.

# %% [markdown]
# ### Reading the noise rate from snapshot ensembles
#
# `trust.rate_snapshots` (the noise-rate section above) by the same protocol: the final network alone
# (`snapshots=1`, the default until this comparison) against the last five checkpoints, read as snapshot
# ensembles or as a mean of five estimates. Three processes per distiller, one per setting, merged by
# `scripts/merge_selections.py`; every candidate shares the vanilla experts and the random numbers. DM's
# distilled set first:

# %% tags=["hide-input"]
snapshot_selection, snapshot_selection_datm = selection_pair("snapshots")
show_selection(snapshot_selection, "snapshots=1", ("trusted_fraction", "trusted_precision"))

# %% [markdown]
# Then DATM's (`--method datm`; the experts are found in the cache), and the choice by the joint rule:

# %% tags=["hide-input"]
show_joint_selection(snapshot_selection, snapshot_selection_datm, "snapshots=1")

# %% [markdown]
# **What it says.** The snapshot ensembles read higher noise rates (the diagnosis above), so they trust
# less: under pair-flip 40% 0.60 of the validation runs' training data against 0.69 from the final
# network (0.61 of the labels are right), at a precision of 0.70 against 0.67; on clean labels 0.92
# against 0.96. DM's distilled set scores them 0.44 ± 0.23 points higher run by run on the noisy
# validation labels; DATM's is unmoved (−0.05 ± 0.33). The mean of five estimates changes neither
# (−0.03 and −0.09). By the joint rule the five snapshot ensembles win, 29.04% against 28.85%: a margin
# inside the spread between runs, like the sizing's, and by the same rule they are **the default**
# (`rate_snapshots=5`, `rate_snapshot_mean="probabilities"`). The main grid and the second seed were run
# again with it; the table at the end of the page names every results file still made with the final
# network alone. The clean-label cost (0.92 of clean data trusted on the validation runs) is the price:
# the no-harm target asks for 0.95.

# %% [markdown]
# The main grid run again with the snapshot ensembles (seed 0 in the table; these rows, made with the
# evaluation pass, are now in `results/v6/`), beside its rows made with the final networks' estimate
# (`results/v5/`), and the targets of both with the second seed's rows averaged in. The vanilla arms are the
# same runs repeated (every figure but the timings repeats exactly); only the TAD columns can differ.

# %% tags=["hide-input"]
show_rerun(
    [final_network_main, final_network_seed1], [pass_main, pass_seed1], ("final network", "5 snapshots")
)

# %% [markdown]
# **What the rows say** (the test set, so they chose nothing). The snapshot ensembles do on the test
# set what they did on the validation runs: every trusted share falls (by 0.04 to 0.17 in seed 0) and every
# precision under noise rises, so the share now sits within 0.07 of the right share under pair-flip 40%
# (0.58 for 0.61; 0.75 before) and symmetric 60% (0.42 for 0.40; 0.48), and precision reaches 0.9 under
# symmetric and pair-flip 20%. The price is where the estimate now finds noise that is not there: clean
# labels (0.92 trusted, the target asks 0.95) and pair-flip 20% (0.72 for 0.80). Precision under pair-flip
# 40% is still 0.70, so the trusted space is barely cleaner than the data there. On the targets both
# measured, 14 are met with the snapshot ensembles and 12 with the final networks. Accuracy does not follow
# the trusted space: DM + TAD moves by -1.3 to +2.5 points in seed 0, and DATM + TAD's mean gain over the
# two seeds falls under pair-flip 40% (from +1.1 to 0.0: seed 1 is 2.0 points lower, seed 0 0.3), on clean
# labels (+1.6 to +0.6) and under symmetric 60% (+0.6 to +0.2), and rises under symmetric 20% and 40%,
# pair-flip 20% and CIFAR-10N aggre. These moves are within DATM's spread between seeds, and none of them
# comes near the four points the targets ask under pair-flip 40%; the factorial diagnosis below (run again
# with the snapshot ensembles) locates the limit in the division's precision there.

# %% [markdown]
# ### Scoring from an evaluation pass or from the training pass
#
# `trust.scoring` decides where the outer and inner loops read each sample's loss, prediction and features: an
# evaluation pass over the training data before each division (`pass`, the default until this comparison), or
# the forward passes of the epoch just trained (`online`: augmented views, weights that move during the epoch,
# no extra pass). The evaluation pass is TAD's main cost ([What TAD costs](07_benchmarks.ipynb)); in our first
# reconstruction `online` gave a much less precise trusted space on the digits, and the current method had not
# been compared. The same protocol, three processes per distiller merged by `scripts/merge_selections.py`;
# every candidate shares the vanilla experts and the random numbers, and the `pass` candidate's experts are
# those of the selections above (found in the cache). DM first:

# %% tags=["hide-input"]
scoring_selection, scoring_selection_datm = selection_pair("scoring")
show_selection(scoring_selection, "scoring=pass", ("trusted_fraction", "trusted_precision"))

# %% [markdown]
# Then DATM's (`--method datm`), and the choice by the joint rule:

# %% tags=["hide-input"]
show_joint_selection(scoring_selection, scoring_selection_datm, "scoring=pass")

# %% [markdown]
# **What it says.** At the sized division the two ways of scoring give the same trusted space (shares
# 0.60, 0.92 and 0.56; precision 0.69 or 0.70 under pair-flip 40%): the division ranks samples by loss
# within a class, and the training pass's noisier losses rank them about as the evaluation pass does.
# DM's distilled set scores `online` 0.15 ± 0.22 points lower run by run, DATM's 0.33 ± 0.12 higher. By
# the joint rule `online` wins, 29.13% against 29.04%, a margin inside the spread between runs, as were
# the margins by which the same rule changed the sizing and the snapshot defaults. On CIFAR-10 it is
# a win without a cost: `online` removes the evaluation pass, which is most of TAD's cost per epoch.
#
# The CIFAR-10 comparison says nothing about the digits, where the first reconstruction had found the
# training pass's losses much less precise. So, before the switch, the same protocol ran on the digits:
# their preset trains on every training image, so the comparison trains on 100 images per class
# (`--set data.train_per_class=100`) and takes 30 further images per class, noised the same way, as the
# validation split (`--validation-per-class 30`). DM first:


# %% tags=["hide-input"]
def digits_selection(candidates: str) -> tuple[dict, dict]:
    """DM's and DATM's selection of ``candidates`` on the digits' noisy validation split."""
    options = (
        "--preset digits --set data.train_per_class=100 --validation-per-class 30 --seeds 3 "
        f"--candidates {candidates} --settings pairflip-40,clean,symmetric-40"
    )
    return (
        document(f"digits-selection-{candidates}.json", f"python -m tad select {options}"),
        document(f"digits-selection-{candidates}-datm.json", f"python -m tad select --method datm {options}"),
    )


def show_datm_and_joint(dm: dict, datm: dict, baseline: str):
    """DATM's clean-label accuracies (which chose nothing), its selection, and the joint rule."""
    print(NOT_USED["clean_val_accuracy"])
    display(selection_by_setting(datm, "clean_val_accuracy"))
    return show_joint_selection(dm, datm, baseline)


digits_scoring, digits_scoring_datm = digits_selection("scoring")
show_selection(
    digits_scoring, "scoring=pass", ("trusted_fraction", "trusted_precision", "clean_val_accuracy")
)

# %% [markdown]
# Then DATM's, and the joint rule on the digits:

# %% tags=["hide-input"]
show_datm_and_joint(digits_scoring, digits_scoring_datm, "scoring=pass")

# %% [markdown]
# **On the digits** the two modes differ more in what they trust: under symmetric 40% the training
# pass's features let the inner loop recall less, so `online` ends with 0.75 of the data trusted where
# `pass` ends with 0.92 (precision 0.96 and 0.97), and under pair-flip 40% its trusted space is a little
# less precise (0.72 against 0.75) at the same share. The noisy validation labels still prefer it for
# DATM (+0.85 ± 0.18 points run by run, in every setting's mean) and call DM a tie (−0.10 ± 0.64). By the
# joint rule `online` wins on the digits as well, 65.58% against 65.21%, so **it is the default**
# (`trust.scoring = "online"`) for every preset, and every grid and diagnosis on this page was run
# again with it (the ablations and the factorial diagnosis of CIFAR-10 in a later session than the
# grids).
#
# Under pair-flip noise the noisy validation labels reward a distilled set that has learnt the flip, so
# they are a weak judge of a trusted space's precision there; the clean validation labels, printed above
# for the reader, put `online` lower under pair-flip 40% for both distillers (DM 78.4% against 79.7%,
# DATM 72.2% against 74.0%). We keep the rule we set (the noisy labels decide), and report what it
# costs: the README's digits run under pair-flip 40%, a single test-set run, recovers 39% of the gap
# between vanilla DM and DM on clean labels with `online`, where it recovered 69% with `pass`
# (`results/v6/`).

# %% [markdown]
# **Dropping the untrusted samples on the digits?** The same README run with `--set
# trust.untrusted=drop` (a single test-set run, exploratory) reached 86.6% against 80.4%, close to what
# `pass` recovered. Whether that is a property of the digits or the spread of one run is for the noisy
# validation labels to say, with the protocol above (`--candidates untrusted`: drop the untrusted
# samples, or keep them with targets and DM weights set by their clean-probability):

# %% tags=["hide-input"]
digits_untrusted, digits_untrusted_datm = digits_selection("untrusted")
show_selection(
    digits_untrusted, "untrusted=soft", ("trusted_fraction", "trusted_precision", "clean_val_accuracy")
)

# %% tags=["hide-input"]
show_datm_and_joint(digits_untrusted, digits_untrusted_datm, "untrusted=soft")

# %% [markdown]
# The noisy validation labels call it a tie for DM (64.40% dropping against 64.43% keeping, as means over the
# three settings) and prefer keeping the untrusted samples for DATM (66.36% against 66.73%; jointly 65.38%
# against 65.58%), so the default stays `trust.untrusted = "soft"`. The clean validation labels, printed for
# the reader, agree under pair-flip 40%, the demo's setting (DM 78.2% dropping against 78.4% keeping, DATM
# 72.1% against 72.2%): the six points of the single test-set run do not come back on the validation split, so
# that run's gain is not one the fair procedure would choose, and the demo's 39% stays as measured.

# %% [markdown]
# **The consistency term's weight on the digits.** The factorial diagnosis of CIFAR-10 and the ablations
# put the consistency term's cost under pair-flip noise near one point of DATM, but its weight
# (`trust.lambda_cons = 1`) had never been chosen on noisy validation labels. The same protocol with
# `--candidates consistency` (weight 0 or 1):

# %% tags=["hide-input"]
digits_consistency, digits_consistency_datm = digits_selection("consistency")
show_selection(digits_consistency, "lambda_cons=1", ("trusted_precision", "clean_val_accuracy"))

# %% tags=["hide-input"]
show_datm_and_joint(digits_consistency, digits_consistency_datm, "lambda_cons=1")

# %% [markdown]
# DM's noisy validation labels prefer no consistency term (64.60% against 64.43%), DATM's keep it (66.41%
# against 66.73%), and the joint rule keeps the weight at 1 by 0.07 points (65.51% against 65.58%), far
# inside the spread between runs: on the digits the term neither helps nor costs.
#
# **The consistency term's weight on CIFAR-10.** The same selection on the CPU preset (the protocol of
# the section on TAD's open choices: three seeds, pair-flip 40%, clean labels and symmetric 40%, common
# random numbers; two sessions, resumed from the finished runs), first with DM's distilled sets:

# %% tags=["hide-input"]
consistency_selection, consistency_selection_datm = selection_pair("consistency")
show_selection(consistency_selection, "lambda_cons=1", ("trusted_precision", "clean_val_accuracy"))

# %% [markdown]
# Then DATM's, and the joint rule:

# %% tags=["hide-input"]
show_datm_and_joint(consistency_selection, consistency_selection_datm, "lambda_cons=1")

# %% tags=["hide-input"]
# the joint rule's mean on each dataset, and their mean (each dataset counting once)
consistency_by_dataset = pd.DataFrame(
    {
        name: joint_selection({"DM": dm, "DATM": datm})["both"]
        for name, (dm, datm) in {
            "digits": (digits_consistency, digits_consistency_datm),
            "CIFAR-10": (consistency_selection, consistency_selection_datm),
        }.items()
    }
)
consistency_by_dataset["mean"] = consistency_by_dataset.mean(axis=1)
consistency_by_dataset.round(2)

# %% [markdown]
# Both distillers prefer the weight 0 on CIFAR-10's noisy validation labels: DM by 0.41 ± 0.34 points run by
# run (28.29% against 27.88%; better under pair-flip and symmetric 40%, worse on clean labels), DATM by 0.06
# ± 0.19 (30.44% against 30.38%), jointly 29.36% against 29.13%. The margins are inside the spread between
# runs, as on the digits, where the joint rule went the other way by 0.07 points; the protocol the issue set
# is CIFAR-10's, and over both datasets' joint means (the table above) the weight 0 is ahead too (47.44%
# against 47.36%). The clean validation labels, printed for the reader, lean the same way under noise (DM
# 31.2% against 29.5% under pair-flip 40%), and so did the test-set ablation without the term (outer-only,
# below). **So the selection chooses `lambda_cons = 0`.** The default is still 1 in this version: every
# grid, diagnosis and README run on this site was made with 1, and the prose reads their numbers, so the
# default changes together with the grids made again with 0 (the main grid's rows with 0 are being made;
# `results/partial/README.md` says which are done). Until then the site's rows and its default agree, and
# this paragraph is where the choice is recorded.

# %% [markdown]
# The main grid run again with the training pass's losses (the command at the top of the page; seed 0
# in the table), beside its rows made with the evaluation pass (`results/v6/`), and the targets of both
# with the second seed's rows averaged in. The vanilla arms are the same runs repeated; only the TAD
# columns can differ.

# %% tags=["hide-input"]
# the second seed's settings that ran with both defaults (seed 1 of asymmetric noise and rand1 ran later)
both = {(r["method"], r["setting"]) for r in pass_seed1}
show_rerun(
    [pass_main, pass_seed1],
    [main, [r for r in seed1 if (r["method"], r["setting"]) in both]],
    ("pass", "online"),
)

# %% [markdown]
# **What the rows say** (the test set, so they chose nothing). The two modes give the same trusted spaces
# on CIFAR-10: every share repeats, and every precision is within 0.01 (under pair-flip 20% it drops from
# 0.903 to 0.897, just under the 0.9 of the target). What moves is the accuracy, in the directions the
# noisy validation split had found: DM + TAD is 0.15 points lower on average over the ten settings of
# seed 0 and 0.44 lower over the seven of seed 1, DATM + TAD 0.47 and 0.72 higher. Under pair-flip 40%
# DATM + TAD's mean gain over the two seeds rises from 0.0 to +2.6 (+3.4 and +1.9), its largest in any
# setting of the grid, but still short of the four points the targets ask; single rows
# move by up to 2.9 points between the two modes although their trusted spaces are the same, which is
# the spread of single runs that the seeds' table below shows. On the targets both measured, 15 are met
# with `online` and 14 with `pass`.

# %% [markdown]
# ## The targets
#
# The targets the method work set itself (issue 8), each against the rows above, the second seed and
# the IPC 50 rows below, the digits runs of the README and the overhead benchmark. Where a setting ran
# with two seeds, its gain is their mean. "not run" marks a target whose row does not exist yet. The
# overhead is read twice from the benchmark: on an epoch that divides (the worst case) and over whole
# expert runs (warm-up epochs, noise-rate estimate and final division included; [What TAD
# costs](07_benchmarks.ipynb) says why the two differ).

# %% tags=["hide-input"]
targets = issue_targets(main, digits=digits, overhead=overhead, other_seeds=[seed1], ipc50=ipc50)
targets

# %% tags=["hide-input"]
counts = targets["outcome"].value_counts()
print(", ".join(f"{k}: {v}" for k, v in counts.items()))

# %% [markdown]
# ## A second seed, more images per class, longer DATM
#
# The settings the targets name ran again with seed 1 (new experts, distillation and evaluation
# networks; the same noisy labels and training subset); asymmetric 20% and 40% and CIFAR-10N rand1 in
# later sessions, on another machine than seed 0 (each row's arms ran on one machine). With its second
# seed DATM + TAD is 0.2 points below vanilla under both asymmetric settings (seed 0: +0.1 and -2.1), so
# the mean gain under asymmetric 20% turns from +0.1 to -0.05 and that target from met to missed; DM +
# TAD is 4.0 and 2.5 points above vanilla DM. Under CIFAR-10N rand1 the second seed goes the other way:
# DATM + TAD is 1.2 points above vanilla (39.6 against 38.4; seed 0: -0.7), so the mean gain turns
# from -0.7 to +0.3 and that target from missed to met; DM + TAD is 2.8 points above vanilla DM. Both
# turns are smaller than the spread of DATM between seeds. TAD − vanilla per seed:

# %% tags=["hide-input"]
seed_table({0: main, 1: seed1})

# %% [markdown]
# At 50 images per class (the same experts; distillation and evaluation at IPC 50):

# %% tags=["hide-input"]
accuracy_table(grid_frame(ipc50)) if ipc50 else print("no IPC 50 row yet")

# %% [markdown]
# DATM with 300 iterations instead of the preset's 80 (the same experts):

# %% tags=["hide-input"]
accuracy_table(grid_frame(long_datm))

# %% [markdown]
# ## At GPU scale
#
# Rows of `scripts/papermill_grid.py` with a GPU preset (`results/*-papermill.jsonl`), when any has
# been committed:

# %% tags=["hide-input"]
if gpu_rows:
    display(accuracy_table(grid_frame(gpu_rows)))
else:
    print("No GPU-scale run has been committed yet: every number on this page is from the CPU preset.")

# %% [markdown]
# ## Which pathway moves DATM: a factorial diagnosis
#
# DATM reads real data in three places, and TAD can change each: the **trajectories** it matches (vanilla
# or TAD experts), the **pool** its synthetic images start from (all data with the noisy labels, or TAD's
# trusted space with its labels), and the **experts that initialise** it (they pick images they classify
# as their label and give the soft labels their logits). TAD's experts train with or without the
# **consistency** term. Every combination runs with the same data, streams and evaluation networks
# (`python -m tad diagnose`); the **oracle** arm's experts train on the truly clean samples only and it
# starts from them: the ceiling of a perfect division. The oracle reads the clean labels, so it is a
# diagnostic only and chose nothing. The arms were made again with the training pass's losses, in a later
# session and on another machine than the main grid (`results/v6/` keeps those of the evaluation pass,
# `results/v5/` those of the final networks' estimate, `results/v4/` those of the mixture's division,
# `results/v3/` those made before the evidence ratio, and `results/v2/` those of the first diagnosis, made
# while TAD's experts still dropped untrusted samples). Its random streams are its own, so its vanilla arm
# differs from the main grid's by the spread of single runs.

# %% tags=["hide-input"]
print("\n".join("command: " + " ".join(c) for c in dict.fromkeys(tuple(r["command"]) for r in diagnosis)))
diagnosis_table(diagnosis)

# %% [markdown]
# The main effect of each pathway: mean accuracy of the arms with TAD in that pathway minus the arms
# without it (averaged over the other two pathways, with the consistency term on), and the effect of the
# consistency term itself, averaged over the arms that use TAD's experts.

# %% tags=["hide-input"]
effects = factorial_effects(diagnosis)
effects

# %% tags=["hide-input"]
print("\n".join(diagnosis_sentences(diagnosis)))

# %% [markdown]
# **What the diagnosis says** (one seed, three evaluation networks per arm; the main effects above average
# four or seven pairs of arms). The arms share data and random streams, but a single run still lands anywhere
# in a band of two to three points (the ablations below show it: the same configuration on two machines), so
# every main effect of about a point or less is within the spread. The sentences above rank the pathways by
# their main effect and set the oracle beside vanilla DATM and the arm that uses TAD everywhere. Under
# pair-flip noise the oracle, whose experts see only right labels, is seven points above vanilla DATM (38.4
# against 31.5); TAD in every pathway recovers 1.4 of those 6.9 points (32.9). No pathway carries that gain on
# its own: the initialising experts +1.0, the trajectories +0.7, the trusted pool -0.4, the consistency term
# -0.8, all within the spread. The trusted pool is barely cleaner than the data: the sized division trusts
# 0.58 of it at a precision of 0.70, where 0.61 of the labels are right. Under symmetric noise the oracle
# gains a point (39.7 against 38.7): at this scale DATM with learned soft labels is hardly hurt by symmetric
# noise, so no division has much to win there, and every pathway moves it by less than a point (TAD everywhere
# 38.2). On clean labels the sized division trusts 0.91 of the data, and no pathway's main effect reaches half
# a point (TAD everywhere 40.1 against 39.2). With the evaluation pass (`results/v6/`) the same settings had
# put the pair-flip gain mostly in the pool (+1.2 of 1.8) and TAD everywhere half a point below the oracle
# under symmetric noise; that the pathways trade places between two runs of nearly the same trusted space is
# the band at work. What both runs agree on is the gap: a perfect division is worth about seven points under
# pair-flip 40% and ours recovers one or two, because its trusted space is 0.70 precise there (the
# separability and noise-rate sections above). The limit is the division's precision, not the way DATM reads
# the trusted space.

# %% [markdown]
# ### Exploratory runs on the digits
#
# Single-seed runs on the digits under 40% noise that looked for the pathway costing DATM its points there.
# They are test-set numbers, so they chose nothing; they are why `trust.trajectories` exists and why its
# comparison on noisy validation splits was started. Experts trained from the first epoch on a fixed trusted
# space (the two-stage schedule, `static`, and `retrained`) gave DATM its best pair-flip result (88.2 against
# 80.7 for the dividing experts' own trajectories) but not a better symmetric one (92.3 against 93.9). The
# factorial diagnosis of DATM on the digits under symmetric 40% noise is in `results/digits-diagnosis.jsonl`
# (`python -m tad diagnose --preset digits --settings symmetric-40`, run again with the training pass's
# losses; the rows of the evaluation pass are in `results/v6/`, those of the final networks' estimate in
# `results/v5/`, the mixture's in `results/v4/`). Every pathway now moves DATM by a third of a point or
# less: the consistency term +0.3, the trusted pool +0.2 (with the inner loop's recalls it holds 0.78 of
# the data at a precision of 0.97), the dividing experts' trajectories +0.1 and the initialising experts
# -0.1; TAD in every pathway is 94.7 against vanilla DATM's 94.8, and the oracle a point above vanilla
# (95.9). With the evaluation pass every pathway cost DATM a little, the trajectories most (-1.3), then
# the pool (-0.9; 0.92 of the data at a precision of 0.97), and TAD in every pathway was at 92.6; with
# the final networks' estimate the trajectories and the initialising experts cost under a point each
# (-0.8, -0.7) and the pool added half a point. The exploratory runs were made with the mixture's
# division and with earlier defaults.

# %% tags=["hide-input"]
exploration = [json.loads(line) for line in (results / "digits-exploration.jsonl").read_text().splitlines()]
pd.DataFrame.from_records(
    [
        {
            "command": " ".join(r["command"][4:]).split(" --out")[0],
            **{arm: round(v["acc_mean"], 1) for arm, v in r["arms"].items()},
            "trusted precision": round(r["trust_final"]["precision"], 3),
        }
        for r in exploration
    ]
).set_index("command")

# %% [markdown]
# ## Ablations
#
# One change at a time, TAD arm only, beside the full method made in the same run (vanilla comes from the
# main grid); the variants undo one of the choices of the method work or switch to the alternative use of
# untrusted samples:
#
# * **mixture-division**: each class's trusted space decided by the class-wise mixture on its losses,
#   the evidence test and the thresholds (the default before the sized division) instead of by the
#   estimated noise rate;
# * **fixed-start**: the first division at the earliest epoch, without waiting for the loss to fall;
# * **loss-average**: the division judges each sample's loss averaged over the outer steps (momentum
#   0.8) instead of its latest loss;
# * **drop-untrusted**: untrusted samples are dropped from the cross-entropy (and from DM's class means)
#   instead of taught a mix of label and prediction;
# * **immature-recall**: the inner loop recalls without waiting for the class anchors to mature (the
#   maturity gate off);
# * **retrained-trajectories**: DATM matches experts trained afresh on the final trusted space instead of
#   the dividing experts' own trajectories (DM reads no trajectories, so its row repeats the full method's);
# * **two-stage**, **outer-only**, **outer+consistency**, **mahalanobis-only**, **cosine-only**: as in
#   the first reconstruction (one division after plain training; no consistency or recall; no recall;
#   one reliability measure).
#
# The whole grid was made again with the training pass's losses in one session, two processes side by
# side, one per setting (`python -m tad reproduce --preset cifar10-cpu --data-root ../shared/data/cifar10
# --grid ablations --only <setting>`). Its rows made with the evaluation pass are in `results/v6/`, those
# made with the final networks' estimate in `results/v5/`, those of the mixture's division (and of the
# variants of the mixture alone, one global threshold and every class split, which no longer apply) in
# `results/v4/`. Until then the ablations were read against the main grid's full rows. They ran on
# another machine than the main grid this time, and the same configuration did not give the same
# numbers there (the next paragraph), so the grid now makes the full method itself (variant `full`,
# first in each setting) and the tables read that row.

# %% tags=["hide-input"]
# the main grid made with the same TAD settings as the ablations (its vanilla column, and the full
# method where an ablation file holds no full row of its own), or its rows of results/v6/ or v5/ while
# the ablations predate a change of the defaults
ablation_main = made_alike(ablations, [main, pass_main, final_network_main])
ablation_table(ablations, ablation_main) if ablations else pd.DataFrame({"rows": ["none run yet"]})

# %% [markdown]
# The final trusted space of each ablation beside the full method's (the share of right labels in it is a
# diagnostic and chose nothing):

# %% tags=["hide-input"]
ablation_trust_table(ablations, ablation_main)

# %% [markdown]
# **What the ablations say** (one seed; the test set, so they chose nothing). First, how far a row moves
# on its own. The full method of this grid and the main grid's row ran the same command with the same
# configuration, seeds and data, on two machines: their experts' training losses differ in the fourth
# decimal from the first epoch (floating point on another processor), the trusted spaces by a few samples
# (0.552 against 0.550 of the data under symmetric 40%, the same precision to 0.002), and the accuracies
# by up to 2.7 points (DM 34.9 against 32.2 under symmetric 40%, DATM 33.4 against 35.1 under pair-flip
# 40%; DM 30.6 against 30.9 and DATM 38.7 against 38.9 in the other two). On one machine runs repeat to
# the digit: outer+consistency, mahalanobis-only and cosine-only (the inner loop recalls nothing in any
# of them) and DM's retrained-trajectories row repeat the full method's exactly. So a single run lands
# anywhere in a band of two to three points, as wide as the spread between seeds (the second seed's table
# above), and with one seed a difference under about three points is not evidence.
#
# Read that way, no variant is clearly better or worse than the full method except where the trusted
# space changes:
#
# * the mixture's division trusts 0.69 and 0.77 of the data where the sized division trusts 0.55 and 0.58,
#   at precisions of 0.77 and 0.65 against 0.84 and 0.70; DM loses 2.6 points with it under symmetric
#   40% and 0.5 under pair-flip 40%, DATM moves by +0.5 and -0.3;
# * recalling before the anchors mature (immature-recall) relabels 868 samples under symmetric 40% and
#   861 under pair-flip 40%, with pseudo-labels right 39% and 28% of the time, far below the 0.85 the
#   targets ask, and lowers the trusted precision to 0.71 and 0.60; the accuracies move by -0.4 to +1.1,
#   within the band. The maturity gate stays: it keeps out recalls that are mostly wrong;
# * the two-stage baseline (one division of a plainly trained expert, experts trained afresh on it, no
#   consistency, no recall) costs DATM 2.3 points under pair-flip 40% and moves the other three rows by
#   -0.3 to +1.2;
# * without the consistency term (outer-only, which also turns off the inner loop that recalls nothing)
#   every row is level or higher: DM +1.0 and +1.3, DATM +0.3 and 0.0. The term earns nothing
#   measurable at this scale (the factorial diagnosis below measures it directly);
# * starting to divide at the earliest epoch (fixed-start), judging the loss averaged over the outer steps
#   (loss-average) and dropping untrusted samples (drop-untrusted) leave the trusted share where it is
#   (the sized division keeps the estimated share either way), move its precision by at most 0.011, and
#   move the accuracies by -1.0 to +1.4;
# * DATM matching experts trained afresh on the final trusted space (retrained-trajectories) is 1.5 points
#   below the dividing experts under symmetric 40% and 0.3 under pair-flip 40%.
#
# The rows made with the evaluation pass (`results/v6/`) had read the same way within their own band:
# the mixture's division level with the sized one, the two-stage baseline lowest, immature recalls right
# 37% and 27% of the time.

# %% [markdown]
# ## Where most labels are wrong: symmetric 80%
#
# `python -m tad reproduce --preset cifar10-cpu --grid high-noise`: vanilla against TAD where only one
# training label in five is right (a flipped label lands on one of the nine other classes, so the right
# class is still each noisy class's most frequent one). The trusted precision is the share of right labels in
# TAD's trusted space.

# %% tags=["hide-input"]
high_noise_table(high_noise)

# %% [markdown]
# ## Where each row came from
#
# Every row records its preset (the scale), the machine, the software and its wall time. All rows of the
# grids on this page were produced at the `cifar10-cpu` scale on a 2-core CPU with one torch thread each
# (only the diagnoses of the H200 section ran on a GPU). The
# arms of a row may have run in separate processes (`scripts/grid_stages.py` caches each finished arm);
# a row's wall time then counts only what was left when `reproduce` wrote it.

# %% tags=["hide-input"]
provenance_table(main + ablations + high_noise)

# %% [markdown]
# TAD's defaults change when a selection on the noisy validation split chooses another value. Each row
# records the settings it ran with; this table compares them with what its grid would run today, so a
# row made before a change is named here rather than passed off as the current method.


# %% tags=["hide-input"]
def changes(rows: list[dict]) -> str:
    found = {f"{k}: {then} then, {now} now" for r in rows for k, (then, now) in settings_since(r).items()}
    return "; ".join(sorted(found)) or "none"


pd.DataFrame.from_records(
    [
        {
            "results": name,
            "rows": len(part),
            "made with today's TAD settings": sum(not settings_since(r) for r in part),
            "settings changed since": changes(part),
        }
        for name, part in {
            "main": main,
            "second seed": seed1,
            "IPC 50": ipc50,
            "long DATM": long_datm,
            "symmetric 80%": high_noise,
            "ablations": ablations,
            "diagnosis": diagnosis,
        }.items()
    ]
).set_index("results")

# %% tags=["remove-cell"]
# Not shown in the book: the key numbers, for tests/test_notebooks.py.
if out_dir is not None:
    summary = {
        "main_rows": len(main),
        "diagnosis_rows": len(diagnosis),
        "settings": sorted(frame["setting"].unique().tolist()),
        "outcomes": targets["outcome"].tolist(),
        "selection_runs": int(selection_table(selection)[("runs", "")].sum()),
        "separability_settings": sorted(separability["settings"]),
        "seed1_rows": len(seed1),
        "high_noise_rows": len(high_noise),
        "effects": effects.reset_index().to_dict(orient="records"),
    }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    Path(out_dir, "06_results.json").write_text(json.dumps(summary, indent=1, default=str))
