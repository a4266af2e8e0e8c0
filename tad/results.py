"""Tables of the results files, for the book's results page.

Every function takes the rows of a JSON-lines results file (``tad.reproduce``) and
returns a pandas DataFrame; nothing is computed that the rows do not hold.
"""

from __future__ import annotations

import pandas as pd

SETTING_ORDER = (
    "clean",
    "symmetric-20",
    "symmetric-40",
    "symmetric-60",
    "symmetric-80",
    "asymmetric-20",
    "asymmetric-40",
    "cifar10n-aggre",
    "cifar10n-rand1",
)
ARM_ORDER = ("random", "vanilla", "tad", "clean")


def _pm(mean: float, std: float) -> str:
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
    frame = frame.assign(cell=[_pm(m, s) for m, s in zip(frame[mean], frame[std], strict=True)])
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


def _arm(frame: pd.DataFrame, method: str, setting: str, arm: str) -> pd.Series | None:
    hit = frame[(frame["method"] == method) & (frame["setting"] == setting) & (frame["arm"] == arm)]
    return None if hit.empty else hit.iloc[0]


def target_checks(frame: pd.DataFrame) -> pd.DataFrame:
    """TAD minus vanilla per method and setting, against the project's targets."""
    records = []
    if frame.empty:
        return pd.DataFrame()
    for method in sorted(frame["method"].unique()):
        for setting in [s for s in SETTING_ORDER if s in set(frame["setting"])]:
            tad, van = _arm(frame, method, setting, "tad"), _arm(frame, method, setting, "vanilla")
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
                    "vanilla": _pm(van["acc_mean"], van["acc_std"]),
                    "TAD": _pm(tad["acc_mean"], tad["acc_std"]),
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
    """Rows (method, setting); columns vanilla, every TAD variant and the full method."""
    records = {}
    for row in main:
        key = (row["method"].upper(), row["setting"])
        for arm, label in (("vanilla", "vanilla"), ("tad", "full")):
            if arm in row["arms"]:
                records.setdefault(key, {})[label] = _pm(
                    row["arms"][arm]["acc_mean"], row["arms"][arm]["acc_std"]
                )
    keys = {(r["method"].upper(), r["setting"]) for r in ablations}
    for row in ablations:
        r = row["arms"]["tad"]
        records.setdefault((row["method"].upper(), row["setting"]), {})[row["variant"]] = _pm(
            r["acc_mean"], r["acc_std"]
        )
    table = pd.DataFrame.from_dict({k: v for k, v in records.items() if k in keys}, orient="index")
    if table.empty:
        return table
    order = ["vanilla", "two-stage", "outer-only", "outer+consistency", "full"]
    columns = [c for c in order if c in table.columns] + [c for c in table.columns if c not in order]
    return table[columns].sort_index().fillna("not run")


def high_noise_table(rows: list[dict]) -> pd.DataFrame:
    """Vanilla against TAD where most labels are wrong."""
    records = []
    for row in rows:
        final = row["trust"]["final"] or {}
        records.append(
            {
                "method": row["method"].upper(),
                "setting": row["setting"],
                **{arm: _pm(r["acc_mean"], r["acc_std"]) for arm, r in row["arms"].items()},
                "trusted precision": final.get("precision"),
            }
        )
    return pd.DataFrame.from_records(records).set_index(["method", "setting"]) if records else pd.DataFrame()


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


__all__ = [
    "ablation_table",
    "accuracy_table",
    "exact_accuracy_table",
    "grid_frame",
    "high_noise_table",
    "provenance_table",
    "target_checks",
    "trust_table",
]
