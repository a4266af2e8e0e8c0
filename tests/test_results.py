"""The results tables of the book (tad.results, tad.targets, tad.study_tables): built from rows only."""

import pandas as pd
import pytest

from tad.diagnose import RANKED_SHARES
from tad.results import (
    ablation_table,
    ablation_trust_table,
    accuracy_table,
    exact_accuracy_table,
    grid_frame,
    grid_sentences,
    high_noise_table,
    provenance_table,
    seed_table,
    target_checks,
    trust_table,
)
from tad.study_tables import (
    diagnosis_sentences,
    diagnosis_table,
    evidence_by_class,
    factorial_effects,
    joint_selection,
    noise_rate_table,
    paired_differences,
    peer_division_epochs,
    peer_division_table,
    recall_sentences,
    recall_table,
    selection_by_setting,
    selection_sentences,
    selection_table,
    separability_frame,
    separability_sentences,
    separability_table,
    sizing_table,
)
from tad.targets import issue_targets


def arm(mean, std=1.0, exact=None):
    out = {"acc_mean": mean, "acc_std": std, "accs": [mean - std, mean + std]}
    if exact is not None:
        out.update(exact_acc_mean=exact, exact_acc_std=0.5)
    return out


def row(method, setting, kind, rate, arms, variant="full"):
    return {
        "method": method,
        "setting": setting,
        "variant": variant,
        "noise": {"kind": kind, "rate": rate},
        "realised_noise_rate": rate / 2 if kind == "asymmetric" else rate,
        "arms": arms,
        "trust": {
            "final": {
                "trusted_fraction": 0.7,
                "precision": 0.95,
                "recall": 0.9,
                "pseudo_label_accuracy": 0.8,
            },
            "history": [],
        },
    }


MAIN = [
    row(
        "dm",
        "symmetric-40",
        "symmetric",
        0.4,
        {"random": arm(20), "vanilla": arm(40, exact=41), "tad": arm(42, exact=43), "clean": arm(45)},
    ),
    row("dm", "asymmetric-40", "asymmetric", 0.4, {"vanilla": arm(38), "tad": arm(40), "clean": arm(45)}),
    row(
        "datm",
        "cifar10n-rand1",
        "real",
        0.0,
        {"vanilla": arm(50, std=2.0), "tad": arm(48.5), "clean": arm(55)},
    ),
]


def test_tables_hold_every_arm_and_setting_in_order():
    frame = grid_frame(MAIN)
    assert len(frame) == 4 + 3 + 3
    table = accuracy_table(frame)
    assert list(table.columns) == ["symmetric-40", "asymmetric-40", "cifar10n-rand1"]
    assert table.loc[("DM", "tad"), "symmetric-40"] == "42.0 ± 1.0"
    assert table.index.tolist()[:4] == [
        ("DATM", "vanilla"),
        ("DATM", "tad"),
        ("DATM", "clean"),
        ("DM", "random"),
    ]
    exact = exact_accuracy_table(frame)
    assert exact.loc[("DM", "tad"), "symmetric-40"] == "43.0 ± 0.5"


def test_target_checks_flag_misses():
    checks = target_checks(grid_frame(MAIN))
    assert checks.loc[("DM", "symmetric-40"), "met"] == "yes"
    assert checks.loc[("DM", "asymmetric-40"), "met"] == "MISSED"  # +2 where the target is +3
    assert checks.loc[("DATM", "cifar10n-rand1"), "met"] == "MISSED"  # TAD below vanilla
    assert checks.loc[("DM", "asymmetric-40"), "TAD − vanilla"] == pytest.approx(2.0)


