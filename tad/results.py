"""The results of runs and grids: the files one run writes, and the tables of the results files.

A run (``python -m tad run``) writes ``results.json`` and its synthetic images
(:func:`write_outputs`) and prints :func:`format_table`. The tables take the rows of a
JSON-lines results file (``tad.reproduce``) and return a pandas DataFrame; nothing is
computed that the rows do not hold. The issue's targets are :mod:`tad.targets`; the side
studies (diagnosis, separability, selection) are :mod:`tad.study_tables`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

SETTING_ORDER = (
    "clean",
    "symmetric-20",
    "symmetric-40",
    "symmetric-60",
    "symmetric-80",
    "asymmetric-20",
    "asymmetric-40",
    "pairflip-20",
    "pairflip-40",
    "cifar10n-aggre",
    "cifar10n-rand1",
)
ARM_ORDER = ("random", "vanilla", "tad", "clean")


def locate(folder: str | Path, *, start: str | Path | None = None) -> Path:
    """``folder`` under the working directory (or ``start``), or under the nearest parent that has it.

    A notebook's kernel starts in the notebook's own folder (``notebooks/``), a papermill run in the
    repository root: both find the repository's ``results/`` this way.
    """
    here = Path(start or Path.cwd()).resolve()
    for base in (here, *here.parents):
        if (base / folder).is_dir():
            return base / folder
    raise FileNotFoundError(
        f"no folder {folder} in {here} or above it; run from the repository (a Colab runtime: run the "
        "notebook's first cell, which clones it)."
    )


def required_file(folder: Path, name: str, command: str) -> Path:
    """``folder / name``, or an error that names the command producing it (never an empty table)."""
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; produce it with: {command}")
    return path


def plus_minus(mean: float, std: float) -> str:
    """``"52.3 ± 1.4"``"""
    return f"{mean:.1f} ± {std:.1f}"


def grid_frame(rows: list[dict]) -> pd.DataFrame:
    """One line per (method, setting, arm): accuracies on the whole and the exact test set."""
    records = []
    for row in rows:
        noise = row["noise"]
        rate = 0.0 if noise["kind"] == "clean" else noise.get("rate", 0.0)
        for arm, r in row["arms"].items():
            records.append(
                {
                    "method": row["method"].upper(),
                    "setting": row["setting"],
                    "variant": row.get("variant", "full"),
                    "kind": noise["kind"],
                    "rate": rate,
                    "realised_rate": row["realised_noise_rate"],
                    "arm": arm,
                    "acc_mean": r["acc_mean"],
                    "acc_std": r["acc_std"],
                    "exact_acc_mean": r.get("exact_acc_mean"),
                    "exact_acc_std": r.get("exact_acc_std"),
                }
            )
    return pd.DataFrame.from_records(records)


def _pivot(frame: pd.DataFrame, mean: str, std: str) -> pd.DataFrame:
    if frame.empty:
        return frame
    frame = frame.assign(cell=[plus_minus(m, s) for m, s in zip(frame[mean], frame[std], strict=True)])
    table = frame.pivot_table(index=["method", "arm"], columns="setting", values="cell", aggfunc="first")
    columns = [s for s in SETTING_ORDER if s in table.columns]
    order = [(m, a) for m in sorted(frame["method"].unique()) for a in ARM_ORDER if (m, a) in table.index]
    return table.loc[order, columns].fillna("")


def accuracy_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows (method, arm), columns settings: accuracy on all test images, mean ± std."""
    return _pivot(frame, "acc_mean", "acc_std")


