"""Run notebook 5 with papermill for a list of settings: one executed notebook and one results line each.

Meant for a GPU machine (or Colab) at the scale of a GPU preset, for example:

    python scripts/papermill_grid.py --preset colab-cifar10-ipc10 --dataset cifar10 \\
        --data-root /content/data --settings symmetric-40,pairflip-40 --methods datm

For every (setting, method) it executes ``notebooks/05_reproduction.py`` into
``<out>/<preset>-<method>-<setting>-ipc<k>-s<seed>.ipynb`` and appends the run's results to the results file
(default ``results/<preset>-papermill.jsonl``) in the format of ``python -m tad reproduce``, which the
results page reads. A setting already in the results file is skipped, and an interrupted notebook resumes
from its saved stages (``<out>/runs``), so rerunning the same command continues where it stopped.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "05_reproduction.py"


def _build_book():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def notebook_parameters(noise, args: argparse.Namespace, method: str, runs: Path) -> dict:
    """Notebook 5's parameters for one noise setting (the names of its cell tagged ``parameters``)."""
    params = {
        "dataset": args.dataset,
        "data_root": args.data_root,
        "preset": args.preset,
        "method": method,
        "noise": noise.kind,
        "rate": noise.rate,
        "ipc": args.ipc,
        "seed": args.seed,
        "device": args.device,
        "runs_dir": str(runs),
        "results_file": str(runs / f"{noise.name}-{method}-results.json"),
    }
    if noise.kind == "real":
        params["real_labels"] = noise.real_labels
    for name in ("num_experts", "expert_epochs", "tm_iterations", "dm_iterations", "eval_epochs", "num_eval"):
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    if args.arms:
        params["arms"] = args.arms
    return params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--preset", required=True, help="e.g. colab-cifar10-ipc10, datm-cifar10-ipc10, digits"
    )
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--settings", required=True, help="comma-separated, e.g. symmetric-40,pairflip-40")
    parser.add_argument("--methods", default="datm", help="comma-separated base distillers (default: datm)")
    parser.add_argument("--ipc", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--arms", default=None, help="e.g. vanilla,tad,clean (default: the notebook's)")
    parser.add_argument("--out", default="runs/papermill", help="executed notebooks and run folders")
    parser.add_argument("--results", default=None, help="default: results/<preset>-papermill.jsonl")
    parser.add_argument("--timeout", type=int, default=48 * 3600, help="seconds per notebook cell")
    # shrinking knobs for a smoke test (tests/test_papermill_grid.py); a real run leaves them unset
    for name in ("num-experts", "expert-epochs", "tm-iterations", "dm-iterations", "eval-epochs", "num-eval"):
        parser.add_argument(f"--{name}", type=int, default=None)
    args = parser.parse_args(argv)

    from tad.presets import get_preset
    from tad.reproduce import Job, append_result, named_settings, read_results, result_row

    get_preset(args.preset)  # an unknown preset fails before anything runs
    try:
        settings = named_settings([s.strip() for s in args.settings.split(",") if s.strip()])
    except ValueError as err:
        raise SystemExit(str(err)) from None
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if any(m not in ("dm", "mtt", "datm") for m in methods):
        raise SystemExit(f"unknown method in {args.methods!r}; choose from dm, mtt, datm.")
    results = Path(args.results or ROOT / "results" / f"{args.preset}-papermill.jsonl")
    out = Path(args.out)
    runs = out / "runs"
    build_book = _build_book()
    command = ["python", "scripts/papermill_grid.py", *(argv if argv is not None else sys.argv[1:])]
    for method in methods:
        for setting, noise in settings.items():
            job = Job("papermill", method, noise)
            key = job.key(args.preset, args.ipc, args.seed)
            if key in {row["key"] for row in read_results(results)}:
                print(f"{key}: in {results} already, skipped", flush=True)
                continue
            name = f"{args.preset}-{method}-{setting}-ipc{args.ipc}-s{args.seed}"
            params = notebook_parameters(noise, args, method, runs)
            print(f"{key}: executing {out / (name + '.ipynb')}", flush=True)
            start = time.perf_counter()
            build_book.execute(NOTEBOOK, out / f"{name}.ipynb", params, timeout=args.timeout)
            payload = json.loads(Path(params["results_file"]).read_text())
            row = result_row(job, key, args.preset, payload, command, time.perf_counter() - start)
            append_result(results, row)
            accs = {arm: round(r["acc_mean"], 1) for arm, r in payload["arms"].items()}
            print(f"{key}: {accs}", flush=True)
    print(f"results: {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
