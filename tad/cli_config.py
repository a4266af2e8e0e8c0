"""What the command line's options ask for: checked configurations and plans, before any compute.

The options are shorthands for configuration keys and are applied, together with the repeatable
``--set section.key=value`` overrides, by :func:`tad.fields.apply_overrides`. An override of a
key that an option or the command itself sets is refused, so that no option silently does
nothing. Everything here is cheap: bad input stops with one sentence before torch is imported.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from pathlib import Path

from tad.checks import check_experiment, check_writable
from tad.cli import GRIDS
from tad.config import ExperimentConfig, NoiseConfig, apply_overrides, replace
from tad.fields import override_keys
from tad.presets import get_preset, preset_for, with_noise
from tad.reproduce import ABLATIONS, Job, grid_jobs, named_settings
from tad.variants import CANDIDATE_SETS

METHODS = ("dm", "mtt", "datm")

# Keys that an option of `run` sets (the options are shorthands for them), and keys a grid sets per row.
RUN_OPTIONS = {
    "data.dataset": "use --dataset",
    "data.data_root": "use --data-root",
    "data.train_per_class": "use --train-per-class",
    "data.download": "use --download",
    "noise.kind": "use --noise",
    "noise.rate": "use --rate",
    "noise.real_labels": "use --real-labels",
    "noise.label_file": "use --label-file",
    "method": "use --method",
    "ipc": "use --ipc",
    "arms": "use --arms",
    "seed": "use --seed",
}
GRID_OPTIONS = {
    "noise": "each row has its own noise setting; choose settings with --only or --settings",
    "method": "use --methods",
    "arms": "each kind of row runs its own arms",
    "name": "each row names its own run",
    "seed": "use --seed",
    "ipc": "use --ipc",
    "data.data_root": "use --data-root",
}


def split_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [part.strip() for part in text.split(",") if part.strip()]


def check_overrides(overrides: Iterable[str], owned: dict[str, str]) -> None:
    """Refuse an override of a key (or of a key in a section) that an option or the command sets."""
    for key in sorted(override_keys(overrides)):
        for prefix, owner in owned.items():
            if key == prefix or key.startswith(prefix + "."):
                raise ValueError(f"--set cannot change {key}: {owner}.")


def _overrides(args: argparse.Namespace) -> list[str]:
    """The ``--set`` overrides given (none: an empty list)."""
    return list(args.overrides or [])


def _shorthands(values: dict[str, object]) -> list[str]:
    """Options as the overrides they stand for, leaving out the ones not given."""
    return [f"{key}={value}" for key, value in values.items() if value is not None]


def default_run_name(config: ExperimentConfig) -> str:
    """``digits-pairflip0.4-ipc10-dm-s0``. Run folders keep the rate as a fraction, unlike the setting
    names of the results files (``pairflip-40``): the committed digits results and their cached stages
    are named so."""
    n = config.noise
    noise = (
        n.kind
        if n.kind == "clean"
        else (f"real-{n.real_labels}" if n.kind == "real" else f"{n.kind}{n.rate:g}")
    )
    return f"{config.data.dataset}-{noise}-ipc{config.ipc}-{config.method}-s{config.seed}"


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """The experiment of ``python -m tad run``: the preset, the noise, the options, then ``--set``."""
    check_overrides(_overrides(args), RUN_OPTIONS)
    for flag, value in (("--real-labels", args.real_labels), ("--label-file", args.label_file)):
        if value is not None and args.noise != "real":
            raise ValueError(f"{flag} names human labels, so it needs --noise real.")
    base = preset_for(args.dataset, args.preset)
    synthetic = args.noise in ("symmetric", "asymmetric", "pairflip")
    rate = args.rate if args.rate is not None else (0.4 if synthetic else 0.0)
    noise = NoiseConfig(
        kind=args.noise, rate=rate, real_labels=args.real_labels or "aggre", label_file=args.label_file
    )
    options = {
        "data.dataset": args.dataset,
        "data.data_root": args.data_root,
        "data.train_per_class": args.train_per_class,
        "data.download": args.download or None,
        "method": args.method,
        "ipc": args.ipc,
        "arms": args.arms,
        "seed": args.seed,
    }
    # an official DATM preset takes DD_LNL's noisy-label settings, which --set may still change
    config = apply_overrides(with_noise(base, noise), [*_shorthands(options), *_overrides(args)])
    named = "name" in override_keys(_overrides(args))
    return config if named else replace(config, name=default_run_name(config))


def methods_from(text: str) -> tuple[str, ...]:
    methods = tuple(split_list(text))
    if not methods:
        raise ValueError("name at least one base distiller: dm, mtt or datm.")
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}.")
    return methods


def grid_base(args: argparse.Namespace, owned: dict[str, str] | None = None) -> ExperimentConfig:
    """The preset of a grid command with its options and ``--set`` applied (one base for every row)."""
    check_overrides(_overrides(args), {**GRID_OPTIONS, **(owned or {})})
    if (
        _overrides(args)
        and getattr(args, "results", "") is None
        and args.command in ("reproduce", "diagnose")
    ):
        raise ValueError(
            "results rows are keyed by preset, so a run changed with --set needs a results file of its "
            "own: add --results."
        )
    base = get_preset(args.preset)
    options = {"data.data_root": args.data_root or None, "seed": args.seed, "ipc": args.ipc}
    return apply_overrides(base, [*_shorthands(options), *_overrides(args)])


def reproduce_plan(args: argparse.Namespace) -> tuple[ExperimentConfig, dict[str, list[Job]]]:
    """The base and the jobs of each grid that ``python -m tad reproduce`` runs; every choice checked."""
    methods = methods_from(args.methods)
    grids = GRIDS if args.grid == "all" else (args.grid,)
    plan = {grid: grid_jobs(grid, methods) for grid in grids}
    if args.variant is not None:
        if args.variant not in ("full", *ABLATIONS):
            raise ValueError(f"unknown variant {args.variant!r}; choose from full, {', '.join(ABLATIONS)}.")
        if args.variant != "full" and "ablations" not in grids:
            raise ValueError(f"--variant {args.variant} is an ablation: add --grid ablations.")
        plan = {grid: [j for j in jobs if j.variant == args.variant] for grid, jobs in plan.items()}
    if args.only is not None:
        wanted = split_list(args.only)
        known = list(dict.fromkeys(j.setting for jobs in plan.values() for j in jobs))
        unknown = [w for w in wanted if w not in known]
        if unknown or not wanted:
            raise ValueError(f"--only names {unknown or 'nothing'}; {args.grid} runs {', '.join(known)}.")
        plan = {grid: [j for j in jobs if j.setting in wanted] for grid, jobs in plan.items()}
    jobs = [job for grid in plan.values() for job in grid]
    owned = {
        k: f"the {j.grid} grid's {j.variant} rows set it" for j in jobs for k in override_keys(j.overrides)
    }
    base = grid_base(args, owned)
    for job in jobs:
        check_experiment(job.config(base))  # every job is valid before the first one starts
    return base, plan


def select_plan(args: argparse.Namespace) -> tuple[ExperimentConfig, dict[str, NoiseConfig]]:
    """The base and the noise settings of ``python -m tad select``; every choice checked."""
    candidates = CANDIDATE_SETS[args.candidates]
    keys = {key for overrides in candidates.values() for key in override_keys(overrides)}
    owned = dict.fromkeys(keys, f"the candidates of {args.candidates} vary it")
    base = grid_base(args, {**owned, "method": "use --method"})
    if args.method not in METHODS:
        raise ValueError(f"unknown method {args.method!r}; choose from {', '.join(METHODS)}.")
    base = replace(base, method=args.method)
    settings = named_settings(split_list(args.settings))
    if not settings:
        raise ValueError("--settings names no noise setting.")
    if args.validation_per_class < 1:
        raise ValueError("--validation-per-class must be at least 1.")
    if args.seeds < 1:
        raise ValueError("--seeds must be at least 1.")
    if base.data.train_per_class is None:
        raise ValueError(
            f"preset {args.preset} trains on the whole training set, so no images are left for a "
            "validation split; use a preset with a training subset, such as cifar10-cpu, or "
            "--set data.train_per_class=N."
        )
    for noise in settings.values():
        check_experiment(with_noise(base, noise))
    return base, settings


def diagnose_plan(args: argparse.Namespace) -> tuple[ExperimentConfig, dict[str, NoiseConfig]]:
    """The base (DATM) and the noise settings of ``python -m tad diagnose``; every choice checked."""
    modes = {
        "--separability": args.separability,
        "--recall": args.recall,
        "--noise-rate": args.noise_rate,
        "--peer-division": args.peer_division,
    }
    asked_for = [mode for mode, asked in modes.items() if asked]
    if len(asked_for) > 1:
        raise ValueError(f"{' and '.join(asked_for)} are separate diagnoses; run them one at a time.")
    for mode, asked in modes.items():
        if not asked:
            continue
        for flag, given in (("--no-oracle", args.no_oracle), ("--ipc", args.ipc is not None)):
            if given:
                raise ValueError(f"{mode} trains experts only, so {flag} would do nothing.")
    owned = {
        "method": "the diagnosis runs DATM",
        "trust.lambda_cons": "the diagnosis switches the consistency term itself",
    }
    base = replace(grid_base(args, owned), method="datm")
    settings = named_settings(split_list(args.settings))
    if not settings:
        raise ValueError("--settings names no noise setting.")
    for noise in settings.values():
        check_experiment(with_noise(base, noise))
    return base, settings


def check_gpu_check_args(args: argparse.Namespace) -> None:
    for name in (
        "experts",
        "expert_epochs",
        "iterations",
        "eval_epochs",
        "train_per_class",
        "syn_steps",
        "full_train_images",
    ):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1.")


def check_outputs(args: argparse.Namespace) -> None:
    """Every folder a command will write into can be created: one sentence now, not a traceback later."""
    out = getattr(args, "out", None)
    if out is not None:
        # gpu-check's --out is a report file; every other --out is a folder
        check_writable(Path(out).parent if args.command == "gpu-check" else out, "--out")
    results = getattr(args, "results", None)
    if results is not None:
        check_writable(Path(results).parent, "--results")


def command_line(argv: Sequence[str]) -> list[str]:
    """The command as results files record it."""
    return ["python", "-m", "tad", *argv]


__all__ = [
    "check_outputs",
    "check_overrides",
    "command_line",
    "config_from_args",
    "default_run_name",
    "diagnose_plan",
    "grid_base",
    "reproduce_plan",
    "select_plan",
]
