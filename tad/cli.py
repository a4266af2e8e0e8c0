"""The command line's parser (``python -m tad ...``): subcommands, their options and help.

Each subcommand has the few options a reader uses every day; every other field of
:class:`~tad.config.ExperimentConfig` is reached with repeatable ``--set section.key=value``
overrides. What the options become is :mod:`tad.cli_config`; the commands are ``tad.__main__``.
"""

from __future__ import annotations

import argparse
import sys

from tad.variants import CANDIDATE_SETS

GRIDS = ("main", "ablations", "high-noise", "long")

RUN_HELP = """Run one experiment: the random, vanilla, TAD and clean arms side by side.

Examples:
  python -m tad run                                   # digits, 40% pair-flip noise, IPC 10 (make demo)
  python -m tad run --noise symmetric --rate 0.4
  python -m tad run --dataset cifar10 --data-root ../shared/data/cifar10 \\
      --train-per-class 500 --noise symmetric --rate 0.4 --ipc 10 --method dm
  python -m tad run --set expert.epochs=10 --set trust.lambda_cons=0.5 --set eval.num_eval=2
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


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr rather than usage plus error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"tad: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def _add_set_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="change any other setting, such as trust.lambda_cons=0.5 or expert.epochs=10; repeatable "
        "(a wrong key lists the valid ones) (default: none)",
    )


def _add_run_options(p: argparse.ArgumentParser) -> None:
    d = "(default: %(default)s)"
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="digits", help=f"digits, cifar10, cifar100 or tinyimagenet {d}")
    g.add_argument(
        "--data-root", default=None, help="folder holding cifar-10-batches-py etc. (default: none)"
    )
    g.add_argument(
        "--train-per-class", type=int, default=None, help="class-balanced subset (default: preset)"
    )
    g.add_argument("--download", action="store_true", help="let torchvision fetch CIFAR (default: off)")
    g = p.add_argument_group("label noise")
    g.add_argument("--noise", default="pairflip", help=f"clean, symmetric, asymmetric, pairflip or real {d}")
    g.add_argument("--rate", type=float, default=None, help="flip probability (default: 0.4 if synthetic)")
    g.add_argument(
        "--real-labels",
        default=None,
        help="with --noise real: aggre, rand1, rand2, rand3, worse or noisy100 (default: aggre)",
    )
    g.add_argument("--label-file", default=None, help="CIFAR-10N/100N .pt file (default: near --data-root)")
    g = p.add_argument_group("experiment")
    g.add_argument(
        "--preset", default=None, help="compute scale: digits, cifar10-cpu, ... (default: by dataset)"
    )
    g.add_argument("--method", default=None, help="base distiller: dm, mtt or datm (default: the preset's)")
    g.add_argument("--ipc", type=int, default=None, help="synthetic images per class (default: the preset's)")
    g.add_argument("--arms", default="random,vanilla,tad,clean", help=f"comma-separated arms {d}")
    g.add_argument(
        "--seed",
        type=int,
        default=0,
        help=f"seed of experts, distillation, evaluation (noise: noise.seed) {d}",
    )
    g.add_argument("--device", default="auto", help=f"auto, cpu, cuda, cuda:1, mps {d}")
    g.add_argument("--out", default="runs", help=f"folder for results {d}")
    _add_set_option(g)


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
    _add_set_option(p)


def _add_reproduce_options(p: argparse.ArgumentParser) -> None:
    _add_grid_options(p)
    p.add_argument("--grid", default="main", help=f"{', '.join(GRIDS)} or all (default: %(default)s)")
    p.add_argument("--only", default=None, help="run only these settings, e.g. symmetric-40,cifar10n-rand1")
    p.add_argument("--variant", default=None, help="run only this ablation variant (default: all)")


def _add_select_options(p: argparse.ArgumentParser) -> None:
    _add_grid_options(p, methods=False)
    d = "(default: %(default)s)"
    p.add_argument("--settings", default="symmetric-40,pairflip-40", help=f"noise settings to average {d}")
    p.add_argument(
        "--validation-per-class", type=int, default=500, help=f"unused training images per class {d}"
    )
    p.add_argument("--method", default="dm", help=f"base distiller whose distilled set is scored {d}")
    p.add_argument("--seeds", type=int, default=3, help=f"seeds per setting, from --seed on {d}")
    p.add_argument("--candidates", default="outer", choices=tuple(CANDIDATE_SETS), help=f"candidate set {d}")


def _add_diagnose_options(p: argparse.ArgumentParser) -> None:
    _add_grid_options(p, methods=False)
    p.add_argument(
        "--settings",
        default="pairflip-40,symmetric-40,clean",
        help="one diagnosis each (default: %(default)s)",
    )
    p.add_argument("--no-oracle", action="store_true", help="skip the oracle arm (default: run it)")
    p.add_argument(
        "--separability",
        action="store_true",
        help="instead of the factorial: how well per-sample scores of vanilla experts separate clean "
        "from mislabelled samples, per epoch (results/<preset>-separability.json) (default: off)",
    )
    p.add_argument(
        "--recall",
        action="store_true",
        help="instead of the factorial: how often the inner loop's pseudo-labels of the TAD experts' "
        "untrusted samples are right, most reliable first (results/<preset>-recall.json) (default: off)",
    )
    p.add_argument(
        "--noise-rate",
        action="store_true",
        help="instead of the factorial: how well the vanilla and TAD experts' ensembles estimate each "
        "class's share of wrong labels (results/<preset>-noise-rate.json) (default: off)",
    )
    p.add_argument(
        "--peer-division",
        action="store_true",
        help="instead of the factorial: two TAD experts trained side by side, dividing by their own "
        "scores or by each other's (results/<preset>-peer-division.json) (default: off)",
    )


def _add_gpu_check_options(p: argparse.ArgumentParser) -> None:
    d = "(default: %(default)s)"
    p.add_argument("--preset", default="datm-cifar10-ipc10", help=f"a datm-* or mtt-* preset {d}")
    p.add_argument("--data-root", default=None, help="folder holding the dataset (required for CIFAR)")
    p.add_argument("--device", default="cuda", help=f"cuda, cuda:1, mps or cpu {d}")
    p.add_argument("--experts", type=int, default=2, help=f"experts per kind {d}")
    p.add_argument("--expert-epochs", type=int, default=2, help=f"epochs per expert {d}")
    p.add_argument("--iterations", type=int, default=50, help=f"DATM iterations {d}")
    p.add_argument("--eval-epochs", type=int, default=5, help=f"evaluation epochs {d}")
    p.add_argument("--train-per-class", type=int, default=None, help="a subset, for tests (default: all)")
    p.add_argument("--syn-steps", type=int, default=None, help="inner steps (default: the preset's)")
    p.add_argument(
        "--full-train-images",
        type=int,
        default=None,
        help="training images the projection assumes when --data-root holds only part of the training "
        "set; expert epochs are scaled by the ratio (default: the images loaded)",
    )
    p.add_argument("--out", default="runs/gpu-check.json", help=f"report file {d}")


SUBCOMMANDS = {
    "run": ("run one experiment", RUN_HELP, _add_run_options),
    "reproduce": ("run a grid of settings into a results file", REPRODUCE_HELP, _add_reproduce_options),
    "select": ("choose TAD's hyper-parameters on a noisy validation split", SELECT_HELP, _add_select_options),
    "diagnose": ("which pathway of DATM + TAD moves accuracy", DIAGNOSE_HELP, _add_diagnose_options),
    "gpu-check": (
        "time a cut-down official preset and project the full run",
        GPU_CHECK_HELP,
        _add_gpu_check_options,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m tad", description="Trust-Aware Diversion for dataset distillation.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name, (summary, description, add_options) in SUBCOMMANDS.items():
        p = sub.add_parser(
            name, help=summary, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        add_options(p)
    return parser


__all__ = ["GRIDS", "SUBCOMMANDS", "build_parser"]
