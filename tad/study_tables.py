"""Tables and sentences of the side studies, each read from the file its command writes.

The factorial diagnosis of DATM + TAD (``python -m tad diagnose``), the separability of
clean and mislabelled samples by per-sample scores (``python -m tad diagnose
--separability``), the accuracy the inner loop's recalls would have (``python -m tad
diagnose --recall``), divisions by a peer's scores (``--peer-division``) and the
hyper-parameter selection (``python -m tad select``). Nothing is computed that the files do not
hold.
"""

from __future__ import annotations

import statistics

import pandas as pd

from tad.results import SETTING_ORDER, plus_minus
from tad.targets import SHARE_BAND

_LOW_SHARE = f"right share - {SHARE_BAND:g}"


def diagnosis_table(rows: list[dict]) -> pd.DataFrame:
    """The factorial diagnosis: one line per arm, accuracy per setting, and the initial pool's precision."""
    records = []
    for row in rows:
        quality = row.get("pool_quality") or {}
        records.append(
            {
                "setting": row["setting"],
                "arm": row["arm"],
                "accuracy": plus_minus(row["acc_mean"], row["acc_std"]),
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


SEPARABILITY_SCORES = {
    "auc_loss": "loss",
    "auc_mean_loss": "mean loss so far",
    "auc_margin": "margin",
    "auc_neighbours": "neighbours' labels",
}


def _mean(values: list) -> float | None:
    """The mean of the values that are not None (None if there are none)."""
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def separability_table(payload: dict) -> pd.DataFrame:
    """Per setting: the experts' accuracy, each score's ROC AUC (clean vs noisy) and the evidence test.

    Read from ``python -m tad diagnose --separability``; values are means over the experts at their last
    epoch, with the best epoch's value of any score beside them (AUCs are empty on clean labels). The
    sized-precision columns (from files that hold them) give the precision of a division told each
    class's number of right labels (:func:`tad.diagnose.sized_precision`), by the best score at the last
    epoch: at that share, and at that share less the targets' band (``tad.targets.SHARE_BAND``). The
    evidence columns average the outer loop's per-class test statistics over the classes, and count the
    classes it would split: on clean labels every split is a false alarm.
    """

    records = []
    for setting, entry in payload.get("settings", {}).items():
        experts = entry["experts"]
        last = [e[-1] for e in experts]
        record = {
            "setting": setting,
            "right labels": entry["clean_share"],
            "expert accuracy (true labels)": _mean([r["true_label_accuracy"] for r in last]),
        }
        for key, name in SEPARABILITY_SCORES.items():
            record[f"AUC {name}"] = _mean([r[key] for r in last])
        record["best AUC, any epoch and score"] = max(
            (
                v
                for key in SEPARABILITY_SCORES
                for i in range(len(experts[0]))
                if (v := _mean([e[i][key] for e in experts])) is not None
            ),
            default=None,
        )
        if all("sized_precision_loss" in r for r in last):
            for suffix, column in (("", "right share"), ("_low", _LOW_SHARE)):
                record[f"sized precision at the {column}, best score"] = max(
                    (
                        v
                        for key in SEPARABILITY_SCORES
                        if (v := _mean([r[f"sized_precision_{key[4:]}{suffix}"] for r in last])) is not None
                    ),
                    default=None,
                )
        if all("evidence" in r for r in last):
            record["evidence: separation D"] = _mean([x["separation"] for r in last for x in r["evidence"]])
            record["evidence: high mode / ln C"] = _mean(
                [x["high_level"] for r in last for x in r["evidence"]]
            )
            record["evidence: classes split"] = _mean([sum(x["split"] for x in r["evidence"]) for r in last])
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
            sized = r.get(f"sized precision at the {_LOW_SHARE}, best score")
            if sized is not None and not pd.isna(sized):
                exact = r["sized precision at the right share, best score"]
                text += (
                    f"; told each class's number of right labels, the best score would trust them with "
                    f"precision {exact:.2f} ({sized:.2f} keeping {SHARE_BAND:g} fewer)"
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


def evidence_by_class(payload: dict, setting: str) -> pd.DataFrame:
    """The evidence test class by class at the experts' last epoch, beside each class's share of wrong
    labels: the controls on real data (a class without wrong labels should not be split, one with them
    should). ``split`` is the share of the experts whose test splits the class."""
    experts = payload.get("settings", {}).get(setting, {}).get("experts", [])
    last = [e[-1]["evidence"] for e in experts if e and "evidence" in e[-1]]
    if not last:
        return pd.DataFrame()
    records = [
        {
            "class": c,
            "wrong labels": last[0][c]["wrong_share"],
            "split": _mean([float(x[c]["split"]) for x in last]),
            "separation D": _mean([x[c]["separation"] for x in last]),
            "high mode / ln C": _mean([x[c]["high_level"] for x in last]),
            "high mode / right-label loss": _mean([x[c].get("right_ratio") for x in last]),
        }
        for c in range(len(last[0]))
    ]
    return pd.DataFrame.from_records(records).set_index("class").dropna(axis=1, how="all").round(2)


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


def recall_table(payload: dict) -> pd.DataFrame:
    """Per setting, means over the TAD experts of ``python -m tad diagnose --recall``.

    The trusted share and its precision (NaN where the file predates it); the maturity gate's
    statistic against its level γ; the recalls with and without the gate; the pseudo-label accuracy of
    the ungated recalls beside that of their given labels; and, for the untrusted candidates ranked by
    reliability, the pseudo-label accuracy of the top 5% and 20% of the untrusted space beside the
    share of right labels the untrusted space already carries; and the top 5% by the two other
    rankings of :func:`tad.diagnose.recall_ceiling` (NaN where the file predates them).
    """

    def mean(values: list) -> float:
        m = _mean(values)
        return float("nan") if m is None else m

    records = []
    for setting, entry in payload.get("settings", {}).items():
        experts = entry["experts"]

        def ranked(share: float, experts: list = experts, by: str | None = None) -> float:
            lists = [e["ranked"] if by is None else e.get("ranked_by", {}).get(by, []) for e in experts]
            return mean([r["pseudo_label_accuracy"] for rows in lists for r in rows if r["share"] == share])

        records.append(
            {
                "setting": setting,
                "trusted share": mean([e["trusted_share"] for e in experts]),
                "trusted precision": mean([e.get("trusted_precision") for e in experts]),
                "maturity": mean([e["maturity"] for e in experts]),
                "gate γ": experts[0]["gamma"],
                "recalls, gated": mean([e["recalled_gated"] for e in experts]),
                "recalls, ungated": mean([e["recalled_ungated"] for e in experts]),
                "ungated pseudo-label accuracy": mean([e["ungated_accuracy"] for e in experts]),
                "given labels' accuracy, ungated recalls": mean([e["ungated_given_right"] for e in experts]),
                "right given labels, untrusted": 1.0 - mean([e["untrusted_wrong_share"] for e in experts]),
                "top 5%: pseudo-label accuracy": ranked(0.05),
                "top 20%: pseudo-label accuracy": ranked(0.2),
                "top 5%, by confidence": ranked(0.05, by="confidence"),
                "top 5%, by the ensemble": ranked(0.05, by="ensemble"),
            }
        )
    if not records:
        return pd.DataFrame()
    table = pd.DataFrame.from_records(records).set_index("setting")
    return table.loc[[s for s in SETTING_ORDER if s in table.index]].astype(float).round(3)


def noise_rate_table(payload: dict) -> pd.DataFrame:
    """Per setting, from ``python -m tad diagnose --noise-rate``: the true share of wrong labels and,
    for the vanilla and the TAD experts' ensembles, the confident-learning estimate of it and the one
    corrected for the experts' own error by their agreement on the top class and on the top two
    (means over the classes, and the mean absolute error per class), each with the division that keeps
    in each class the share the estimate calls right: its trusted share and precision (NaN where the
    file lacks a corrected estimate). Files that hold them add the vanilla experts' corrected estimate
    from their last ``k`` checkpoints (``trust.rate_snapshots``): read by their snapshot ensembles
    (``"<k>-snapshot ensemble, ..."``) or checkpoint by checkpoint and averaged (``"<k>-snapshot mean
    of estimates, ..."``)."""
    records = []
    for setting, entry in payload.get("settings", {}).items():
        record = {"setting": setting, "wrong labels": _mean(entry["vanilla"]["true"])}
        for kind, name in (("vanilla", "vanilla experts"), ("tad", "TAD experts")):
            versions = (
                ("", entry[kind]),
                ("corrected ", entry[kind].get("corrected")),
                ("top-2 corrected ", entry[kind].get("corrected_top2")),
            )
            for version, e in versions:
                e = e or {}
                record[f"{version}estimate, {name}"] = _mean(e.get("estimated", []))
                record[f"{version}per-class error, {name}"] = e.get("mean_abs_error")
                record[f"{version}sized share, {name}"] = e.get("sized_share")
                record[f"{version}sized precision, {name}"] = e.get("sized_precision")
        for count, snapshots in entry["vanilla"].get("snapshots", {}).items():
            for key, name in (("corrected", "ensemble"), ("estimates_mean", "mean of estimates")):
                e, name = snapshots[key], f"{count}-snapshot {name}, "
                record[f"{name}estimate"] = _mean(e["estimated"])
                record[f"{name}per-class error"] = e["mean_abs_error"]
                record[f"{name}sized share"] = e["sized_share"]
                record[f"{name}sized precision"] = e["sized_precision"]
        records.append(record)
    if not records:
        return pd.DataFrame()
    table = pd.DataFrame.from_records(records).set_index("setting")
    return table.loc[[s for s in SETTING_ORDER if s in table.index]].astype(float).round(3)


def sizing_table(
    main_rows: list[dict], sized_rows: list[dict], names: tuple[str, str] = ("mixture", "sized")
) -> pd.DataFrame:
    """A grid's rows run again with another setting (``sized_rows``) beside the rows before it.

    One line per method and setting in ``sized_rows``: the share of right labels, vanilla's accuracy
    (from the newer run, whose vanilla arm is the earlier one's), TAD's accuracy, trusted share and
    precision in each, the columns labelled by ``names`` (before, after; by default the mixture's
    division and the sized one). The earlier columns are NaN where there is no row of that method and
    setting.
    """
    was, now = names
    main = {(r["method"], r["setting"]): r for r in main_rows if r.get("variant", "full") == "full"}

    def tad(r: dict, field: str) -> float | None:
        return (r.get("arms", {}).get("tad") or {}).get(field)

    def final(r: dict, field: str) -> float | None:
        return ((r.get("trust") or {}).get("final") or {}).get(field)

    records = []
    for row in sized_rows:
        before = main.get((row["method"], row["setting"]), {})
        records.append(
            {
                "method": row["method"].upper(),
                "setting": row["setting"],
                "right labels": 1.0 - row["realised_noise_rate"],
                "vanilla": row["arms"]["vanilla"]["acc_mean"],
                f"TAD, {was}": tad(before, "acc_mean"),
                f"TAD, {now}": tad(row, "acc_mean"),
                f"share, {was}": final(before, "trusted_fraction"),
                f"share, {now}": final(row, "trusted_fraction"),
                f"precision, {was}": final(before, "precision"),
                f"precision, {now}": final(row, "precision"),
            }
        )
    if not records:
        return pd.DataFrame()
    table = pd.DataFrame.from_records(records)
    order = {s: i for i, s in enumerate(SETTING_ORDER)}
    table = table.sort_values(["method", "setting"], key=lambda c: c.map(order) if c.name == "setting" else c)
    table = table.set_index(["method", "setting"])
    return table.astype(float).round(3)


def recall_sentences(payload: dict) -> list[str]:
    """The recall diagnosis in words, one sentence per setting, every figure read from ``payload``."""
    out = []
    for setting, r in recall_table(payload).iterrows():
        text = (
            f"{setting}: the anchors name {r['maturity']:.0%} of the held-out trusted labels (the gate "
            f"asks {r['gate γ']:.0%}), so {r['recalls, gated']:.0f} samples are recalled"
        )
        if r["recalls, ungated"] > 0:
            given = "given labels' accuracy, ungated recalls"
            text += (
                f"; without the gate {r['recalls, ungated']:.0f} would be, with pseudo-labels right "
                f"{r['ungated pseudo-label accuracy']:.0%} of the time where their given labels are right "
                f"{r[given]:.0%} of the time"
            )
        others = [
            f"{name} {r[column]:.0%}"
            for name, column in (
                ("by the expert's confidence", "top 5%, by confidence"),
                ("by the ensemble of experts", "top 5%, by the ensemble"),
            )
            if not pd.isna(r[column])
        ]
        if others:
            top = r["top 5%: pseudo-label accuracy"]
            text += (
                f"; the top 5% of the untrusted space has right pseudo-labels {top:.0%} of the time "
                f"ranked by reliability, {', '.join(others)}"
            )
        out.append(text + ".")
    return out


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


def selection_by_setting(payload: dict, value: str = "noisy_val_accuracy") -> pd.DataFrame:
    """Mean noisy-label validation accuracy per candidate (rows) and setting (columns).

    ``value`` names another recorded field to tabulate instead, such as the experts' final
    ``trusted_fraction`` or ``trusted_precision`` (for the reader; never used to choose).
    """
    records = [
        {"candidate": s["name"], "setting": setting, "accuracy": s[value]}
        for setting, scores in payload.get("settings", {}).items()
        for s in scores
        if s.get(value) is not None
    ]
    if not records:
        return pd.DataFrame()
    frame = pd.DataFrame.from_records(records)
    table = frame.pivot_table(index="candidate", columns="setting", values="accuracy", aggfunc="mean")
    return table.reindex(columns=list(payload["settings"])).round(2)


def paired_differences(payload: dict, baseline: str) -> pd.DataFrame:
    """Each candidate against ``baseline`` run by run (same setting and seed, so the same random
    numbers): the mean and standard error of the paired differences in noisy-label validation accuracy."""
    by_run = {
        (setting, s["seed"], s["name"]): s["noisy_val_accuracy"]
        for setting, scores in payload.get("settings", {}).items()
        for s in scores
    }
    rows = []
    for name in payload.get("candidates", []):
        if name == baseline:
            continue
        diffs = [
            v - by_run[(st, sd, baseline)]
            for (st, sd, n), v in by_run.items()
            if n == name and (st, sd, baseline) in by_run
        ]
        if diffs:
            mean = statistics.fmean(diffs)
            sem = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
            rows.append(
                {
                    "candidate": name,
                    f"minus {baseline}": round(mean, 2),
                    "standard error": round(sem, 2),
                    "pairs": len(diffs),
                }
            )
    return pd.DataFrame.from_records(rows).set_index("candidate") if rows else pd.DataFrame()


def joint_selection(payloads: dict[str, dict]) -> pd.DataFrame:
    """One choice from the selections of several distillers (``{"DM": payload, "DATM": payload}``).

    Per candidate (rows): each distiller's mean noisy-label validation accuracy over the settings every
    payload holds (so the distillers are compared on the same settings) and their mean, ``both``, by
    which the candidate is chosen: each distiller counts once, whatever its number of runs.
    """
    common = set.intersection(*(set(p.get("settings", {})) for p in payloads.values())) if payloads else set()
    columns = {}
    for method, payload in payloads.items():
        kept = {"settings": {k: v for k, v in payload["settings"].items() if k in common}}
        table = selection_by_setting(kept)
        if not table.empty:
            columns[method] = table.mean(axis=1)
    if not columns:
        return pd.DataFrame()
    frame = pd.DataFrame(columns)
    frame["both"] = frame.mean(axis=1)
    return frame.sort_values("both", ascending=False).round(2)


PEER_MODES = {"own": "own scores (TAD)", "peer": "the peer's scores"}


def peer_division_table(payload: dict) -> pd.DataFrame:
    """Per setting and mode of ``python -m tad diagnose --peer-division``: the final division of the two
    experts (means over them), each network's accuracy on the true labels, and how much the two
    experts' trusted spaces overlap (intersection over union)."""
    records = []
    for setting, entry in payload.get("settings", {}).items():
        for mode, name in PEER_MODES.items():
            experts = entry[mode]["experts"]
            records.append(
                {
                    "setting": setting,
                    "division by": name,
                    "right labels": entry["clean_share"],
                    **{
                        column: _mean([e["final"][key] for e in experts])
                        for key, column in (
                            ("trusted_fraction", "trusted share"),
                            ("precision", "precision"),
                            ("recall", "recall"),
                        )
                    },
                    "expert accuracy (true labels)": _mean([e["true_label_accuracy"] for e in experts]),
                    "overlap of the two divisions": entry[mode]["division_overlap"],
                }
            )
    if not records:
        return pd.DataFrame()
    frame = pd.DataFrame.from_records(records)
    frame["order"] = frame["setting"].map({s: i for i, s in enumerate(SETTING_ORDER)})
    return (
        frame.sort_values(["order", "division by"])
        .drop(columns="order")
        .set_index(["setting", "division by"])
    )


def peer_division_epochs(payload: dict) -> pd.DataFrame:
    """Long form of the same file: one row per setting, mode, expert and epoch that divided, with the
    trusted space's precision (for :func:`tad.plots.peer_division_plot`)."""
    rows = [
        {"setting": setting, "division by": PEER_MODES[mode], "expert": e, **h}
        for setting, entry in payload.get("settings", {}).items()
        for mode in PEER_MODES
        for e, expert in enumerate(entry[mode]["experts"])
        for h in expert["epochs"]
        if h["divided"]
    ]
    return pd.DataFrame.from_records(rows)


__all__ = [
    "SEPARABILITY_SCORES",
    "diagnosis_sentences",
    "diagnosis_table",
    "evidence_by_class",
    "factorial_effects",
    "joint_selection",
    "noise_rate_table",
    "paired_differences",
    "peer_division_epochs",
    "peer_division_table",
    "recall_sentences",
    "recall_table",
    "selection_by_setting",
    "selection_sentences",
    "selection_table",
    "separability_frame",
    "separability_sentences",
    "separability_table",
]
