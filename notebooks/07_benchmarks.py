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
# # What TAD costs
#
# The paper's summaries note that it "does not discuss potential computational overhead due to the
# dual-loop optimization framework". Here is ours, measured with the scripts in `benchmarks/` and read
# from their result files in `benchmarks/results/`. Every ratio compares steps timed side by side, in
# one run, on the same machine; absolute seconds are for the 2-core CPU named below and will differ on
# yours, the ratios much less.

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
results_dir = "benchmarks/results"
out_dir = None  # if set, the key numbers are written to <out_dir>/07_benchmarks.json

# %% tags=["hide-cell"]
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import display

from tad.results import locate, required_file

# the benchmark files of the repository, found from the repository root or from notebooks/
folder = locate(results_dir)
data = "--data-root ../shared/data/cifar10"
overhead = json.loads(
    required_file(folder, "overhead.json", f"python benchmarks/overhead.py {data}").read_text()
)
scaling = json.loads(
    required_file(folder, "scaling.json", f"python benchmarks/scaling.py {data}").read_text()
)
ensemble = json.loads(
    required_file(folder, "ensemble.json", f"python benchmarks/ensemble.py {data}").read_text()
)
processes = json.loads(
    required_file(folder, "processes.json", f"python benchmarks/processes.py {data}").read_text()
)
print("machine:", overhead["machine"]["platform"], f"({overhead['machine']['threads']} torch threads)")

# %% [markdown]
# ## Per expert epoch and per DM iteration
#
# `python benchmarks/overhead.py --data-root ../shared/data/cifar10` trains on the `cifar10-cpu` subset.
# A vanilla expert epoch is one pass of SGD over the data. A TAD epoch adds the outer and inner loops:
# the division (by default each class sized by its estimated noise rate, which a run estimates once
# before the experts train; the benchmark takes it from its warmed-up network, outside the timings) and
# the Mahalanobis recall, on every sample's loss, prediction and features. In the default `online`
# scoring mode those come from the training pass itself; in the `pass` mode an evaluation pass over all
# samples computes them first. A DM iteration with TAD only draws its real batches from the trusted
# space, so its cost should not change. The target of the method work is a ratio of at most 1.25 per
# expert epoch in the default mode.

# %% tags=["hide-input"]
rows = {f"expert epoch: {k}": v for k, v in overhead["expert_epoch"].items()}
rows.update({f"DM iteration: {k}": v for k, v in overhead["dm_iteration"].items()})
pd.DataFrame(
    {k: {"median seconds": v["median_s"], "ratio to vanilla": v["ratio"]} for k, v in rows.items()}
).T.round(3)

# %% tags=["hide-input"]
epoch, default = overhead["expert_epoch"], overhead["default_scoring"]
for mode in ("online", "pass"):
    ratio = epoch[f"tad-{mode}"]["ratio"]
    verdict = f" (the default: {'within' if ratio <= 1.25 else 'a miss of'} the 1.25 target)"
    print(f"{mode} mode: {ratio:.2f} vanilla epochs" + (verdict if mode == default else ""))

# %% [markdown]
# ### Whole expert runs
#
# A TAD expert does not divide in every epoch: it trains plainly until its loss has fallen
# ({py:meth}`tad.config.TrustConfig.ready_to_divide`), divides before each later epoch and once more at
# the end, and the run first reads its noise-rate estimate from the vanilla experts' last checkpoints
# (two networks, five checkpoints each: ten scoring passes per run, shared by its TAD experts). The
# benchmark therefore also trains the preset's vanilla experts, then its TAD experts into the same
# buffer, then the vanilla experts once more into another buffer (the two vanilla timings show how far
# the machine's speed drifted), and divides the TAD time by the mean vanilla time. A grid trains the
# vanilla experts for its vanilla arm anyway; TAD run alone needs them too, and then costs the vanilla
# experts plus the TAD experts.

# %% tags=["hide-input"]
runs = overhead["expert_runs"]
pd.DataFrame(
    {
        name: {
            "seconds": run["seconds"],
            "training epochs, s": run["train_seconds"],
            "trust steps, s": run["trust_seconds"],
            "rest, s": run["seconds"] - run["train_seconds"] - run["trust_seconds"],
            "dividing epochs": ", ".join(map(str, run["dividing_epochs"])),
        }
        for name, run in runs["runs"].items()
    }
).T.round(1)

