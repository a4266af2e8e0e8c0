"""Move a grid's rows to a folder of earlier results and forget their TAD stages, so that they run again.

After TAD's defaults change, ``reproduce`` would skip rows already in the results file. This moves the
rows of the named settings to ``--to`` (kept for comparison, with a README there saying why) and removes
the TAD stages (trust state, the tad arm, its distillation checkpoint) from their run folders; the
random, vanilla and clean arms do not depend on TAD's settings and stay cached.

    python scripts/retire_rows.py --results results/cifar10-cpu-main.jsonl --only pairflip-40 --to results/v3
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

TAD_STAGES = ("trust.pt", "arm-tad.pt", "distill-tad.pt", "synthetic-tad.pt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True)
    parser.add_argument("--only", required=True, help="comma-separated settings")
    parser.add_argument("--to", required=True, help="folder for the retired rows")
    parser.add_argument("--runs", default="runs")
    args = parser.parse_args()
    wanted, path = set(args.only.split(",")), Path(args.results)
    rows = [(line, json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
    retire = [(line, row) for line, row in rows if row["setting"] in wanted]
    target = Path(args.to) / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a") as out:
        out.writelines(line + "\n" for line, _ in retire)
    path.write_text("".join(line + "\n" for line, row in rows if row["setting"] not in wanted))
    for _, row in retire:
        for stage in TAD_STAGES:
            (Path(args.runs) / row["config"]["name"] / "state" / stage).unlink(missing_ok=True)
        print(f"retired {row['key']}")


if __name__ == "__main__":
    main()