def test_trust_ablation_and_high_noise_tables():
    trust = trust_table(MAIN)
    assert trust.loc["symmetric-40", "precision"] == 0.95
    assert trust.loc["symmetric-40", "noisy labels right"] == pytest.approx(0.6)
    assert trust.loc["symmetric-40", "recalls during training"] == 0  # no history recorded here
    ablations = [row("dm", "symmetric-40", "symmetric", 0.4, {"tad": arm(41)}, variant="two-stage")]
    table = ablation_table(ablations, MAIN)
    assert table.loc[("DM", "symmetric-40"), "two-stage"] == "41.0 ± 1.0"
    assert table.loc[("DM", "symmetric-40"), "full"] == "42.0 ± 1.0"
    assert ("DM", "asymmetric-40") not in table.index  # only settings that were ablated
    assert list(table.columns) == ["vanilla", "two-stage", "full"]
    ablations.append(row("dm", "asymmetric-40", "asymmetric", 0.4, {"tad": arm(43)}, variant="cosine-only"))
    table = ablation_table(ablations, MAIN)
    assert table.loc[("DM", "asymmetric-40"), "two-stage"] == "not run"
    assert list(table.columns) == ["vanilla", "two-stage", "full", "cosine-only"]
    # the trusted spaces of the ablations beside the full method's, for the ablated settings only
    ablations[0]["trust"] = {"final": {"trusted_fraction": 0.6, "precision": 0.8, "recalled_size": 12}}
    spaces = ablation_trust_table(ablations, MAIN)
    assert spaces.index.tolist() == [
        ("DM", "asymmetric-40", "cosine-only"),
        ("DM", "asymmetric-40", "full"),
        ("DM", "symmetric-40", "full"),
        ("DM", "symmetric-40", "two-stage"),
    ]
    assert spaces.loc[("DM", "symmetric-40", "two-stage"), "recalled"] == 12
    assert spaces.loc[("DM", "symmetric-40", "full"), "precision"] == 0.95
    assert pd.isna(spaces.loc[("DM", "symmetric-40", "two-stage"), "pseudo-label accuracy"])
    assert ablation_trust_table([], MAIN).empty
    # a full row of the ablations' own run replaces the main grid's as their reference
    own = row("dm", "symmetric-40", "symmetric", 0.4, {"tad": arm(44)}, variant="full")
    own["trust"] = {"final": {"trusted_fraction": 0.55, "precision": 0.85, "recalled_size": 0}}
    table = ablation_table([*ablations, own], MAIN)
    assert table.loc[("DM", "symmetric-40"), "full"] == "44.0 ± 1.0"  # not the main grid's 42.0
    assert table.loc[("DM", "symmetric-40"), "vanilla"] == "40.0 ± 1.0"  # vanilla is the main grid's
    assert table.loc[("DM", "asymmetric-40"), "full"] == "40.0 ± 1.0"  # no own full row: the main grid's
    spaces = ablation_trust_table([*ablations, own], MAIN)
    assert spaces.loc[("DM", "symmetric-40", "full"), "precision"] == 0.85
    assert spaces.loc[("DM", "asymmetric-40", "full"), "precision"] == 0.95
    assert len(spaces) == 4  # one full row per setting
    high = high_noise_table(
        [row("dm", "symmetric-80", "symmetric", 0.8, {"vanilla": arm(20), "tad": arm(25)})]
    )
    assert high.loc[("DM", "symmetric-80"), "tad"] == "25.0 ± 1.0"


def test_empty_inputs_give_empty_tables():
    frame = grid_frame([])
    assert accuracy_table(frame).empty and exact_accuracy_table(frame).empty and target_checks(frame).empty
    assert trust_table([]).empty and high_noise_table([]).empty


def test_provenance_names_scale_hardware_and_minutes_of_every_row():
    rows = [
        {
            **row("datm", "symmetric-40", "symmetric", 0.4, {"tad": arm(40.0)}),
            "preset": "datm-cifar10-ipc10",
            "package_version": "0.1.0",
            "wall_time_s": 5400.0,
            "machine": {"device": "cuda", "cpu_threads": 8, "platform": "Linux", "torch": "2.4.0"},
        },
        {
            **row("dm", "clean", "clean", 0.0, {"tad": arm(35.0)}),
            "preset": "cifar10-cpu",
            "package_version": "0.1.0",
            "wall_time_s": 600.0,
            "machine": {"device": "cpu", "cpu_threads": 1, "platform": "Linux", "torch": "2.14.1"},
        },
    ]
    table = provenance_table(rows)
    assert table.loc[("DATM", "symmetric-40", "full"), "preset"] == "datm-cifar10-ipc10"
    assert table.loc[("DATM", "symmetric-40", "full"), "device"] == "cuda"
    assert table.loc[("DM", "clean", "full"), "minutes"] == 10.0
    assert provenance_table([]).empty


