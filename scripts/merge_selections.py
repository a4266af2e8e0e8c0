"""Merge selection files that ran the same candidates on different settings side by side.

A selection over several settings can run as one process per setting (two cores, two processes);
each writes its own file. This merges their scores into one file, which keeps, in ``notes``, the
command of every part. Rerunning ``python -m tad select`` with every setting on the merged file then
writes its summary (mean per candidate, the choice) and runs nothing, since every score is there.

    python scripts/merge_selections.py --out results/cifar10-cpu-selection-agreement.json \
        results/cifar10-cpu-selection-agreement-part1.json results/cifar10-cpu-selection-agreement-part2.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# what the parts must share for their scores to be comparable (common random numbers included)
SHARED = ("criterion", "validation_per_class", "candidates", "base_config")


def merge(parts: list[dict]) -> dict:
    """One payload holding every part's scores; refuses parts that differ in ``SHARED`` or overlap."""
    if not parts:
        raise ValueError("name at least one selection file to merge.")
    first = parts[0]
    merged = {key: first[key] for key in SHARED}
    merged["settings"], notes = {}, []
    for part in parts:
        for key in SHARED:
            if part[key] != first[key]:
                raise ValueError(f"the parts differ in {key}: their scores are not comparable.")
        for setting, scores in part["settings"].items():
            if setting in merged["settings"]:
                raise ValueError(f"setting {setting} is in more than one part.")
            merged["settings"][setting] = scores
        notes += part.get("notes", [])
        notes.append(f"scores of {', '.join(part['settings'])} made by: {' '.join(part['command'])}")
    merged["command"] = first["command"]
    notes.append(
        "merged by scripts/merge_selections.py; the summary was then written by rerunning the selection "
        "with every setting on this file (which ran nothing)"
    )
    merged["notes"] = notes
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the merged file")
    parser.add_argument("parts", nargs="+", help="selection files, one or more settings each")
    args = parser.parse_args()
    merged = merge([json.loads(Path(p).read_text()) for p in args.parts])
    Path(args.out).write_text(json.dumps(merged, indent=1))
    print(f"{args.out}: {', '.join(merged['settings'])}")


if __name__ == "__main__":
    main()