# %% tags=["hide-input"]
print(
    f"{runs['experts']} experts of {runs['epochs']} epochs: TAD / mean vanilla {runs['ratio']:.2f} "
    f"({'within' if runs['ratio'] <= 1.25 else 'a miss of'} the 1.25 target); TAD run alone, its "
    f"vanilla experts included: {1 + runs['ratio']:.2f} times the vanilla experts"
)
# the machine's drift during the benchmark: the same vanilla experts timed before and after the TAD run
before, after = (runs["runs"][name]["seconds"] for name in ("vanilla", "vanilla again"))
tad_seconds = runs["runs"]["TAD"]["seconds"]
print(
    f"vanilla again / vanilla {after / before:.2f}; TAD against either vanilla run alone: "
    f"{tad_seconds / max(before, after):.2f} to {tad_seconds / min(before, after):.2f}"
)

# %% [markdown]
# **What it says** (`benchmarks/results/overhead.json`, the other grid processes paused while it ran).
# An epoch that divides costs about 1.1 vanilla epochs in the default `online` mode, within the 1.25
# target, and about 1.3 in the `pass` mode, a miss; the difference is the evaluation pass (the next
# table), while the division and the recalibration themselves take hundredths of a second. Over whole
# runs the TAD experts' training epochs and trust steps (0.2 s over 15 divisions) cost about what the
# vanilla experts' epochs cost, and the rest of the run (the noise-rate estimate's ten scoring passes,
# the final divisions, loading and saving) adds about 8 s. The whole-run ratio is the least certain
# figure here: the machine's speed drifted during this benchmark, so the same vanilla experts took 79 s
# before the TAD run and 107 s after it. Against their mean the TAD experts take 1.22 times as long
# (within the target), but against either run alone anywhere from 1.06 to 1.43 (the line above). The
# epoch ratios do not suffer from that drift, because their vanilla and TAD epochs alternate. An
# earlier benchmark in the `pass` mode, without such drift (vanilla 120 s and 119 s), gave 1.21. Run
# alone, TAD also trains the two vanilla experts its estimate reads: about 2.2 times the vanilla experts.

# %% [markdown]
# The evaluation pass itself: the same scoring in batches of 512 (what it used before) and in the batches
# of 128 that {py:func}`tad.device.inference_batch` now picks on a CPU, alternating in one run. Every
# image's scores are the same either way (the benchmark checks it); on this CPU the small batches keep
# the activations in the caches.

# %% tags=["hide-input"]
score = overhead["score_batch"]
display(
    pd.DataFrame(
        {k: {"median seconds": v["median_s"], "ratio": v["ratio"]} for k, v in score.items()}
    ).T.round(3)
)

# %% [markdown]
# The `online` mode runs the same division and recalibration as the `pass` mode but takes their inputs
# from the training pass, so the difference between the two ratios is the evaluation pass over the
# training set: a forward pass over every sample, a sizeable share of a training step's cost per sample
# (forward and backward) even in the faster batches, which no change to the mixtures or the Mahalanobis
# step can remove. The noisy validation splits of CIFAR-10 and of the digits compared the two modes for
# the current method (results page, *Scoring from an evaluation pass or from the training pass*): by the
# joint rule of DM's and DATM's scores `online` won on both, by margins inside the spread between runs,
# and it became the default, which is how TAD's cost per dividing epoch came within the 1.25 target.
# What it costs in accuracy is on the results page: on the digits under pair-flip noise its trusted
# space is a little less precise. A DM iteration with TAD does the same work as a vanilla one, only on
# other images; its ratio is within the spread of the individual runs in
# `benchmarks/results/overhead.json`.

# %% [markdown]
# ## Division and recalibration against N and C
#
# `python benchmarks/scaling.py` times one outer step (per-class normalisation, C mixtures, thresholds)
# and one inner step (anchors, the shared covariance and its Cholesky factor, N x C Mahalanobis distances
# and cosines) on synthetic scores with 2,048-dimensional features, without the model's forward pass.