def trust_row(method, setting, kind, rate, arms, *, fraction, precision, recalled, pl_accuracy, history):
    out = row(method, setting, kind, rate, arms)
    out["trust"] = {
        "final": {
            "trusted_size": round(1000 * fraction),
            "trusted_fraction": fraction,
            "precision": precision,
            "recall": 0.9,
            "recalled_size": recalled,
            "pseudo_label_accuracy": pl_accuracy,
        },
        "history": [{"trusted_fraction": f, "divided": f < 1.0} for f in history],
    }
    return out


def test_issue_targets_measure_each_target_and_mark_missing_rows():
    rows = [
        trust_row(
            "datm",
            "pairflip-40",
            "pairflip",
            0.4,
            {"vanilla": arm(30), "tad": arm(35)},
            fraction=0.62,
            precision=0.93,
            recalled=40,
            pl_accuracy=0.9,
            history=[1.0, 0.5, 0.55, 0.62],
        ),
        trust_row(
            "datm",
            "clean",
            "clean",
            0.0,
            {"vanilla": arm(40), "tad": arm(39)},
            fraction=0.8,
            precision=1.0,
            recalled=0,
            pl_accuracy=None,
            history=[1.0, 0.8],
        ),
    ]
    digits = {
        "symmetric0.4-datm": {"arms": {"vanilla": arm(90), "tad": arm(91)}},
        "pairflip0.4-dm": {"arms": {"vanilla": arm(60), "tad": arm(80), "clean": arm(90)}},
    }
    table = issue_targets(
        rows,
        digits=digits,
        overhead={
            "preset": "p",
            "default_scoring": "online",
            "expert_epoch": {"tad-pass": {"ratio": 0.9}, "tad-online": {"ratio": 1.3}},
            "expert_runs": {"ratio": 1.2},
        },
    )
    got = {(r["target"], r["where"]): (r["measured"], r["outcome"]) for r in table.to_dict("records")}
    assert got[("TAD − vanilla", "DATM pairflip-40")] == (5.0, "met")
    assert got[("no harm without noise: TAD − vanilla", "DATM clean")] == (-1.0, "MISSED")
    assert got[("trusted share on clean labels", "clean")] == (0.8, "MISSED")
    assert got[("|trusted share − true clean share|", "pairflip-40")] == (pytest.approx(0.02), "met")
    assert got[("trusted precision", "pairflip-40")] == (0.93, "met")
    # 40 recalled of the 420 that were untrusted at some point (380 still untrusted + 40 recalled)
    assert got[("share of the untrusted space recalled", "pairflip-40")] == (
        pytest.approx(40 / 420, abs=1e-3),
        "met",
    )
    assert got[("trusted space grows: last − first division", "pairflip-40")] == (pytest.approx(0.12), "met")
    assert got[("TAD experts / vanilla experts, whole runs (default scoring)", "p")] == (1.2, "met")
    assert got[("make demo: share of the vanilla-to-clean gap recovered", "digits pair-flip 40%, DM")] == (
        pytest.approx(2 / 3, abs=1e-3),
        "MISSED",
    )
    assert got[("TAD epoch / vanilla epoch (default scoring)", "p")] == (1.3, "MISSED")
    assert got[("TAD − vanilla", "DM pairflip-40")][1] == "not run"
    assert got[("trusted precision", "symmetric-20")][1] == "not run"


def test_factorial_effects_recover_an_additive_model():
    from tad.diagnose import factorial_arms

    rows = []
    for a in factorial_arms():
        if a.trajectories == "oracle":
            acc = 50.0
        else:
            acc = (
                30
                + 2.0 * (a.trajectories == "tad")
                + 1.0 * (a.pool == "trusted")
                - 1.0 * (a.init_experts == "tad")
            )
            acc += 0.5 * (a.consistency and a.uses_tad)
        rows.append(
            {
                "setting": "pairflip-40",
                "arm": a.name,
                "factors": vars(a),
                "acc_mean": acc,
                "acc_std": 0.1,
                "pool_quality": {"precision": 0.9} if a.pool == "trusted" else None,
            }
        )
    effects = factorial_effects(rows).loc["pairflip-40"]
    # the arm without TAD has no consistency bonus, which shifts every TAD-level mean by 0.5 / 4
    assert effects["trajectories"] == pytest.approx(2.0 + 0.125, abs=0.01)
    assert effects["pool"] == pytest.approx(1.0 + 0.125, abs=0.01)
    assert effects["init_experts"] == pytest.approx(-1.0 + 0.125, abs=0.01)
    assert effects["consistency"] == pytest.approx(0.5)
    table = diagnosis_table(rows)
    assert len(table) == len(rows) and table.loc["oracle", ("accuracy", "pairflip-40")] == "50.0 ± 0.1"
    effects_line, oracle_line = diagnosis_sentences(rows)
    assert effects_line.startswith(
        "pairflip-40: main effects of TAD in each pathway, largest first: trajectories"
    )
    assert (
        oracle_line
        == "pairflip-40: vanilla DATM 30.0, oracle (perfect division) 50.0, TAD in every pathway 32.5."
    )


