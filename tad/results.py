"""Tables of the results files, for the book's results page.

Every function takes the rows of a JSON-lines results file (``tad.reproduce``) and
returns a pandas DataFrame; nothing is computed that the rows do not hold.
"""

from __future__ import annotations

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


def _outcome(measured: float | None, required: float, *, at_least: bool = True) -> str:
    if measured is None:
        return "not run"
    ok = measured >= required if at_least else measured <= required
    return "met" if ok else "MISSED"


def _trust_growth(row: dict) -> tuple[float | None, float | None]:
    """Trusted fraction at the first division and at the end of the recorded expert's training."""
    divided = [h for h in row["trust"]["history"] if h.get("divided", True) and h["trusted_fraction"] < 1.0]
    if not divided:
        return None, None
    return divided[0]["trusted_fraction"], row["trust"]["history"][-1]["trusted_fraction"]


def _untrusted_recalled(row: dict) -> float | None:
    """Share of the untrusted space (what stays untrusted plus what was recalled) that was recalled."""
    final = row["trust"]["final"]
    if not final:
        return None
    n = final["trusted_size"] / final["trusted_fraction"] if final["trusted_fraction"] else 0
    untrusted = n - final["trusted_size"] + final["recalled_size"]
    return final["recalled_size"] / untrusted if untrusted else 0.0


def _gain(frame: pd.DataFrame, method: str, setting: str) -> float | None:
    if frame.empty:
        return None
    tad, van = _arm(frame, method, setting, "tad"), _arm(frame, method, setting, "vanilla")
    return None if tad is None or van is None else float(tad["acc_mean"] - van["acc_mean"])


def _seed_gain(frames: list[pd.DataFrame], method: str, setting: str) -> tuple[float | None, int]:
    """TAD − vanilla averaged over the seeds (frames) that hold the setting, and how many do."""
    gains = [g for g in (_gain(f, method, setting) for f in frames) if g is not None]
    return (sum(gains) / len(gains), len(gains)) if gains else (None, 0)


