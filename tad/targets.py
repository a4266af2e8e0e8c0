"""The targets of the method work (issue 8), measured on the committed results rows.

Every target is a record: what is measured, where, the value, what is required and the
outcome. A target whose row is missing is "not run", never met.
"""

from __future__ import annotations

import pandas as pd

from tad.results import SETTING_ORDER, grid_frame, tad_gain

SHARE_BAND = 0.07  # how far the trusted share may sit from the true share of right labels


def _outcome(measured: float | None, required: float, *, at_least: bool = True) -> str:
    if measured is None:
        return "not run"
    ok = measured >= required if at_least else measured <= required
    return "met" if ok else "MISSED"


def _record(
    target: str,
    where: str,
    measured: float | None,
    required: float,
    at_least: bool = True,
    outcome: str | None = None,
) -> dict:
    value = None if measured is None else round(float(measured), 3)
    return {
        "target": target,
        "where": where,
        "measured": value,
        "required": f"{'≥' if at_least else '≤'} {required:g}",
        "outcome": outcome or _outcome(measured, required, at_least=at_least),
    }


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


def _seeds_gain(frames: list[pd.DataFrame], method: str, setting: str) -> tuple[str, float | None]:
    """Where it was measured, and TAD − vanilla averaged over the seeds (frames) that hold the setting."""
    gains = [g for g in (tad_gain(f, method, setting) for f in frames) if g is not None]
    where = f"{method} {setting}" + (f" (mean of {len(gains)} seeds)" if len(gains) > 1 else "")
    return where, (sum(gains) / len(gains) if gains else None)


def _trust_targets(by_setting: dict[str, dict]) -> list[dict]:
    """The trusted space: its share on clean labels, its accuracy, precision, recall and growth."""
    clean = by_setting.get("clean")
    share = clean["trust"]["final"]["trusted_fraction"] if clean else None
    records = [_record("trusted share on clean labels", "clean", share, 0.95)]
    for setting in ("symmetric-20", "symmetric-40", "symmetric-60", "pairflip-20", "pairflip-40"):
        row = by_setting.get(setting)
        miss = None
        if row is not None:
            miss = abs(row["trust"]["final"]["trusted_fraction"] - (1 - row["realised_noise_rate"]))
        records.append(
            _record("|trusted share − true clean share|", setting, miss, SHARE_BAND, at_least=False)
        )
        if setting.endswith(("20", "40")):
            precision = row["trust"]["final"]["precision"] if row else None
            records.append(_record("trusted precision", setting, precision, 0.9))
    for setting in ("symmetric-40", "pairflip-40"):
        row = by_setting.get(setting)
        recalled = _untrusted_recalled(row) if row else None
        records.append(_record("share of the untrusted space recalled", setting, recalled, 0.05))
        accuracy = row["trust"]["final"]["pseudo_label_accuracy"] if row else None
        nothing = "MISSED (nothing recalled)" if row and accuracy is None else None
        records.append(_record("pseudo-label accuracy of recalls", setting, accuracy, 0.85, outcome=nothing))
        first, last = _trust_growth(row) if row else (None, None)
        growth = None if first is None else last - first
        records.append(_record("trusted space grows: last − first division", setting, growth, 1e-9))
    return records


def _accuracy_targets(frames: list[pd.DataFrame], frame50: pd.DataFrame) -> list[dict]:
    """TAD's gains over vanilla where the noise is hardest, at IPC 10 (over seeds) and at IPC 50."""
    records = []
    for method, setting, margin in (
        ("DATM", "pairflip-40", 4.0),
        ("DATM", "symmetric-60", 3.0),
        ("DM", "pairflip-40", 4.0),
    ):
        records.append(_record("TAD − vanilla", *_seeds_gain(frames, method, setting), margin))
        if setting == "pairflip-40":
            where = f"{method} {setting}, IPC 50"
            records.append(_record("TAD − vanilla", where, tad_gain(frame50, method, setting), margin))
    # every noisy setting of the main grid but the lightest human labels (aggre: the no-harm target)
    noisy = [x for x in SETTING_ORDER if x not in ("clean", "symmetric-80", "cifar10n-aggre")]
    for setting in noisy:
        records.append(_record("TAD at or above vanilla", *_seeds_gain(frames, "DATM", setting), 0.0))
    return records


def _digits_targets(digits: dict[str, dict]) -> list[dict]:
    """The digits runs: DATM + TAD under symmetric noise, and the share of the gap ``make demo`` recovers."""
    sym = digits.get("symmetric0.4-datm")
    gain = None if sym is None else sym["arms"]["tad"]["acc_mean"] - sym["arms"]["vanilla"]["acc_mean"]
    demo = digits.get("pairflip0.4-dm")
    share = None
    if demo is not None:
        a = {k: v["acc_mean"] for k, v in demo["arms"].items()}
        share = (a["tad"] - a["vanilla"]) / (a["clean"] - a["vanilla"])
    return [
        _record("digits: DATM + TAD − vanilla DATM", "symmetric 40%", gain, 0.0),
        _record(
            "make demo: share of the vanilla-to-clean gap recovered", "digits pair-flip 40%, DM", share, 0.75
        ),
    ]


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
    file; ``overhead`` is ``benchmarks/results/overhead.json`` (a dividing epoch, and whole expert
    runs). A target whose row is missing is "not run", never met.
    """
    frames = [grid_frame(rows)] + [grid_frame(r) for r in (other_seeds or []) if r]
    records = [
        _record("no harm without noise: TAD − vanilla", *_seeds_gain(frames, method, setting), -0.5)
        for setting in ("clean", "cifar10n-aggre")
        for method in ("DM", "DATM")
    ]
    records += _trust_targets({r["setting"]: r for r in rows if r["trust"]["final"]})
    records += _accuracy_targets(frames, grid_frame(ipc50 or []))
    if digits is not None:
        records += _digits_targets(digits)
    if overhead is not None:
        ratio = overhead["expert_epoch"][f"tad-{overhead['default_scoring']}"]["ratio"]
        target = "TAD epoch / vanilla epoch (default scoring)"
        records.append(_record(target, overhead["preset"], ratio, 1.25, at_least=False))
        # the same cost over whole runs: warm-up epochs, noise-rate estimate and final division included
        ratio = overhead["expert_runs"]["ratio"]
        target = "TAD experts / vanilla experts, whole runs (default scoring)"
        records.append(_record(target, overhead["preset"], ratio, 1.25, at_least=False))
    return pd.DataFrame.from_records(records)


def targets_side_by_side(before: pd.DataFrame, after: pd.DataFrame, names: tuple[str, str]) -> pd.DataFrame:
    """Two :func:`issue_targets` tables on the targets both measured: each one's figure and outcome.

    ``names`` label the two (for instance the main grid and the rows run with another setting); a
    target that either left "not run" is left out, so the table compares like with like.
    """
    keys = ["target", "where", "required"]
    measured = [t[t["outcome"] != "not run"] for t in (before, after)]
    table = measured[0].merge(measured[1], on=keys, suffixes=(f", {names[0]}", f", {names[1]}"))
    return table.set_index(keys)


__all__ = ["issue_targets", "targets_side_by_side"]