def exact_accuracy_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The same on the exact test subset (test images 0-999 of the local CIFAR-10 copy)."""
    if frame.empty or frame["exact_acc_mean"].isna().all():
        return pd.DataFrame()
    return _pivot(frame.dropna(subset=["exact_acc_mean"]), "exact_acc_mean", "exact_acc_std")


def arm_row(frame: pd.DataFrame, method: str, setting: str, arm: str) -> pd.Series | None:
    """The line of ``frame`` (a :func:`grid_frame`) for one method, setting and arm, if it has one."""
    hit = frame[(frame["method"] == method) & (frame["setting"] == setting) & (frame["arm"] == arm)]
    return None if hit.empty else hit.iloc[0]


def tad_gain(frame: pd.DataFrame, method: str, setting: str) -> float | None:
    """TAD's mean accuracy minus vanilla's, where ``frame`` holds both arms."""
    if frame.empty:
        return None
    tad, van = arm_row(frame, method, setting, "tad"), arm_row(frame, method, setting, "vanilla")
    return None if tad is None or van is None else float(tad["acc_mean"] - van["acc_mean"])


def target_checks(frame: pd.DataFrame) -> pd.DataFrame:
    """TAD minus vanilla per method and setting, against the project's targets."""
    records = []
    if frame.empty:
        return pd.DataFrame()
    for method in sorted(frame["method"].unique()):
        for setting in [s for s in SETTING_ORDER if s in set(frame["setting"])]:
            tad, van = arm_row(frame, method, setting, "tad"), arm_row(frame, method, setting, "vanilla")
            if tad is None or van is None:
                continue
            gain = tad["acc_mean"] - van["acc_mean"]
            target, ok = "not worse than vanilla by more than 1 std", gain >= -van["acc_std"]
            if setting == "asymmetric-40":
                target, ok = "beats vanilla by at least 3 points", gain >= 3.0
            elif setting in ("symmetric-40", "cifar10n-rand1"):
                target, ok = "beats vanilla", gain > 0.0
            records.append(
                {
                    "method": method,
                    "setting": setting,
                    "vanilla": plus_minus(van["acc_mean"], van["acc_std"]),
                    "TAD": plus_minus(tad["acc_mean"], tad["acc_std"]),
                    "TAD − vanilla": round(gain, 2),
                    "target": target,
                    "met": "yes" if ok else "MISSED",
                }
            )
    return pd.DataFrame.from_records(records).set_index(["method", "setting"])


def trust_table(rows: list[dict]) -> pd.DataFrame:
    """Quality of the final trusted space per setting (the same experts serve DM and DATM)."""
    records, seen = [], set()
    for row in rows:
        final = row["trust"]["final"]
        if not final or row["setting"] in seen:
            continue
        seen.add(row["setting"])
        records.append(
            {
                "setting": row["setting"],
                "noisy labels right": 1 - row["realised_noise_rate"],
                "trusted fraction": final["trusted_fraction"],
                "precision": final["precision"],
                "recall": final["recall"],
                "pseudo-label accuracy": final["pseudo_label_accuracy"],
                # the inner loop's activity: recalls over the recorded expert's epochs, and in the end
                "recalls during training": sum(h.get("newly_recalled", 0) for h in row["trust"]["history"]),
                "recalled in the final space": final.get("recalled_size", 0),
            }
        )
    if not records:
        return pd.DataFrame()
    table = pd.DataFrame.from_records(records).set_index("setting")
    return table.loc[[s for s in SETTING_ORDER if s in table.index]].astype(float).round(3)


def ablation_table(ablations: list[dict], main: list[dict]) -> pd.DataFrame:
    """Rows (method, setting); columns vanilla, every TAD variant and the full method.

    Vanilla comes from ``main``; the full method from the ablations' own ``full`` rows where they hold
    one (made in the same run as the variants), else from ``main``.
    """
    records = {}
    for row in main:
        key = (row["method"].upper(), row["setting"])
        for arm, label in (("vanilla", "vanilla"), ("tad", "full")):
            if arm in row["arms"]:
                records.setdefault(key, {})[label] = plus_minus(
                    row["arms"][arm]["acc_mean"], row["arms"][arm]["acc_std"]
                )
    keys = {(r["method"].upper(), r["setting"]) for r in ablations}
    for row in ablations:
        r = row["arms"]["tad"]
        records.setdefault((row["method"].upper(), row["setting"]), {})[row["variant"]] = plus_minus(
            r["acc_mean"], r["acc_std"]
        )
    table = pd.DataFrame.from_dict({k: v for k, v in records.items() if k in keys}, orient="index")
    if table.empty:
        return table
    order = ["vanilla", "two-stage", "outer-only", "outer+consistency", "full"]
    columns = [c for c in order if c in table.columns] + [c for c in table.columns if c not in order]
    return table[columns].sort_index().fillna("not run")