def issue_targets(
    rows: list[dict],
    *,
    digits: dict[str, dict] | None = None,
    overhead: dict | None = None,
    other_seeds: list[list[dict]] | None = None,
    ipc50: list[dict] | None = None,
) -> pd.DataFrame:
    """The targets of the method work (issue 8) against the committed rows: measured, required, outcome.

    ``rows`` are main-grid rows of the CPU preset (seed 0, IPC 10); ``other_seeds`` the same grid's rows
    for further seeds, whose gains are averaged with seed 0's where a setting has them; ``ipc50`` rows at
    IPC 50; ``digits`` maps ``"<noise>-<method>"`` (e.g. ``"symmetric0.4-datm"``) to a digits results
    file; ``overhead`` is ``benchmarks/results/overhead.json``. A target whose row is missing is "not
    run", never met.
    """
    frame = grid_frame(rows)
    frames = [frame] + [grid_frame(r) for r in (other_seeds or []) if r]
    by_setting = {r["setting"]: r for r in rows if r["trust"]["final"]}
    records = []

    def add(
        target: str,
        where: str,
        measured: float | None,
        required: float,
        at_least: bool = True,
        outcome: str | None = None,
    ) -> None:
        value = None if measured is None else round(float(measured), 3)
        records.append(
            {
                "target": target,
                "where": where,
                "measured": value,
                "required": f"{'≥' if at_least else '≤'} {required:g}",
                "outcome": outcome or _outcome(measured, required, at_least=at_least),
            }
        )

    def seeds_gain(method: str, setting: str) -> tuple[float | None, str]:
        gain, n = _seed_gain(frames, method, setting)
        return gain, f"{method} {setting}" + (f" (mean of {n} seeds)" if n > 1 else "")

    for setting in ("clean", "cifar10n-aggre"):
        for method in ("DM", "DATM"):
            gain, where = seeds_gain(method, setting)
            add("no harm without noise: TAD − vanilla", where, gain, -0.5)
    clean = by_setting.get("clean")
    add(
        "trusted share on clean labels",
        "clean",
        clean["trust"]["final"]["trusted_fraction"] if clean else None,
        0.95,
    )
    for setting in ("symmetric-20", "symmetric-40", "symmetric-60", "pairflip-20", "pairflip-40"):
        row = by_setting.get(setting)
        miss = None
        if row is not None:
            miss = abs(row["trust"]["final"]["trusted_fraction"] - (1 - row["realised_noise_rate"]))
        add("|trusted share − true clean share|", setting, miss, 0.07, at_least=False)
        if setting.endswith(("20", "40")):
            add("trusted precision", setting, row["trust"]["final"]["precision"] if row else None, 0.9)
    for setting in ("symmetric-40", "pairflip-40"):
        row = by_setting.get(setting)
        add("share of the untrusted space recalled", setting, _untrusted_recalled(row) if row else None, 0.05)
        accuracy = row["trust"]["final"]["pseudo_label_accuracy"] if row else None
        nothing = "MISSED (nothing recalled)" if row and accuracy is None else None
        add("pseudo-label accuracy of recalls", setting, accuracy, 0.85, outcome=nothing)
        first, last = _trust_growth(row) if row else (None, None)
        add(
            "trusted space grows: last − first division",
            setting,
            None if first is None else last - first,
            1e-9,
        )
    frame50 = grid_frame(ipc50 or [])
    for method, setting, margin in (
        ("DATM", "pairflip-40", 4.0),
        ("DATM", "symmetric-60", 3.0),
        ("DM", "pairflip-40", 4.0),
    ):
        gain, where = seeds_gain(method, setting)
        add("TAD − vanilla", where, gain, margin)
        if setting == "pairflip-40":
            add("TAD − vanilla", f"{method} {setting}, IPC 50", _gain(frame50, method, setting), margin)
    # every noisy setting of the main grid but the lightest human labels (aggre: the no-harm target above)
    noisy = [x for x in SETTING_ORDER if x not in ("clean", "symmetric-80", "cifar10n-aggre")]
    for setting in noisy:
        gain, where = seeds_gain("DATM", setting)
        add("TAD at or above vanilla", where, gain, 0.0)
    if digits is not None:
        sym = digits.get("symmetric0.4-datm")
        gain = None if sym is None else sym["arms"]["tad"]["acc_mean"] - sym["arms"]["vanilla"]["acc_mean"]
        add("digits: DATM + TAD − vanilla DATM", "symmetric 40%", gain, 0.0)
        demo = digits.get("pairflip0.4-dm")
        share = None
        if demo is not None:
            a = {k: v["acc_mean"] for k, v in demo["arms"].items()}
            share = (a["tad"] - a["vanilla"]) / (a["clean"] - a["vanilla"])
        add("make demo: share of the vanilla-to-clean gap recovered", "digits pair-flip 40%, DM", share, 0.75)
    if overhead is not None:
        add(
            "TAD epoch / vanilla epoch (default scoring)",
            overhead["preset"],
            overhead["expert_epoch"]["tad-pass"]["ratio"],
            1.25,
            at_least=False,
        )
    return pd.DataFrame.from_records(records)


def diagnosis_table(rows: list[dict]) -> pd.DataFrame:
    """The factorial diagnosis: one line per arm, accuracy per setting, and the initial pool's precision."""
    records = []
    for row in rows:
        quality = row.get("pool_quality") or {}
        records.append(
            {
                "setting": row["setting"],
                "arm": row["arm"],
                "accuracy": _pm(row["acc_mean"], row["acc_std"]),
                "pool precision": quality.get("precision"),
            }
        )
    if not records:
        return pd.DataFrame()
    frame = pd.DataFrame.from_records(records)
    table = frame.pivot_table(
        index="arm", columns="setting", values=["accuracy", "pool precision"], aggfunc="first"
    )
    from tad.diagnose import factorial_arms

    order = [a.name for a in factorial_arms()]
    arms = sorted(
        dict.fromkeys(r["arm"] for r in rows), key=lambda n: order.index(n) if n in order else len(order)
    )
    return table.loc[arms]