def test_sentences_are_built_from_the_rows():
    rows = [
        trust_row(
            "dm",
            "pairflip-40",
            "pairflip",
            0.4,
            {"vanilla": arm(25.0), "tad": arm(28.5), "clean": arm(35.0)},
            fraction=0.8,
            precision=0.65,
            recalled=0,
            pl_accuracy=None,
            history=[1.0, 0.8],
        )
    ]
    (sentence,) = grid_sentences(rows)
    assert sentence.startswith("pairflip-40: DM + TAD − DM = +3.5 (clean labels − DM = +10.0)")
    assert "trusted share 0.80 against 0.60 right labels, precision 0.65, 0 recalled" in sentence


def test_further_seeds_and_ipc50_rows_enter_the_targets():
    def pf40(vanilla, tad):
        arms = {"vanilla": arm(vanilla), "tad": arm(tad)}
        kw = {"fraction": 0.7, "precision": 0.7, "recalled": 0, "pl_accuracy": None, "history": [1.0, 0.7]}
        return [trust_row("datm", "pairflip-40", "pairflip", 0.4, arms, **kw)]

    seed0, seed1, ipc50 = pf40(30, 35), pf40(31, 32), pf40(40, 46)
    table = issue_targets(seed0, other_seeds=[seed1], ipc50=ipc50)
    got = {(r["target"], r["where"]): (r["measured"], r["outcome"]) for r in table.to_dict("records")}
    assert got[("TAD − vanilla", "DATM pairflip-40 (mean of 2 seeds)")] == (3.0, "MISSED")  # (5 + 1) / 2
    assert got[("TAD − vanilla", "DATM pairflip-40, IPC 50")] == (6.0, "met")
    assert got[("TAD − vanilla", "DM pairflip-40, IPC 50")][1] == "not run"
    seeds = seed_table({0: seed0, 1: seed1})
    assert seeds.loc[("DATM", "pairflip-40")].tolist() == [5.0, 1.0, 3.0]
    assert seed_table({0: seed0}).empty  # a setting run with one seed has no row