def ablation_trust_table(ablations: list[dict], main: list[dict]) -> pd.DataFrame:
    """The final trusted space of each ablation row beside the full method's: its share of the data,
    its precision (share of right labels, a diagnostic), and how many samples the inner loop recalled.

    Rows (method, setting, variant), for the (method, setting) pairs the ablations ran; the full
    method's row is the ablations' own ``full`` row where they hold one, else ``main``'s.
    """
    keys = {(r["method"].upper(), r["setting"]) for r in ablations}
    own = {(r["method"].upper(), r["setting"]) for r in ablations if r["variant"] == "full"}
    full = [dict(r, variant="full") for r in main if (r["method"].upper(), r["setting"]) in keys - own]
    records = []
    for row in full + ablations:
        final = row["trust"]["final"] or {}
        records.append(
            {
                "method": row["method"].upper(),
                "setting": row["setting"],
                "variant": row["variant"],
                "trusted share": final.get("trusted_fraction"),
                "precision": final.get("precision"),
                "recalled": final.get("recalled_size"),
                "pseudo-label accuracy": final.get("pseudo_label_accuracy"),
            }
        )
    if not records:
        return pd.DataFrame()
    table = pd.DataFrame.from_records(records).set_index(["method", "setting", "variant"]).sort_index()
    return table.astype(float).round(3)


def high_noise_table(rows: list[dict]) -> pd.DataFrame:
    """Vanilla against TAD where most labels are wrong."""
    records = []
    for row in rows:
        final = row["trust"]["final"] or {}
        records.append(
            {
                "method": row["method"].upper(),
                "setting": row["setting"],
                **{arm: plus_minus(r["acc_mean"], r["acc_std"]) for arm, r in row["arms"].items()},
                "trusted precision": final.get("precision"),
            }
        )
    return pd.DataFrame.from_records(records).set_index(["method", "setting"]) if records else pd.DataFrame()


def seed_table(rows_by_seed: dict[int, list[dict]]) -> pd.DataFrame:
    """Per (method, setting): TAD − vanilla for each seed that ran it, and their mean."""
    records: dict[tuple[str, str], dict] = {}
    for seed, rows in sorted(rows_by_seed.items()):
        frame = grid_frame(rows)
        for method, setting in {(r["method"].upper(), r["setting"]) for r in rows}:
            gain = tad_gain(frame, method, setting)
            if gain is not None:
                records.setdefault((method, setting), {})[f"seed {seed}"] = round(gain, 2)
    records = {k: v for k, v in records.items() if len(v) > 1}  # only settings run with several seeds
    if not records:
        return pd.DataFrame()
    table = pd.DataFrame.from_dict(records, orient="index")
    table["mean"] = table.mean(axis=1).round(2)
    order = {s: i for i, s in enumerate(SETTING_ORDER)}
    keys = sorted(table.index, key=lambda k: (k[0], order.get(k[1], len(order))))
    table = table.loc[keys]
    table.index = pd.MultiIndex.from_tuples(keys, names=["method", "setting"])
    return table