def factorial_effects(rows: list[dict]) -> pd.DataFrame:
    """Main effects of the diagnosis per setting: mean accuracy with TAD in a pathway minus without.

    Trajectories, pool and initialising experts are averaged over the other two (with the
    consistency term on; the arm without any TAD pathway is vanilla DATM). The consistency
    term's effect is averaged over the seven arms that use TAD's experts.
    """
    records = []
    for setting in dict.fromkeys(r["setting"] for r in rows):
        acc = {}
        for r in rows:
            if r["setting"] != setting or r["factors"]["trajectories"] == "oracle":
                continue
            f = r["factors"]
            acc[(f["trajectories"], f["pool"], f["init_experts"], f["consistency"])] = r["acc_mean"]
        cells = {}
        for traj in ("vanilla", "tad"):
            for pool in ("all", "trusted"):
                for init in ("vanilla", "tad"):
                    key = (traj, pool, init, True)
                    if key in acc:
                        cells[(traj, pool, init)] = acc[key]
        if len(cells) < 8:
            continue
        effect = {}
        for i, (name, on) in enumerate(
            (("trajectories", "tad"), ("pool", "trusted"), ("init_experts", "tad"))
        ):
            with_tad = [v for k, v in cells.items() if k[i] == on]
            without = [v for k, v in cells.items() if k[i] != on]
            effect[name] = sum(with_tad) / 4 - sum(without) / 4
        pairs = [(v, acc.get((*k[:3], False))) for k, v in acc.items() if k[3] and (*k[:3], False) in acc]
        effect["consistency"] = sum(a - b for a, b in pairs) / len(pairs) if pairs else float("nan")
        records.append({"setting": setting, **effect})
    if not records:
        return pd.DataFrame()
    return pd.DataFrame.from_records(records).set_index("setting").round(2)


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
            gain = _gain(frame, method, setting)
            clean = _arm(frame, method, setting, "clean")
            van = _arm(frame, method, setting, "vanilla")
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


def diagnosis_sentences(rows: list[dict]) -> list[str]:
    """The diagnosis in words: each pathway's main effect, and the oracle against vanilla DATM."""
    out = []
    effects = factorial_effects(rows)
    for setting, effect in effects.iterrows():
        ranked = sorted(effect.items(), key=lambda kv: -abs(kv[1]))
        parts = ", ".join(f"{name.replace('_', ' ')} {value:+.2f}" for name, value in ranked)
        out.append(f"{setting}: main effects of TAD in each pathway, largest first: {parts} points.")
    for setting in dict.fromkeys(r["setting"] for r in rows):
        acc = {r["arm"]: r["acc_mean"] for r in rows if r["setting"] == setting}
        plain = "traj=vanilla,pool=all,init=vanilla,cons"
        full = "traj=tad,pool=trusted,init=tad,cons"
        if "oracle" in acc and plain in acc:
            text = f"{setting}: vanilla DATM {acc[plain]:.1f}, oracle (perfect division) {acc['oracle']:.1f}"
            if full in acc:
                text += f", TAD in every pathway {acc[full]:.1f}"
            out.append(text + ".")
    return out


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


def seed_table(rows_by_seed: dict[int, list[dict]]) -> pd.DataFrame:
    """Per (method, setting): TAD − vanilla for each seed that ran it, and their mean."""
    records: dict[tuple[str, str], dict] = {}
    for seed, rows in sorted(rows_by_seed.items()):
        frame = grid_frame(rows)
        for method, setting in {(r["method"].upper(), r["setting"]) for r in rows}:
            gain = _gain(frame, method, setting)
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


SEPARABILITY_SCORES = {
    "auc_loss": "loss",
    "auc_mean_loss": "mean loss so far",
    "auc_margin": "margin",
    "auc_neighbours": "neighbours' labels",
}


def separability_table(payload: dict) -> pd.DataFrame:
    """Per setting: the experts' accuracy, each score's ROC AUC (clean vs noisy) and the evidence test.

    Read from ``python -m tad diagnose --separability``; values are means over the experts at their last
    epoch, with the best epoch's value of any score beside them (AUCs are empty on clean labels). The
    evidence columns average the outer loop's per-class test statistics over the classes, and count the
    classes it would split: on clean labels every split is a false alarm.
    """

    def mean(values: list) -> float | None:
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    records = []
    for setting, entry in payload.get("settings", {}).items():
        experts = entry["experts"]
        last = [e[-1] for e in experts]
        record = {
            "setting": setting,
            "right labels": entry["clean_share"],
            "expert accuracy (true labels)": mean([r["true_label_accuracy"] for r in last]),
        }
        for key, name in SEPARABILITY_SCORES.items():
            record[f"AUC {name}"] = mean([r[key] for r in last])
        record["best AUC, any epoch and score"] = max(
            (
                v
                for key in SEPARABILITY_SCORES
                for i in range(len(experts[0]))
                if (v := mean([e[i][key] for e in experts])) is not None
            ),
            default=None,
        )
        if all("evidence" in r for r in last):
            record["evidence: separation D"] = mean([x["separation"] for r in last for x in r["evidence"]])
            record["evidence: high mode / ln C"] = mean(
                [x["high_level"] for r in last for x in r["evidence"]]
            )
            record["evidence: classes split"] = mean([sum(x["split"] for x in r["evidence"]) for r in last])
        records.append(record)
    if not records:
        return pd.DataFrame()
    table = pd.DataFrame.from_records(records).set_index("setting")
    return table.loc[[s for s in SETTING_ORDER if s in table.index]].astype(float).round(3)