def test_separability_and_selection_tables_read_their_files():
    def epoch(e, auc):
        return {
            "epoch": e,
            "true_label_accuracy": 0.4,
            "auc_loss": auc,
            "auc_mean_loss": auc,
            "auc_margin": auc - 0.1,
            "auc_neighbours": 0.5,
            **{f"sized_precision_{n}": auc for n in ("loss", "mean_loss", "margin", "neighbours")},
            **{f"sized_precision_{n}_low": auc + 0.05 for n in ("loss", "mean_loss", "margin", "neighbours")},
        }

    payload = {
        "settings": {
            "pairflip-40": {"clean_share": 0.6, "experts": [[epoch(1, 0.6), epoch(2, 0.7)]] * 2},
            "symmetric-40": {"clean_share": 0.6, "experts": [[epoch(1, 0.8), epoch(2, 0.75)]] * 2},
        }
    }
    payload["settings"]["clean"] = {
        "clean_share": 1.0,
        "experts": [
            [
                {
                    **epoch(1, 0.5),
                    **dict.fromkeys(k for k in epoch(1, 0.5) if k.startswith(("auc_", "sized_"))),
                    "evidence": [{"separation": 2.0, "high_level": 1.1, "split": True, "wrong_share": 0.0}]
                    * 10,
                }
            ]
        ],
    }
    table = separability_table(payload)
    per_class = evidence_by_class(payload, "clean")
    assert per_class.shape == (10, 4) and per_class["split"].eq(1.0).all()
    assert per_class["wrong labels"].eq(0.0).all() and evidence_by_class(payload, "pairflip-40").empty
    assert table.index.tolist() == ["clean", "symmetric-40", "pairflip-40"]  # the book's setting order
    assert pd.isna(table.loc["clean", "sized precision at the right share, best score"])
    assert pd.isna(table.loc["clean", "AUC loss"]) and table.loc["clean", "evidence: classes split"] == 10
    assert table.loc["pairflip-40", "AUC loss"] == 0.7
    assert table.loc["symmetric-40", "best AUC, any epoch and score"] == 0.8  # epoch 1 beat the last
    frame = separability_frame(payload)
    assert len(frame) == 2 * 2 * 4 and set(frame["score"]) == {
        "loss",
        "mean loss so far",
        "margin",
        "neighbours' labels",
    }
    scores = {
        "symmetric-40": [
            {"name": n, "seed": s, "noisy_val_accuracy": a, "clean_val_accuracy": a + 10}
            for n, s, a in (("a", 0, 30.0), ("a", 1, 32.0), ("b", 0, 29.0), ("b", 1, 29.0))
        ]
    }
    sel = selection_table({"settings": scores})
    assert sel.loc["a", ("noisy-label validation accuracy", "mean")] == 31.0
    assert sel.loc["b", ("runs", "")] == 2
    assert separability_table({}).empty and selection_table({}).empty
    words = separability_sentences(payload)
    assert words[0].startswith("clean:") and "splits 10.0 classes" in words[0] and "false alarm" in words[0]
    assert "AUC 0.70 by the loss" in words[2]  # pairflip-40, last epoch
    assert table.loc["pairflip-40", "sized precision at the right share - 0.07, best score"] == 0.75
    assert "precision 0.70 (0.75 keeping 0.07 fewer)" in words[2]
    chosen = selection_sentences({"settings": scores})[0]
    assert chosen.startswith("Chosen: a, mean noisy-label validation accuracy 31.00% against 29.00% for b")
    assert "larger than the spread" in chosen
    payload = {"settings": scores, "candidates": ["a", "b"]}
    assert selection_by_setting(payload).loc["b", "symmetric-40"] == 29.0
    assert selection_by_setting(payload, "clean_val_accuracy").loc["b", "symmetric-40"] == 39.0
    # two distillers: compared on the settings both hold, each counting once
    other = {"settings": {**scores, "clean": [{"name": "a", "seed": 0, "noisy_val_accuracy": 90.0}]}}
    other["settings"]["symmetric-40"] = [
        {"name": n, "seed": 0, "noisy_val_accuracy": a} for n, a in (("a", 20.0), ("b", 26.0))
    ]
    joint = joint_selection({"DM": payload, "DATM": other})
    assert joint.index.tolist() == ["b", "a"]  # b: (29 + 26) / 2 = 27.5; a: (31 + 20) / 2 = 25.5
    assert joint.loc["b", "both"] == 27.5 and joint.loc["a", "DM"] == 31.0
    assert joint_selection({}).empty
    pairs = paired_differences(payload, "a")  # b - a run by run: -1 and -3
    assert pairs.loc["b", "minus a"] == -2.0 and pairs.loc["b", "pairs"] == 2
    assert pairs.loc["b", "standard error"] == round(2**0.5 / 2**0.5, 2)  # stdev sqrt(2), over sqrt(2)
    assert paired_differences({"settings": {}, "candidates": ["a"]}, "a").empty


def test_locate_finds_a_folder_above_and_missing_files_name_their_command(tmp_path):
    from tad.results import locate, required_file

    (tmp_path / "results").mkdir()
    (tmp_path / "notebooks").mkdir()
    assert locate("results", start=tmp_path / "notebooks") == tmp_path / "results"
    with pytest.raises(FileNotFoundError, match="no folder absent"):
        locate("absent", start=tmp_path)
    with pytest.raises(FileNotFoundError, match="produce it with: python -m tad reproduce"):
        required_file(tmp_path / "results", "x.jsonl", "python -m tad reproduce")