def provenance_table(rows: list[dict]) -> pd.DataFrame:
    """Where each row came from: preset (scale), hardware, software, threads and wall time."""
    records = []
    for row in rows:
        machine = row.get("machine", {})
        records.append(
            {
                "method": row["method"].upper(),
                "setting": row["setting"],
                "variant": row.get("variant", "full"),
                "preset": row["preset"],
                "device": machine.get("device"),
                "threads": machine.get("cpu_threads"),
                "platform": machine.get("platform"),
                "torch": machine.get("torch"),
                "tad": row.get("package_version"),
                "minutes": round(row["wall_time_s"] / 60, 1),
            }
        )
    if not records:
        return pd.DataFrame()
    return pd.DataFrame.from_records(records).set_index(["method", "setting", "variant"]).sort_index()


def grid_sentences(rows: list[dict]) -> list[str]:
    """One sentence per setting: TAD's gain over vanilla for each method, and the trusted space."""
    frame = grid_frame(rows)
    if frame.empty:
        return []
    out = []
    by_setting = {r["setting"]: r for r in rows if r["trust"]["final"]}
    for setting in [s for s in SETTING_ORDER if s in set(frame["setting"])]:
        gains = []
        for method in ("DM", "DATM"):
            gain = tad_gain(frame, method, setting)
            clean = arm_row(frame, method, setting, "clean")
            van = arm_row(frame, method, setting, "vanilla")
            if gain is None:
                continue
            text = f"{method} + TAD − {method} = {gain:+.1f}"
            if clean is not None and van is not None:
                text += f" (clean labels − {method} = {clean['acc_mean'] - van['acc_mean']:+.1f})"
            gains.append(text)
        row = by_setting.get(setting)
        trust = ""
        if row is not None:
            final, right = row["trust"]["final"], 1 - row["realised_noise_rate"]
            trust = (
                f"; trusted share {final['trusted_fraction']:.2f} against {right:.2f} right labels, "
                f"precision {final['precision']:.2f}, {final['recalled_size']} recalled"
            )
        out.append(f"{setting}: " + ", ".join(gains) + trust + ".")
    return out


def format_table(results: dict) -> str:
    """Plain-text table of a run: arm, accuracy mean ± std, precision and recall of the real data it used."""
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


def write_outputs(result, out_dir: Path, command: list[str]) -> dict:
    """``results.json``, ``synthetic.png`` and ``synthetic.npz`` of a run under ``out_dir``; returns the JSON.

    ``result`` is a :class:`tad.pipeline.ExperimentResult`, ``command`` the command line that ran it.
    The picture is drawn by :func:`tad.plots.synthetic_grid`; the caller picks matplotlib's backend.
    """
    import numpy as np

    from tad.checkpoint import atomic_write_text
    from tad.plots import synthetic_grid

    payload = result.to_json(command=command)
    atomic_write_text(json.dumps(payload, indent=1), out_dir / "results.json")
    data = result.dataset
    panels = {arm: data.to_display(r.synthetic.images) for arm, r in result.arms.items()}
    titles = {arm: f"{arm}: {r.evaluation.mean:.1f}%" for arm, r in result.arms.items()}
    fig = synthetic_grid(panels, ipc=result.config.ipc, class_names=data.class_names, titles=titles)
    fig.savefig(out_dir / "synthetic.png", dpi=130)
    # the same images as uint8 (arm -> (N, C, H, W)), small enough to commit beside results.json
    arrays = {arm: (images.clamp(0, 1) * 255).round().byte().numpy() for arm, images in panels.items()}
    np.savez_compressed(out_dir / "synthetic.npz", class_names=np.array(data.class_names), **arrays)
    return payload


__all__ = [
    "ARM_ORDER",
    "SETTING_ORDER",
    "ablation_table",
    "ablation_trust_table",
    "accuracy_table",
    "arm_row",
    "exact_accuracy_table",
    "format_table",
    "grid_frame",
    "grid_sentences",
    "high_noise_table",
    "locate",
    "plus_minus",
    "provenance_table",
    "required_file",
    "seed_table",
    "tad_gain",
    "target_checks",
    "trust_table",
    "write_outputs",
]
