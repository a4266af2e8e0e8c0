"""The command line: ``python -m tad run ...``.

It parses options, builds an :class:`~tad.config.ExperimentConfig` on top of a
preset, resolves the device once, shows progress and writes the results; the work
itself is :func:`tad.pipeline.run_experiment`. Bad input stops with one sentence
before any compute starts.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

RUN_HELP = """Run one experiment: the random, vanilla, TAD and clean arms side by side.

Examples:
  python -m tad run                                   # digits, 40% pair-flip noise, IPC 10 (make demo)
  python -m tad run --noise symmetric --rate 0.4
  python -m tad run --dataset cifar10 --data-root ../shared/data/cifar10 \\
      --train-per-class 500 --noise symmetric --rate 0.4 --ipc 10 --method dm
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr rather than usage plus error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"tad: error: {message} (see python -m tad run --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m tad", description="Trust-Aware Diversion for dataset distillation.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    run = sub.add_parser(
        "run",
        help="run one experiment",
        description=RUN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_options(run)
    rep = sub.add_parser(
        "reproduce",
        help="run a grid of settings into a results file",
        description=REPRODUCE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_grid_options(rep)
    rep.add_argument(
        "--grid", default="main", help="main, ablations, high-noise, long or all (default: %(default)s)"
    )
    rep.add_argument("--only", default=None, help="run only these settings, e.g. symmetric-40,cifar10n-rand1")
    rep.add_argument("--variant", default=None, help="run only this ablation variant (default: all)")
    sel = sub.add_parser(
        "select",
        help="choose TAD's hyper-parameters on a noisy validation split",
        description=SELECT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_grid_options(sel, methods=False)
    sel.add_argument(
        "--settings",
        default="symmetric-40,pairflip-40",
        help="noise settings to average over (default: %(default)s)",
    )
    sel.add_argument(
        "--validation-per-class",
        type=int,
        default=500,
        help="unused training images per class in the noisy validation split (default: %(default)s)",
    )
    sel.add_argument(
        "--method", default="dm", help="base distiller whose distilled set is scored (default: %(default)s)"
    )
    sel.add_argument(
        "--seeds", type=int, default=3, help="seeds per setting, from --seed on (default: %(default)s)"
    )
    sel.add_argument(
        "--candidates",
        default="outer",
        choices=SELECTION_SETS,
        help="candidate set: outer, scoring or untrusted (default: %(default)s)",
    )
    diag = sub.add_parser(
        "diagnose",
        help="which pathway of DATM + TAD moves accuracy: a factorial diagnosis",
        description=DIAGNOSE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_grid_options(diag, methods=False)
    diag.add_argument(
        "--settings",
        default="pairflip-40,symmetric-40,clean",
        help="noise settings, one diagnosis each (default: %(default)s)",
    )
    diag.add_argument("--no-oracle", action="store_true", help="skip the oracle arm (default: run it)")
    gpu = sub.add_parser(
        "gpu-check",
        help="run an official DATM preset cut down to minutes; time it and project the full run",
        description=GPU_CHECK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gpu.add_argument(
        "--preset", default="datm-cifar10-ipc10", help="a datm-* or mtt-* preset (default: %(default)s)"
    )
    gpu.add_argument("--data-root", default=None, help="folder holding the dataset (required for CIFAR)")
    gpu.add_argument("--device", default="cuda", help="cuda, cuda:1, mps or cpu (default: %(default)s)")
    gpu.add_argument("--experts", type=int, default=2, help="experts per kind (default: %(default)s)")
    gpu.add_argument("--expert-epochs", type=int, default=2, help="epochs per expert (default: %(default)s)")
    gpu.add_argument("--iterations", type=int, default=50, help="DATM iterations (default: %(default)s)")
    gpu.add_argument("--eval-epochs", type=int, default=5, help="evaluation epochs (default: %(default)s)")
    gpu.add_argument("--train-per-class", type=int, default=None, help="a subset, for tests (default: all)")
    gpu.add_argument("--syn-steps", type=int, default=None, help="inner steps (default: the preset's)")
    gpu.add_argument("--out", default="runs/gpu-check.json", help="report file (default: %(default)s)")
    diag.add_argument(
        "--separability",
        action="store_true",
        help="instead of the factorial: how well per-sample scores of vanilla experts separate clean "
        "from mislabelled samples, per epoch (results/<preset>-separability.json)",
    )
    return parser


# The candidate sets of tad.selection.CANDIDATE_SETS, named here so that a bad name fails before torch loads.
SELECTION_SETS = ("outer", "scoring", "untrusted")

DIAGNOSE_HELP = """Run DATM with TAD switched on in one pathway at a time (trajectories, initial pool,
the experts that choose the initial images and give the soft labels; TAD's experts with or without the
consistency term), plus an oracle arm whose experts see only the truly clean samples. Appends one
JSON line per arm to a results file; arms already there are skipped.

Example:
  python -m tad diagnose --preset cifar10-cpu --data-root ../shared/data/cifar10 --settings pairflip-40
"""


GPU_CHECK_HELP = """Run an official trajectory-matching preset end to end with every length cut down (two
experts of two epochs per kind, about fifty iterations with the preset's own inner loop, one short
evaluation), check that the matching losses are finite and fall, and print seconds per expert epoch,
per iteration and per evaluation epoch, the peak accelerator memory and the projected wall time of the
full preset. Exits with status 1 when a check fails. A few minutes on one GPU.

Example:
  python -m tad gpu-check --data-root /content/data
"""


REPRODUCE_HELP = """Run a grid of noise settings (random, vanilla, TAD and clean arms) and append one JSON
line per finished setting to a results file; settings already in the file are skipped.

Example:
  python -m tad reproduce --preset cifar10-cpu --data-root ../shared/data/cifar10 --grid main
"""

SELECT_HELP = """Choose TAD's hyper-parameters on a validation split with NOISY labels: training images the
preset's subset leaves out, noised by the same process. Each candidate runs TAD and the base distiller
on the training subset; networks trained on its distilled set are scored on the validation split's noisy
labels. The test set and the clean labels are never used to choose. Scores are written after each
candidate, and a rerun resumes.

Example:
  python -m tad select --preset cifar10-cpu --data-root ../shared/data/cifar10
"""


def _add_grid_options(p: argparse.ArgumentParser, *, methods: bool = True) -> None:
    p.add_argument("--preset", default="cifar10-cpu", help="compute scale (default: %(default)s)")
    p.add_argument("--data-root", default=None, help="folder holding the dataset (default: none)")
    if methods:
        p.add_argument("--methods", default="dm,datm", help="base distillers (default: %(default)s)")
    p.add_argument("--ipc", type=int, default=None, help="synthetic images per class (default: the preset's)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the experts, distillation and evaluation; the noise and the training subset keep "
        "theirs (default: %(default)s)",
    )
    p.add_argument("--results", default=None, help="results file (default: results/<preset>-<grid>.jsonl)")
    p.add_argument("--out", default="runs", help="folder for runs and experts (default: %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (default: %(default)s)")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    d = "(default: %(default)s)"
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="digits", help=f"digits, cifar10, cifar100 or tinyimagenet {d}")
    g.add_argument(
        "--data-root",
        default=None,
        help="folder holding cifar-10-batches-py etc.; not needed for digits (default: none)",
    )
    g.add_argument(
        "--train-per-class", type=int, default=None, help="class-balanced training subset (default: preset)"
    )
    g.add_argument(
        "--zca", action=argparse.BooleanOptionalAction, default=None, help="ZCA whitening (default: preset)"
    )
    g.add_argument(
        "--download",
        action="store_true",
        help="let torchvision download CIFAR when a network exists (default: off)",
    )
    g = p.add_argument_group("label noise")
    g.add_argument("--noise", default="pairflip", help=f"clean, symmetric, asymmetric, pairflip or real {d}")
    g.add_argument(
        "--rate", type=float, default=None, help="flip probability; default 0.4 for synthetic noise"
    )
    g.add_argument(
        "--symmetric-include-true",
        action="store_true",
        help="symmetric noise over all classes, DivideMix (default: off)",
    )
    g.add_argument(
        "--real-labels", default="aggre", help=f"aggre, rand1, rand2, rand3, worse or noisy100 {d}"
    )
    g.add_argument(
        "--label-file", default=None, help="CIFAR-10N/100N .pt file (default: searched near --data-root)"
    )
    g.add_argument("--noise-seed", type=int, default=0, help=f"seed of the label corruption {d}")
    g = p.add_argument_group("experiment")
    g.add_argument(
        "--preset", default=None, help="compute scale: digits, cifar10-cpu, cifar10-gpu (default: by dataset)"
    )
    g.add_argument(
        "--method", default=None, help="base distiller: dm, mtt or datm (default: the preset's, dm)"
    )
    g.add_argument(
        "--ipc", type=int, default=None, help="synthetic images per class (default: the preset's, 10)"
    )
    g.add_argument("--arms", default="random,vanilla,tad,clean", help=f"comma-separated arms {d}")
    g.add_argument(
        "--seed",
        type=int,
        default=0,
        help=f"seed of the experts, distillation and evaluation (the noise has --noise-seed) {d}",
    )
    g.add_argument("--device", default="auto", help=f"auto, cpu, cuda, cuda:1, mps {d}")
    g.add_argument("--out", default="runs", help=f"folder for results {d}")
    g.add_argument("--name", default=None, help="run name (default: built from the settings)")
    g = p.add_argument_group("lengths (defaults come from the preset)")
    g.add_argument(
        "--expert-epochs",
        type=int,
        default=None,
        help="epochs of each expert and trust model (default: preset)",
    )
    g.add_argument(
        "--num-experts",
        type=int,
        default=None,
        help="experts per kind: vanilla, tad, clean (default: preset)",
    )
    g.add_argument("--tm-iterations", type=int, default=None, help="MTT/DATM iterations (default: preset)")
    g.add_argument(
        "--syn-steps", type=int, default=None, help="MTT/DATM student steps per iteration (default: preset)"
    )
    g.add_argument(
        "--memory-saving",
        action="store_true",
        help="MTT/DATM gradients with memory constant in --syn-steps (default: off)",
    )
    g.add_argument("--dm-iterations", type=int, default=None, help="DM iterations (default: preset)")
    g.add_argument("--num-eval", type=int, default=None, help="evaluation networks per arm (default: preset)")
    g.add_argument(
        "--eval-epochs", type=int, default=None, help="epochs of each evaluation network (default: preset)"
    )
    g.add_argument("--width", type=int, default=None, help="ConvNet width (default: preset)")


def _set(obj, **changes):
    """dataclasses.replace, skipping options the user left unset."""
    changes = {k: v for k, v in changes.items() if v is not None}
    return replace(obj, **changes) if changes else obj


def config_from_args(args: argparse.Namespace):
    """Build the experiment configuration; raises ValueError on any invalid value."""
    from tad.config import NoiseConfig
    from tad.presets import preset_for, with_noise

    base = preset_for(args.dataset, args.preset)
    synthetic = args.noise in ("symmetric", "asymmetric", "pairflip")
    rate = args.rate if args.rate is not None else (0.4 if synthetic else 0.0)
    noise = NoiseConfig(
        kind=args.noise,
        rate=rate,
        symmetric_include_true=args.symmetric_include_true,
        real_labels=args.real_labels,
        label_file=args.label_file,
        seed=args.noise_seed,
    )
    base = with_noise(base, noise)  # an official DATM preset takes DD_LNL's noisy-label settings
    data = _set(
        base.data,
        dataset=args.dataset,
        data_root=args.data_root,
        train_per_class=args.train_per_class,
        zca=args.zca,
        download=args.download or None,
    )
    arms = tuple(a.strip() for a in args.arms.split(",") if a.strip())
    config = replace(
        base,
        method=args.method or base.method,
        ipc=args.ipc if args.ipc is not None else base.ipc,
        arms=arms,
        seed=args.seed,
        data=data,
        noise=noise,
        expert=_set(base.expert, epochs=args.expert_epochs, num_experts=args.num_experts),
        tm=_set(
            base.tm,
            iterations=args.tm_iterations,
            syn_steps=args.syn_steps,
            memory_saving=args.memory_saving or None,
        ),
        dm=_set(base.dm, iterations=args.dm_iterations),
        eval=_set(base.eval, num_eval=args.num_eval, epochs=args.eval_epochs),
        model=_set(base.model, width=args.width),
    )
    return replace(config, name=args.name or default_run_name(config))


def default_run_name(config) -> str:
    n = config.noise
    noise = (
        n.kind
        if n.kind == "clean"
        else (f"real-{n.real_labels}" if n.kind == "real" else f"{n.kind}{n.rate:g}")
    )
    return f"{config.data.dataset}-{noise}-ipc{config.ipc}-{config.method}-s{config.seed}"


class StageBars:
    """One tqdm bar per stage of the pipeline, opened when the stage reports first."""

    def __init__(self) -> None:
        self.bars: dict = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm.auto import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            for other in self.bars.values():
                other.close()
            bar = self.bars[stage] = tqdm(total=total, desc=f"{stage:<18}", leave=False, dynamic_ncols=True)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()


def format_table(results: dict) -> str:
    """Plain-text table: arm, accuracy mean ± std, precision and recall of the real data it used."""
    trust = results["trust"]["final"] or {}
    clean_share = 100.0 * (1.0 - results["noise"]["realised_rate"])
    quality = {
        "random": (clean_share, 100.0),
        "vanilla": (clean_share, 100.0),
        "clean": (100.0, 100.0),
        "tad": tuple(
            float("nan") if trust.get(k) is None else 100.0 * trust[k] for k in ("precision", "recall")
        ),
    }
    names = {"random": "random real", "vanilla": "vanilla", "tad": "+ TAD", "clean": "clean labels"}
    method = results["config"]["method"].upper()
    lines = [f"{'method':<22}{'accuracy (%)':>16}{'trusted precision':>20}{'trusted recall':>17}"]
    for arm, r in results["arms"].items():
        label = names[arm] if arm == "random" else f"{method} {names[arm]}"
        p, rc = quality[arm]
        lines.append(f"{label:<22}{r['acc_mean']:>9.1f} ± {r['acc_std']:<4.1f}{p:>18.1f}%{rc:>15.1f}%")
    return "\n".join(lines)


def write_outputs(result, out_dir: Path, argv: list[str]) -> dict:
    """results.json and synthetic.png under ``out_dir``; returns the JSON dict."""
    import matplotlib

    matplotlib.use("Agg")
    from tad.checkpoint import atomic_write_text
    from tad.plots import synthetic_grid

    payload = result.to_json(command=["python", "-m", "tad", *argv])
    atomic_write_text(json.dumps(payload, indent=1), out_dir / "results.json")
    data = result.dataset
    panels = {arm: data.to_display(r.synthetic.images) for arm, r in result.arms.items()}
    titles = {arm: f"{arm}: {r.evaluation.mean:.1f}%" for arm, r in result.arms.items()}
    fig = synthetic_grid(panels, ipc=result.config.ipc, class_names=data.class_names, titles=titles)
    fig.savefig(out_dir / "synthetic.png", dpi=130)
    # the same images as uint8 (arm -> (N, C, H, W)), small enough to commit beside results.json
    import numpy as np

    arrays = {arm: (images.clamp(0, 1) * 255).round().byte().numpy() for arm, images in panels.items()}
    np.savez_compressed(out_dir / "synthetic.npz", class_names=np.array(data.class_names), **arrays)
    return payload


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from tad.checks import check_experiment

    config = config_from_args(args)
    check_experiment(config)  # before torch is even imported: bad input fails in a moment
    from tad.device import resolve_device
    from tad.pipeline import run_experiment

    device = resolve_device(args.device)
    from tad.presets import check_preset_device

    check_preset_device(args.preset, device, explicit=args.device != "auto")
    out_dir = Path(args.out) / config.name
    print(
        f"tad {config.name}: {config.data.dataset}, {config.noise.kind} noise, IPC {config.ipc}, "
        f"{config.method.upper()}, arms {', '.join(config.arms)}, on {device}",
        flush=True,
    )
    result = run_experiment(config, device=device, out_dir=out_dir, progress=StageBars())
    payload = write_outputs(result, out_dir, argv)
    print(
        f"realised noise rate {100 * result.noise.realised_rate:.1f}%; wall time {result.wall_time_s:.0f} s"
    )
    print(format_table(payload))
    print(f"results: {out_dir / 'results.json'}\nimages:  {out_dir / 'synthetic.png'} (and synthetic.npz)")
    return 0


def _grid_base(args: argparse.Namespace):
    from tad.presets import get_preset

    base = get_preset(args.preset)
    data = replace(base.data, data_root=args.data_root or base.data.data_root)
    base = replace(base, data=data, seed=args.seed, ipc=args.ipc or base.ipc)
    methods = tuple(m.strip() for m in getattr(args, "methods", "datm").split(",") if m.strip())
    for method in methods:
        if method not in ("dm", "mtt", "datm"):
            raise ValueError(f"unknown method {method!r}; choose from dm, mtt, datm.")
    return base, methods


def _selected_jobs(args: argparse.Namespace, grid: str, methods: tuple[str, ...]) -> list:
    from tad.reproduce import grid_jobs

    jobs = grid_jobs(grid, methods)
    if args.only:
        wanted = {s.strip() for s in args.only.split(",")}
        jobs = [j for j in jobs if j.setting in wanted]
    if args.variant:
        jobs = [j for j in jobs if j.variant == args.variant]
    return jobs


def cmd_reproduce(args: argparse.Namespace, argv: list[str]) -> int:
    from tad.checks import check_experiment

    base, methods = _grid_base(args)
    grids = ("main", "ablations", "high-noise", "long") if args.grid == "all" else (args.grid,)
    plan = {grid: _selected_jobs(args, grid, methods) for grid in grids}
    for job in (j for jobs in plan.values() for j in jobs):
        check_experiment(job.config(base))  # every job is valid before the first one starts
    from tad.device import resolve_device
    from tad.pipeline import run_experiment
    from tad.reproduce import run_grid

    device = resolve_device(args.device)
    from tad.presets import check_preset_device

    check_preset_device(args.preset, device, explicit=args.device != "auto")
    command = ["python", "-m", "tad", *argv]

    def run_one(config) -> dict:
        print(f"-- {config.name}", flush=True)
        result = run_experiment(
            config, device=device, out_dir=Path(args.out) / config.name, progress=StageBars()
        )
        return result.to_json(command=command)

    def report(row: dict) -> None:
        accs = ", ".join(f"{a} {r['acc_mean']:.1f}±{r['acc_std']:.1f}" for a, r in row["arms"].items())
        print(
            f"   {row['method']} {row['setting']} {row['variant']}: {accs} ({row['wall_time_s']:.0f} s)",
            flush=True,
        )

    for grid, jobs in plan.items():
        path = args.results or f"results/{args.preset}-{grid}.jsonl"
        count = run_grid(base, args.preset, jobs, path, run=run_one, command=command, on_row=report)
        print(f"{grid}: {count} new row(s) in {path}")
    return 0


def cmd_select(args: argparse.Namespace, argv: list[str]) -> int:
    from tad.checks import check_experiment
    from tad.presets import with_noise
    from tad.reproduce import MAIN_SETTINGS, Job

    base, _ = _grid_base(args)
    if args.method not in ("dm", "mtt", "datm"):
        raise ValueError(f"unknown method {args.method!r}; choose from dm, mtt, datm.")
    base = replace(base, method=args.method)
    wanted = [s.strip() for s in args.settings.split(",") if s.strip()]
    settings = {Job("main", "dm", n).setting: n for n in MAIN_SETTINGS}
    unknown = [w for w in wanted if w not in settings]
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; choose from {', '.join(settings)}.")
    if args.validation_per_class < 1:
        raise ValueError("--validation-per-class must be at least 1.")
    if args.seeds < 1:
        raise ValueError("--seeds must be at least 1.")
    if base.data.train_per_class is None:
        raise ValueError(
            f"preset {args.preset} trains on the whole training set, so no images are left for a "
            "validation split; use a preset with a training subset, such as cifar10-cpu."
        )
    for w in wanted:
        check_experiment(with_noise(base, settings[w]))
    from tad.checkpoint import atomic_write_text
    from tad.config import to_dict
    from tad.device import resolve_device
    from tad.pipeline import prepare_data
    from tad.selection import (
        CANDIDATE_SETS,
        CRITERION,
        CandidateScore,
        score_candidate,
        to_json,
        validation_set,
    )

    candidates = CANDIDATE_SETS[args.candidates]
    suffix = "" if args.candidates == "outer" else f"-{args.candidates}"
    path = Path(args.results or f"results/{args.preset}-selection{suffix}.json")
    command = ["python", "-m", "tad", *argv]
    # An interrupted selection resumes: scores already in the file for this configuration are kept.
    scores: dict[str, list] = {w: [] for w in wanted}
    if path.is_file():
        old = json.loads(path.read_text())
        same = {"criterion": CRITERION, "validation_per_class": args.validation_per_class}
        same["base_config"] = json.loads(json.dumps(to_dict(base)))
        if all(old.get(k) == v for k, v in same.items()):
            for w, rows in old.get("settings", {}).items():
                if w in scores:
                    scores[w] = [CandidateScore(**row) for row in rows if row["name"] in candidates]
    device = resolve_device(args.device)
    experts_root = Path(args.out) / "experts"
    for w in wanted:
        for seed in range(args.seed, args.seed + args.seeds):
            config = replace(with_noise(base, settings[w]), seed=seed)
            done = {s.name for s in scores[w] if s.seed == seed}
            if all(name in done for name in candidates):
                continue
            nd = prepare_data(config)
            val = validation_set(config, nd.data, args.validation_per_class)
            for name, candidate in candidates.items():
                if name in done:
                    continue
                score = score_candidate(name, candidate, config, nd, val, device, experts_root)
                scores[w].append(score)
                print(
                    f"{w:<14} seed {seed} {name:<26} noisy-val {score.noisy_val_accuracy:5.1f}%  "
                    f"(clean-val {score.clean_val_accuracy:5.1f}%, reported only)",
                    flush=True,
                )
                payload = to_json(scores, base, args.validation_per_class, candidates)
                payload["command"] = command
                atomic_write_text(json.dumps(payload, indent=1), path)
    payload = to_json(scores, base, args.validation_per_class, candidates)
    payload["command"] = command
    atomic_write_text(json.dumps(payload, indent=1), path)
    print(f"chosen: {payload['chosen']}; written to {path}")
    return 0


def cmd_diagnose(args: argparse.Namespace, argv: list[str]) -> int:
    from tad.checks import check_experiment
    from tad.presets import with_noise
    from tad.reproduce import MAIN_SETTINGS, Job

    base, _ = _grid_base(args)
    base = replace(base, method="datm")
    settings = {Job("main", "datm", n).setting: n for n in MAIN_SETTINGS}
    wanted = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = [w for w in wanted if w not in settings]
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; choose from {', '.join(settings)}.")
    for w in wanted:
        check_experiment(with_noise(base, settings[w]))
    if args.separability:
        return _separability(args, argv, base, {w: settings[w] for w in wanted})
    from tad import __version__
    from tad.config import to_dict
    from tad.device import resolve_device
    from tad.diagnose import Diagnosis, factorial_arms
    from tad.pipeline import machine_description
    from tad.reproduce import append_result, read_results

    device = resolve_device(args.device)
    path = Path(args.results or f"results/{args.preset}-diagnosis.jsonl")
    command = ["python", "-m", "tad", *argv]
    for w in wanted:
        config = replace(with_noise(base, settings[w]), name=f"{args.preset}-diagnosis-{w}")
        diagnosis = None
        # The oracle and the arms without the consistency term first: a grid run beside this one trains
        # the default TAD experts meanwhile, and the arms that need them find them saved.
        arms = sorted(
            factorial_arms(oracle=not args.no_oracle), key=lambda a: (a.name != "oracle", a.consistency)
        )
        for arm in arms:
            if arm.trajectories == "oracle" and w == "clean":
                continue  # on clean labels the oracle is vanilla DATM
            key = f"{args.preset}|diagnosis|{w}|{arm.name}|ipc{base.ipc}|seed{base.seed}"
            if key in {row["key"] for row in read_results(path)}:
                continue
            if diagnosis is None:
                diagnosis = Diagnosis(config, device=device, experts_root=Path(args.out) / "experts")
            start = time.perf_counter()
            row = diagnosis.run_arm(arm)
            row.update(
                key=key,
                setting=w,
                preset=args.preset,
                ipc=base.ipc,
                seed=base.seed,
                command=command,
                machine=machine_description(str(device)),
                wall_time_s=time.perf_counter() - start,
                package_version=__version__,
                config=to_dict(config),
            )
            append_result(path, row)
            print(f"{w:<14} {arm.name:<44} {row['acc_mean']:5.1f} ± {row['acc_std']:.1f}", flush=True)
    print(f"diagnosis rows in {path}")
    return 0


def _separability(args: argparse.Namespace, argv: list[str], base, settings: dict) -> int:
    from tad import __version__
    from tad.checkpoint import atomic_write_text
    from tad.config import to_dict
    from tad.device import resolve_device
    from tad.diagnose import Diagnosis, separability
    from tad.presets import with_noise

    path = Path(args.results or f"results/{args.preset}-separability.json")
    payload = json.loads(path.read_text()) if path.is_file() else {"settings": {}}
    payload["command"] = ["python", "-m", "tad", *argv]
    device = resolve_device(args.device)
    for w, noise in settings.items():
        if w in payload["settings"]:
            continue
        config = with_noise(base, noise)
        diagnosis = Diagnosis(config, device=device, experts_root=Path(args.out) / "experts")
        nd = diagnosis.nd
        experts = diagnosis.experts("vanilla")
        payload["settings"][w] = {
            "clean_share": float((nd.noisy_labels == nd.clean_labels).float().mean()),
            "experts": [separability(e, config, nd) for e in experts],
            "config": to_dict(config),
            "package_version": __version__,
        }
        atomic_write_text(json.dumps(payload, indent=1), path)
        last = payload["settings"][w]["experts"][0][-1]
        aucs = ", ".join(
            f"{k[4:]} {v:.3f}" for k, v in last.items() if k.startswith("auc_") and v is not None
        )
        split = sum(e["split"] for e in last["evidence"])
        print(
            f"{w:<14} last epoch: accuracy on true labels {last['true_label_accuracy']:.3f}; "
            f"AUC {aucs or 'n/a (one kind of label)'}; evidence test splits {split} classes",
            flush=True,
        )
    print(f"separability in {path}")
    return 0


def cmd_gpu_check(args: argparse.Namespace, argv: list[str]) -> int:
    from tad.presets import get_preset

    preset = get_preset(args.preset)
    if preset.method not in ("mtt", "datm"):
        raise ValueError(
            f"the GPU check runs trajectory matching; choose a datm-* or mtt-* preset, not {args.preset}."
        )
    for name in ("experts", "expert_epochs", "iterations", "eval_epochs"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1.")
    from tad.checks import check_data_available
    from tad.device import resolve_device

    device = resolve_device(args.device)  # a CUDA check without CUDA stops here, in seconds
    check_data_available(replace(preset.data, data_root=args.data_root))
    from tad.checkpoint import atomic_write_text
    from tad.gpucheck import format_report, run_check

    report = run_check(
        args.preset,
        data_root=args.data_root,
        device=device,
        experts=args.experts,
        expert_epochs=args.expert_epochs,
        iterations=args.iterations,
        eval_epochs=args.eval_epochs,
        train_per_class=args.train_per_class,
        syn_steps=args.syn_steps,
        progress=lambda line: print(line, flush=True),
    )
    payload = {
        **report.to_dict(),
        "command": ["python", "-m", "tad", *argv],
        "date": time.strftime("%Y-%m-%d"),
    }
    atomic_write_text(json.dumps(payload, indent=1), Path(args.out))
    print(format_report(report))
    print(f"report: {args.out}")
    return 0 if report.passed else 1


COMMANDS = {
    "run": cmd_run,
    "reproduce": cmd_reproduce,
    "select": cmd_select,
    "diagnose": cmd_diagnose,
    "gpu-check": cmd_gpu_check,
}


def _check_outputs(args: argparse.Namespace) -> None:
    """Every folder a command will write into can be created: one sentence now, not a traceback later."""
    from tad.checks import check_writable

    out = getattr(args, "out", None)
    if out is not None:
        # gpu-check's --out is a report file; every other --out is a folder
        check_writable(Path(out).parent if args.command == "gpu-check" else out, "--out")
    results = getattr(args, "results", None)
    if results is not None:
        check_writable(Path(results).parent, "--results")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["run", *argv]
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.command not in COMMANDS:
        build_parser().print_help()
        return 2
    try:
        _check_outputs(args)
        return COMMANDS[args.command](args, argv)
    except ValueError as err:
        sys.stderr.write(f"tad: error: {err}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("\ntad: interrupted; finished stages are saved, rerun the same command to resume.\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