def test_the_recall_table_reads_its_file():
    def expert(maturity, ungated, accuracy, given):
        ranked = [
            {"share": s, "count": 1, "pseudo_label_accuracy": accuracy, "given_label_wrong": 1.0}
            for s in RANKED_SHARES
        ]
        return {
            "trusted_share": 0.7,
            "untrusted": 100,
            "untrusted_wrong_share": 0.8,
            "maturity": maturity,
            "gamma": 0.9,
            "recalled_gated": 0,
            "recalled_ungated": ungated,
            "ungated_accuracy": accuracy,
            "ungated_given_right": given,
            "ranked": ranked,
        }

    confident = expert(0.5, 20, 0.7, 0.4)
    confident["ranked_by"] = {
        name: [dict(r, pseudo_label_accuracy=value) for r in confident["ranked"]]
        for name, value in (("confidence", 0.8), ("ensemble", 0.9))
    }
    payload = {
        "settings": {
            "pairflip-40": {"experts": [expert(0.4, 10, 0.5, 0.2), confident]},
            "clean": {"experts": [expert(0.7, 0, None, None)]},
        }
    }
    table = recall_table(payload)
    assert table.index.tolist() == ["clean", "pairflip-40"]
    assert table.loc["pairflip-40", "maturity"] == 0.45 and table.loc["pairflip-40", "recalls, ungated"] == 15
    assert table.loc["pairflip-40", "ungated pseudo-label accuracy"] == 0.6
    assert table.loc["pairflip-40", "top 5%: pseudo-label accuracy"] == 0.6
    # the other rankings average over the experts that recorded them (files before them give NaN)
    assert table.loc["pairflip-40", "top 5%, by confidence"] == 0.8
    assert table.loc["pairflip-40", "top 5%, by the ensemble"] == 0.9
    assert pd.isna(table.loc["clean", "top 5%, by the ensemble"])
    assert pd.isna(table.loc["clean", "ungated pseudo-label accuracy"])  # nothing to be right about
    words = recall_sentences(payload)
    assert words[0] == (
        "clean: the anchors name 70% of the held-out trusted labels (the gate asks 90%), so 0 samples are "
        "recalled."
    )
    assert (
        "without the gate 15 would be, with pseudo-labels right 60% of the time where their given labels "
        "are right 30%" in words[1]
    )
    assert words[1].endswith(
        "the top 5% of the untrusted space has right pseudo-labels 60% of the time ranked by reliability, "
        "by the expert's confidence 80%, by the ensemble of experts 90%."
    )
    assert "top 5%" not in words[0]  # no other ranking recorded there
    assert recall_table({}).empty
    assert pd.isna(table.loc["clean", "trusted precision"])  # the files before it lack the field
    payload["settings"]["clean"]["experts"][0]["trusted_precision"] = 0.95
    assert recall_table(payload).loc["clean", "trusted precision"] == 0.95


def test_the_noise_rate_table_reads_its_file():
    def kind(estimated, share, precision):
        return {
            "estimated": estimated,
            "true": [0.4, 0.2],
            "mean_abs_error": 0.1,
            "sized_share": share,
            "sized_precision": precision,
        }

    payload = {
        "settings": {
            "pairflip-40": {"vanilla": kind([0.5, 0.3], 0.6, 0.8), "tad": kind([0.6, None], 0.5, 0.9)},
            "clean": {"vanilla": kind([0.1, 0.1], 0.9, 1.0), "tad": kind([0.2, 0.2], 0.8, 1.0)},
        }
    }
    table = noise_rate_table(payload)
    assert table.index.tolist() == ["clean", "pairflip-40"]
    assert table.loc["pairflip-40", "wrong labels"] == pytest.approx(0.3)
    assert table.loc["pairflip-40", "estimate, vanilla experts"] == pytest.approx(0.4)
    assert table.loc["pairflip-40", "estimate, TAD experts"] == pytest.approx(0.6)  # a class without one
    assert table.loc["clean", "sized precision, TAD experts"] == 1.0
    assert pd.isna(table.loc["clean", "corrected estimate, vanilla experts"])  # not recorded there
    payload["settings"]["clean"]["vanilla"]["corrected"] = kind([0.0, 0.1], 0.95, 1.0)
    table = noise_rate_table(payload)
    assert table.loc["clean", "corrected estimate, vanilla experts"] == pytest.approx(0.05)
    assert table.loc["clean", "corrected sized share, vanilla experts"] == 0.95
    assert noise_rate_table({}).empty