# %% tags=["hide-input"]
table = pd.DataFrame(scaling["rows"])
display(table.round(3))
long = table.melt(
    id_vars=["N", "C"], value_vars=["outer_s", "inner_s"], var_name="step", value_name="seconds"
)
long["step"] = long["step"].map({"outer_s": "division (outer)", "inner_s": "recalibration (inner)"})
sns.catplot(data=long, x="C", y="seconds", hue="N", col="step", kind="bar", height=3, aspect=1.1)
plt.show()

# %% [markdown]
# The division grows with C (one scikit-learn mixture per class) and only mildly with N. The
# recalibration grows about linearly with N (whitening N features of dimension d costs N·d² operations)
# and hardly with C. At N = 50,000 and C = 200 the two together take a few seconds on this CPU, a small
# part of one training epoch over as many images (a vanilla epoch over the 5,000-image subset takes the
# time shown in the first table).
#
# ## Several experts at once?
#
# `python benchmarks/ensemble.py` trains two vanilla experts for one epoch, one after another and as one
# `torch.func` ensemble (vmap over stacked parameters).

# %% tags=["hide-input"]
seconds = {k: sorted(v)[len(v) // 2] for k, v in ensemble["seconds"].items()}
print(
    f"sequential {seconds['sequential']:.2f} s, ensemble {seconds['ensemble']:.2f} s: "
    f"ratio {ensemble['ensemble_over_sequential']:.2f}"
)

# %% [markdown]
# On this CPU the ensemble is more than twice as slow as training the experts one after another, so
# `tad.buffer` trains experts one after another, which also keeps each expert's file, its trust loop and
# its resumption independent.
# On a GPU the balance may differ; we have not measured it.
#
# ## Several processes: `torchrun`
#
# `python benchmarks/processes.py` trains the same vanilla experts three ways per repeat, taking turns:
# one process on one thread (one core, the baseline), one process with two threads, and
# `torchrun --standalone --nproc-per-node 2` with one thread per process, each rank training its share
# ([Scaling out](../book/scaling.md)). The expert stage is timed from the first expert to the last
# rank's barrier; the command's time adds Python's and torch's start-up and the rendezvous.

# %% tags=["hide-input"]
runs = pd.DataFrame(
    [
        {"layout": name, "repeat": i, **run}
        for name, rows in processes["runs"].items()
        for i, run in enumerate(rows)
    ]
)
display(runs[["layout", "repeat", "stage_s", "wall_s"]].round(1))
print(
    f"{processes['experts']} experts of {processes['epochs']} epochs ({processes['preset']}) on "
    f"{processes['threads']} cores: 2 processes are {processes['speedup_stage']:.2f}x as fast as 1 process "
    f"of 2 threads over the expert stage, {processes['speedup_command']:.2f}x over the whole command"
)
print(
    "against one core: "
    + ", ".join(f"{name} {value:.2f}x" for name, value in processes["over_one_core"].items())
)

# %% [markdown]
# On this machine the two processes gain little over one process with two threads, because torch's own
# threads already use both cores for these convolutions: both layouts reach about the same multiple of
# one core, and that multiple stays well below two (the second line), so the cores share something
# (caches, memory bandwidth, or a physical core on the host) that no layout of ours can add. The issue's
# target of 1.6 times over one process of two threads is missed for that reason. Processes can pay off
# where threads do not scale (small models, many cores) and, above all, across GPUs and hosts, where
# each rank brings its own device; no GPU was lent to the sessions that built this, so that figure is
# not measured.

# %% tags=["remove-cell"]
# Not shown in the book: the key numbers, for tests/test_notebooks.py.
if out_dir is not None:
    summary = {
        "epoch_ratio_pass": overhead["expert_epoch"]["tad-pass"]["ratio"],
        "epoch_ratio_online": overhead["expert_epoch"]["tad-online"]["ratio"],
        "run_ratio": overhead["expert_runs"]["ratio"],
        "dm_ratio": overhead["dm_iteration"]["tad"]["ratio"],
        "scaling_rows": len(scaling["rows"]),
        "ensemble_ratio": ensemble["ensemble_over_sequential"],
        "processes_speedup": processes["speedup_stage"],
    }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    Path(out_dir, "07_benchmarks.json").write_text(json.dumps(summary, indent=1))
