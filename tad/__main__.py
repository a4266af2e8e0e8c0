"""The command line: ``python -m tad run ...`` (and ``reproduce``, ``select``, ``diagnose``, ``gpu-check``).

Each command parses (:mod:`tad.cli`), builds and checks its configuration
(:mod:`tad.cli_config`), resolves the device once, then calls the library and prints what it
reports. Bad input stops with one sentence before any compute starts.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from tad.cli import build_parser
from tad.cli_config import (
    check_gpu_check_args,
    check_outputs,
    command_line,
    config_from_args,
    diagnose_plan,
    reproduce_plan,
    select_plan,
)
from tad.distributed import LaunchError


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


def _device(args: argparse.Namespace, preset: str | None):
    """The torch device the user asked for, refused at once if the preset cannot run on it."""
    from tad.device import resolve_device
    from tad.presets import check_preset_device

    device = resolve_device(args.device)
    check_preset_device(preset, device, explicit=args.device != "auto")
    return device


def _join(device):
    """This process's place under torchrun (a world of one without it), its device, joined to the others.

    ``run_experiment`` and ``run_grid`` check that the ranks agree on their configuration.
    """
    from tad import distributed

    world = distributed.current()
    device = distributed.device_for(world, device)
    distributed.start(world, device)
    return world, device


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from tad.checks import check_experiment

    config = config_from_args(args)
    check_experiment(config)  # before torch is even imported: bad input fails in a moment
    device = _device(args, args.preset)
    import matplotlib

    matplotlib.use("Agg")
    from tad.pipeline import run_experiment
    from tad.results import format_table, write_outputs

    world, device = _join(device)
    out_dir = Path(args.out) / config.name
    ranks = f" x {world.size} ranks" if world.distributed else ""
    if not world.is_main:  # rank 0 alone reports and writes the outputs; the others work
        run_experiment(config, device=device, out_dir=out_dir, world=world)
        return 0
    print(
        f"tad {config.name}: {config.data.dataset}, {config.noise.kind} noise, IPC {config.ipc}, "
        f"{config.method.upper()}, arms {', '.join(config.arms)}, on {device}{ranks}",
        flush=True,
    )
    result = run_experiment(config, device=device, out_dir=out_dir, progress=StageBars(), world=world)
    payload = write_outputs(result, out_dir, command_line(argv))
    print(
        f"realised noise rate {100 * result.noise.realised_rate:.1f}%; wall time {result.wall_time_s:.0f} s"
    )
    print(format_table(payload))
    print(f"results: {out_dir / 'results.json'}\nimages:  {out_dir / 'synthetic.png'} (and synthetic.npz)")
    return 0


def cmd_reproduce(args: argparse.Namespace, argv: list[str]) -> int:
    base, plan = reproduce_plan(args)
    device = _device(args, args.preset)
    from tad import distributed
    from tad.pipeline import run_experiment
    from tad.reproduce import run_grid

    command = command_line(argv)
    world, device = _join(device)
    rank = f"[rank {world.rank}] " if world.distributed else ""

    def run_one(config) -> dict:
        print(f"{rank}-- {config.name}", flush=True)
        out_dir = Path(args.out) / config.name
        return run_experiment(config, device=device, out_dir=out_dir, progress=StageBars()).to_json(
            command=command
        )

    def report(row: dict) -> None:
        accs = ", ".join(f"{a} {r['acc_mean']:.1f}±{r['acc_std']:.1f}" for a, r in row["arms"].items())
        where = f"{rank}   {row['method']} {row['setting']} {row['variant']}"
        print(f"{where}: {accs} ({row['wall_time_s']:.0f} s)", flush=True)

    for grid, jobs in plan.items():
        path = args.results or f"results/{args.preset}-{grid}.jsonl"
        count = run_grid(
            base, args.preset, jobs, path, run=run_one, command=command, on_row=report, world=world
        )
        total = sum(distributed.gather(world, count))
        if world.is_main:
            print(f"{grid}: {total} new row(s) in {path}")
    return 0


def cmd_select(args: argparse.Namespace, argv: list[str]) -> int:
    base, settings = select_plan(args)
    device = _device(args, args.preset)
    from tad.selection import CANDIDATE_SETS, run_selection

    def report(setting: str, score) -> None:
        print(
            f"{setting:<14} seed {score.seed} {score.name:<26} noisy-val {score.noisy_val_accuracy:5.1f}%  "
            f"(clean-val {score.clean_val_accuracy:5.1f}%, reported only)",
            flush=True,
        )

    suffix = "" if args.candidates == "outer" else f"-{args.candidates}"
    path = Path(args.results or f"results/{args.preset}-selection{suffix}.json")
    selection = run_selection(
        base,
        settings,
        CANDIDATE_SETS[args.candidates],
        seeds=range(args.seed, args.seed + args.seeds),
        validation_per_class=args.validation_per_class,
        device=device,
        path=path,
        experts_root=Path(args.out) / "experts",
        command=command_line(argv),
        on_score=report,
    )
    print(f"chosen: {selection.chosen}; written to {path}")
    return 0


def cmd_diagnose(args: argparse.Namespace, argv: list[str]) -> int:
    base, settings = diagnose_plan(args)
    device = _device(args, args.preset)
    studies = ("separability", "recall", "noise_rate", "peer_division")
    side = next((kind for kind in studies if getattr(args, kind)), None)
    if side is not None:
        return _side_study(args, argv, base, settings, device, side)
    from tad.diagnosis_runs import run_diagnosis

    def report(row: dict) -> None:
        line = f"{row['setting']:<14} {row['arm']:<44} {row['acc_mean']:5.1f} ± {row['acc_std']:.1f}"
        print(line, flush=True)

    path = Path(args.results or f"results/{args.preset}-diagnosis.jsonl")
    run_diagnosis(
        base,
        args.preset,
        settings,
        path,
        device=device,
        experts_root=Path(args.out) / "experts",
        oracle=not args.no_oracle,
        command=command_line(argv),
        on_row=report,
    )
    print(f"diagnosis rows in {path}")
    return 0


def _separability_line(setting: str, entry: dict) -> str:
    last = entry["experts"][0][-1]  # the first expert's last epoch
    aucs = ", ".join(f"{k[4:]} {v:.3f}" for k, v in last.items() if k.startswith("auc_") and v is not None)
    split = sum(e["split"] for e in last["evidence"])
    return (
        f"{setting:<14} last epoch: accuracy on true labels {last['true_label_accuracy']:.3f}; "
        f"AUC {aucs or 'n/a (one kind of label)'}; evidence test splits {split} classes"
    )


def _recall_line(setting: str, entry: dict) -> str:
    first = entry["experts"][0]
    top = next(r for r in first["ranked"] if r["share"] == 0.05)
    accuracy = "n/a" if top["pseudo_label_accuracy"] is None else f"{top['pseudo_label_accuracy']:.2f}"
    return (
        f"{setting:<14} expert 0: trusted share {first['trusted_share']:.2f}"
        + (
            ""
            if first.get("trusted_precision") is None
            else f" at precision {first['trusted_precision']:.2f}"
        )
        + f"; maturity {first['maturity']:.2f} (gate γ = {first['gamma']}); "
        f"recalls {first['recalled_gated']} gated, {first['recalled_ungated']} ungated; "
        f"top 5% of the untrusted space: pseudo-label accuracy {accuracy}"
    )


def _noise_rate_line(setting: str, entry: dict) -> str:
    def mean(values: list) -> float:
        return sum(values) / len(values)

    def estimate(e: dict) -> str:
        return f"{mean([v for v in e['estimated'] if v is not None]):.2f}"

    parts = [
        f"{kind} experts estimate {estimate(e)}"
        + (f" (corrected {estimate(e['corrected'])})" if "corrected" in e else "")
        for kind, e in entry.items()
        if kind in ("vanilla", "tad")
    ]
    return f"{setting:<14} true share of wrong labels {mean(entry['vanilla']['true']):.2f}; " + "; ".join(
        parts
    )


def _peer_division_line(setting: str, entry: dict) -> str:
    def final(mode: str, key: str) -> str:
        values = [e["final"][key] for e in entry[mode]["experts"]]
        return "n/a" if None in values else f"{sum(values) / len(values):.3f}"

    modes = "; ".join(
        f"{mode}: trusted share {final(mode, 'trusted_fraction')} at precision {final(mode, 'precision')}"
        for mode in ("own", "peer")
    )
    return f"{setting:<14} right labels {entry['clean_share']:.3f}; {modes}"


def _side_study(args: argparse.Namespace, argv: list[str], base, settings: dict, device, kind: str) -> int:
    """``diagnose --separability``, ``--recall``, ``--noise-rate`` or ``--peer-division``: one JSON file
    per study, a line per setting."""
    from tad import diagnosis_runs

    line, title = {
        "separability": (_separability_line, "separability"),
        "recall": (_recall_line, "recall diagnosis"),
        "noise_rate": (_noise_rate_line, "noise-rate diagnosis"),
        "peer_division": (_peer_division_line, "peer-division diagnosis"),
    }[kind]
    path = Path(args.results or f"results/{args.preset}-{kind.replace('_', '-')}.json")
    diagnosis_runs.run_side_study(
        kind,
        base,
        settings,
        path,
        device=device,
        experts_root=Path(args.out) / "experts",
        command=command_line(argv),
        on_setting=lambda setting, entry: print(line(setting, entry), flush=True),
    )
    print(f"{title} in {path}")
    return 0


def cmd_gpu_check(args: argparse.Namespace, argv: list[str]) -> int:
    from dataclasses import replace

    from tad.presets import get_preset

    check_gpu_check_args(args)
    preset = get_preset(args.preset)
    if preset.method not in ("mtt", "datm"):
        raise ValueError(
            f"the GPU check runs trajectory matching; choose a datm-* or mtt-* preset, not {args.preset}."
        )
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
        full_train_images=args.full_train_images,
        progress=lambda line: print(line, flush=True),
    )
    payload = {**report.to_dict(), "command": command_line(argv), "date": time.strftime("%Y-%m-%d")}
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
        check_outputs(args)
        _check_launcher(args.command)
        return COMMANDS[args.command](args, argv)
    except (ValueError, LaunchError) as err:
        sys.stderr.write(f"tad: error: {err}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("\ntad: interrupted; finished stages are saved, rerun the same command to resume.\n")
        return 130
    finally:
        if "tad.distributed" in sys.modules:
            sys.modules["tad.distributed"].stop()


def _check_launcher(command: str) -> None:
    """Under torchrun, only the commands that share their work across ranks may run."""
    from tad.distributed import current

    if current().distributed and command not in ("run", "reproduce"):
        raise ValueError(
            f"{command} runs in one process; start it without torchrun (run and reproduce share their work "
            "across torchrun's ranks)."
        )


if __name__ == "__main__":
    raise SystemExit(main())