def test_the_sizing_table_sets_the_sized_rows_beside_the_main_grid():
    def row(method, setting, tad_acc, share, precision, variant="full"):
        return {
            "method": method,
            "setting": setting,
            "variant": variant,
            "realised_noise_rate": 0.4 if setting != "clean" else 0.0,
            "arms": {"vanilla": {"acc_mean": 30.0}, "tad": {"acc_mean": tad_acc}},
            "trust": {"final": {"trusted_fraction": share, "precision": precision}},
        }

    main = [
        row("dm", "symmetric-40", 34.0, 0.65, 0.78),
        row("dm", "symmetric-40", 1.0, 0.1, 0.1, variant="drop-untrusted"),  # not the main grid's
        row("dm", "clean", 29.0, 0.72, 1.0),
    ]
    sized = [
        row("dm", "symmetric-40", 35.0, 0.6, 0.8),
        row("dm", "clean", 30.2, 0.97, 1.0),
        row("datm", "clean", 40.0, 0.97, 1.0),
    ]
    table = sizing_table(main, sized)
    assert list(table.index) == [("DATM", "clean"), ("DM", "clean"), ("DM", "symmetric-40")]
    line = table.loc[("DM", "symmetric-40")]
    assert (line["TAD, mixture"], line["TAD, sized"], line["right labels"]) == (34.0, 35.0, 0.6)
    assert (line["share, mixture"], line["share, sized"], line["precision, sized"]) == (0.65, 0.6, 0.8)
    assert pd.isna(table.loc[("DATM", "clean"), "TAD, mixture"])  # no main-grid row to compare with
    assert sizing_table(main, []).empty
    named = sizing_table(main, sized, ("final network", "5 snapshots"))
    assert named.loc[("DM", "clean"), ["TAD, final network", "share, 5 snapshots"]].tolist() == [29.0, 0.97]


def test_targets_side_by_side_keeps_the_targets_both_measured():
    from tad.targets import targets_side_by_side

    def table(measured, outcomes):
        return pd.DataFrame(
            {
                "target": ["a", "b", "c"],
                "where": ["x", "y", "z"],
                "measured": measured,
                "required": ["≥ 1", "≥ 1", "≥ 1"],
                "outcome": outcomes,
            }
        )

    before = table([0.5, 2.0, None], ["MISSED", "met", "not run"])
    after = table([1.5, None, 3.0], ["met", "not run", "met"])
    both = targets_side_by_side(before, after, ("main", "sized"))
    assert list(both.index) == [("a", "x", "≥ 1")]
    assert both.loc[("a", "x", "≥ 1")].tolist() == [0.5, "MISSED", 1.5, "met"]
    assert list(both.columns) == ["measured, main", "outcome, main", "measured, sized", "outcome, sized"]


def peer_payload() -> dict:
    """A peer-division file of two settings (the second listed first), two experts per mode."""

    def expert(precisions, final):
        epochs = [
            {"epoch": i + 1, "divided": p is not None, "precision": p, "trusted_fraction": 0.6, "loss": 1.0}
            for i, p in enumerate(precisions)
        ]
        return {
            "epochs": epochs,
            "final": {"trusted_fraction": 0.6, "precision": final, "recall": 0.7},
            "true_label_accuracy": 0.4,
        }

    def setting(own, peer):
        return {
            "clean_share": 0.6,
            "own": {
                "experts": [expert([None, 0.6, 0.7], own), expert([None, 0.6, 0.8], own)],
                "division_overlap": 0.8,
            },
            "peer": {
                "experts": [expert([None, 0.5, 0.6], peer), expert([None, 0.7, 0.6], peer + 0.1)],
                "division_overlap": 0.7,
            },
        }

    return {"settings": {"symmetric-40": setting(0.8, 0.7), "pairflip-40": setting(0.7, 0.6)}}


def test_the_peer_division_table_reads_its_file():
    table = peer_division_table(peer_payload())
    assert table.index.get_level_values("setting").tolist() == [
        "symmetric-40",
        "symmetric-40",
        "pairflip-40",
        "pairflip-40",
    ]  # the settings in the page's order
    assert table.loc[("pairflip-40", "the peer's scores"), "precision"] == pytest.approx(0.65)
    assert table.loc[("pairflip-40", "own scores (TAD)"), "precision"] == pytest.approx(0.7)
    assert table.loc[("symmetric-40", "own scores (TAD)"), "overlap of the two divisions"] == 0.8
    assert table.loc[("symmetric-40", "the peer's scores"), "expert accuracy (true labels)"] == 0.4
    assert peer_division_table({}).empty
    epochs = peer_division_epochs(peer_payload())
    assert len(epochs) == 2 * 2 * 2 * 2  # settings x modes x experts x epochs that divided
    assert set(epochs["epoch"]) == {2, 3} and epochs["precision"].notna().all()