def separability_sentences(payload: dict) -> list[str]:
    """The separability diagnosis in words, one sentence per setting, every figure read from ``payload``."""
    table = separability_table(payload)
    out = []
    for setting, r in table.iterrows():
        accuracy = r["expert accuracy (true labels)"]
        text = f"{setting}: the experts name the true class of {accuracy:.0%} of their training images"
        if not pd.isna(r["AUC loss"]):
            loss, neighbours = r["AUC loss"], r["AUC neighbours' labels"]
            best = r["best AUC, any epoch and score"]
            text += (
                f"; clean and mislabelled samples separate with AUC {loss:.2f} by the loss, "
                f"{neighbours:.2f} by the neighbours' labels, and at best {best:.2f} (any score, any epoch)"
            )
        split = r.get("evidence: classes split")
        if split is not None and not pd.isna(split):
            d, level = r["evidence: separation D"], r["evidence: high mode / ln C"]
            text += (
                f"; the evidence test splits {split:.1f} classes (mean separation D {d:.2f}, "
                f"high mode at {level:.2f} ln C)"
            )
            if r["right labels"] == 1.0:
                text += ", every split a false alarm"
        out.append(text + ".")
    return out


def selection_sentences(payload: dict) -> list[str]:
    """What a selection chose, by how much, and how that compares with the spread between its runs."""
    table = selection_table(payload)
    if table.empty:
        return []
    col = ("noisy-label validation accuracy", "mean")
    spread = ("noisy-label validation accuracy", "std")
    ranked = table.sort_values(col, ascending=False)
    best, rest = ranked.index[0], ranked.index[1:]
    text = f"Chosen: {best}, mean noisy-label validation accuracy {ranked.loc[best, col]:.2f}%"
    for name in rest:
        text += f" against {ranked.loc[name, col]:.2f}% for {name}"
    gap = ranked.loc[best, col] - (ranked.loc[rest[0], col] if len(rest) else ranked.loc[best, col])
    text += (
        f" ({int(ranked.loc[best, ('runs', '')])} runs each); the margin, {gap:.2f} points, is "
        f"{'smaller' if gap < ranked[spread].max() else 'larger'} than the spread between runs "
        f"(standard deviation up to {ranked[spread].max():.2f})."
    )
    return [text]


def separability_frame(payload: dict) -> pd.DataFrame:
    """Long format for plotting: setting, epoch, score, AUC (mean over the experts)."""
    records = []
    for setting, entry in payload.get("settings", {}).items():
        experts = entry["experts"]
        for i, row in enumerate(experts[0]):
            for key, name in SEPARABILITY_SCORES.items():
                if row[key] is None:  # clean labels: nothing to separate
                    continue
                auc = sum(e[i][key] for e in experts) / len(experts)
                records.append({"setting": setting, "epoch": row["epoch"], "score": name, "AUC": auc})
    return pd.DataFrame.from_records(records)


def selection_table(payload: dict) -> pd.DataFrame:
    """Per candidate: the criterion (noisy-label validation accuracy) and what is shown but not used."""
    records = [
        {
            "candidate": s["name"],
            "setting": setting,
            "seed": s["seed"],
            "noisy-label validation accuracy": s["noisy_val_accuracy"],
            "clean validation accuracy (not used)": s["clean_val_accuracy"],
            "trusted precision (not used)": s.get("trusted_precision"),
        }
        for setting, scores in payload.get("settings", {}).items()
        for s in scores
    ]
    if not records:
        return pd.DataFrame()
    frame = pd.DataFrame.from_records(records)
    columns = [c for c in frame.columns if c not in ("candidate", "setting", "seed")]
    table = frame.groupby("candidate")[columns].agg(["mean", "std"]).round(2)
    table[("runs", "")] = frame.groupby("candidate").size()
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


__all__ = [
    "ablation_table",
    "accuracy_table",
    "exact_accuracy_table",
    "grid_frame",
    "high_noise_table",
    "issue_targets",
    "locate",
    "provenance_table",
    "required_file",
    "seed_table",
    "selection_sentences",
    "selection_table",
    "separability_frame",
    "separability_sentences",
    "separability_table",
    "target_checks",
    "trust_table",
]
