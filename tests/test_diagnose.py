"""The factorial diagnosis: its arms, the oracle's experts and one end-to-end arm on tiny digits."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from tad.config import NoiseConfig
from tad.diagnose import (
    RANKED_SHARES,
    Diagnosis,
    ensemble_probs,
    factorial_arms,
    neighbour_agreement,
    noise_rate_estimate,
    oracle_split,
    recall_ceiling,
    separability,
    sized_precision,
)
from tad.noise_rate import confident_learning_rates
from tad.presets import get_preset

CPU = torch.device("cpu")


def test_factorial_arms_cover_every_pathway_once():
    arms = factorial_arms()
    names = [a.name for a in arms]
    assert (
        len(names) == len(set(names)) == 16
    )  # 2 x 2 x 2 pathways x consistency, less one duplicate, + oracle
    plain = [a for a in arms if not a.uses_tad and a.trajectories != "oracle"]
    assert len(plain) == 1 and plain[0].trajectories == "vanilla" and plain[0].pool == "all"
    assert names[-1] == "oracle" and len(factorial_arms(oracle=False)) == 15


@pytest.fixture(scope="module")
def tiny():
    config = get_preset("digits")
    return replace(
        config,
        method="datm",
        noise=NoiseConfig(kind="pairflip", rate=0.4),
        expert=replace(config.expert, epochs=13),
        trust=replace(config.trust, evidence=False),  # every class split: a trusted pool to report on
        tm=replace(config.tm, iterations=3),
        eval=replace(config.eval, num_eval=1, epochs=5),
    )


def test_oracle_experts_train_on_the_truly_clean_samples_only(tiny):
    diagnosis = Diagnosis(tiny, device=CPU, experts_root=None)
    nd = diagnosis.nd
    split = oracle_split(nd)
    assert torch.equal(split.trusted, nd.noisy_labels == nd.clean_labels)
    oracle = diagnosis.experts("oracle")
    assert all(torch.equal(e.trusted, split.trusted) for e in oracle)
    # common random numbers: oracle and vanilla expert 0 start from the same weights
    vanilla = diagnosis.experts("vanilla")
    assert torch.equal(oracle[0].trajectory[0], vanilla[0].trajectory[0])
    assert not torch.equal(oracle[0].trajectory[-1], vanilla[0].trajectory[-1])


@pytest.mark.slow
def test_a_diagnosis_arm_runs_end_to_end_and_reports_its_pool(tiny):
    diagnosis = Diagnosis(tiny, device=CPU, experts_root=None)
    arm = next(a for a in factorial_arms() if a.trajectories == "tad" and a.pool == "trusted")
    row = diagnosis.run_arm(arm)
    assert row["arm"] == arm.name and row["factors"]["pool"] == "trusted"
    assert 0.0 <= row["acc_mean"] <= 100.0 and len(row["accs"]) == 1
    assert row["pool_quality"]["precision"] > 1.0 - float(diagnosis.nd.noise.realised_rate)
    plain = diagnosis.run_arm(factorial_arms()[0])
    assert plain["pool_quality"] is None


def test_neighbour_agreement_flags_labels_that_disagree_with_their_cluster():
    gen = torch.Generator().manual_seed(0)
    clean = torch.arange(4).repeat_interleave(25)
    features = torch.nn.functional.one_hot(clean, 4).float() + 0.05 * torch.randn(100, 4, generator=gen)
    noisy = clean.clone()
    noisy[::10] = (noisy[::10] + 1) % 4
    agree = neighbour_agreement(features, noisy, k=5)
    assert agree[noisy != clean].max() < agree[noisy == clean].min()
    # itself excluded: a lone sample's own label never counts
    assert float(neighbour_agreement(torch.eye(3), torch.tensor([0, 1, 2]), k=1).max()) == 0.0


def test_sized_precision_trusts_each_class_s_right_count_by_score():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    clean = torch.tensor([True, True, True, False, True, True, False, False])
    # a perfect score: the k_c best are exactly the right labels
    assert sized_precision(clean, clean.float(), labels, 2) == 1.0
    # class 0 keeps its 3 best (one of them wrong), class 1 its 2 best (both wrong): 2 of 5 right
    score = torch.tensor([4.0, 3.0, 1.0, 2.0, 0.0, 0.0, 1.0, 2.0])
    assert sized_precision(clean, score, labels, 2) == pytest.approx(2 / 5)
    # with slack 0.25 each class keeps one fewer: class 0 its 2 best (right), class 1 its best (wrong)
    assert sized_precision(clean, score, labels, 2, slack=0.25) == pytest.approx(2 / 3)


def test_separability_scores_every_epoch_and_reads_the_labels_only_to_report(tiny):
    diagnosis = Diagnosis(tiny, device=CPU, experts_root=None)
    rows = separability(diagnosis.experts("vanilla")[0], tiny, diagnosis.nd)
    assert [r["epoch"] for r in rows] == list(range(1, tiny.expert.epochs + 1))
    for r in rows:
        assert all(0.0 <= r[k] <= 1.0 for k in r if k.startswith(("auc_", "true_")))
    # on the digits every score beats chance (0.5) clearly by the last epoch
    assert min(rows[-1][k] for k in ("auc_loss", "auc_mean_loss", "auc_margin", "auc_neighbours")) > 0.6
    # the precision a perfectly sized division would reach by each score: better than the right share,
    # and better still when it keeps fewer
    share = float((diagnosis.nd.noisy_labels == diagnosis.nd.clean_labels).float().mean())
    for name in ("loss", "mean_loss", "margin", "neighbours"):
        exact, low = rows[-1][f"sized_precision_{name}"], rows[-1][f"sized_precision_{name}_low"]
        assert share < exact <= low <= 1.0
    # per class, the statistics of the evidence test, beside the true share of wrong labels
    evidence = rows[-1]["evidence"]
    assert len(evidence) == 10 and all(0.3 < e["wrong_share"] < 0.5 for e in evidence)
    assert all(isinstance(e["split"], bool) and e["separation"] >= 0 for e in evidence)
    assert all(e["right_ratio"] is None or e["right_ratio"] > 0 for e in evidence)
    clean = replace(tiny, noise=NoiseConfig())
    plain = Diagnosis(clean, device=CPU, experts_root=None)
    rows = separability(plain.experts("vanilla")[0], clean, plain.nd)
    assert rows[-1]["auc_loss"] is None and rows[-1]["sized_precision_loss"] is None
    assert all(e["wrong_share"] == 0 for e in rows[-1]["evidence"])


def test_recall_ceiling_ranks_the_untrusted_space_and_reads_the_labels_only_to_report(tiny):
    diagnosis = Diagnosis(tiny, device=CPU, experts_root=None)
    expert = diagnosis.experts("tad")[0]
    experts = diagnosis.experts("tad")
    mean_probs = ensemble_probs(experts, tiny, diagnosis.nd)
    assert mean_probs.shape == (len(expert.labels), 10)
    assert torch.allclose(mean_probs.sum(dim=1), torch.ones(len(expert.labels)))
    entry = recall_ceiling(expert, tiny, diagnosis.nd, ensemble_probs=mean_probs)
    untrusted = ~expert.trusted
    assert entry["untrusted"] == int(untrusted.sum()) > 0
    assert entry["trusted_share"] == pytest.approx(float(expert.trusted.float().mean()))
    right = diagnosis.nd.noisy_labels == diagnosis.nd.clean_labels
    assert entry["trusted_precision"] == pytest.approx(float(right[expert.trusted].float().mean()))
    counts = [r["count"] for r in entry["ranked"]]
    assert [r["share"] for r in entry["ranked"]] == list(RANKED_SHARES)
    assert counts == sorted(counts) and counts[-1] <= entry["untrusted"]
    # the gate only ever removes recalls, and removes all of them while the anchors are immature
    assert entry["recalled_ungated"] >= entry["recalled_gated"]
    if entry["maturity"] < entry["gamma"]:
        assert entry["recalled_gated"] == 0
    # on the digits the features are mature: the most reliable pseudo-labels are right far more often
    # than the untrusted samples' given labels are
    top = entry["ranked"][1]
    assert top["pseudo_label_accuracy"] > 1.0 - entry["untrusted_wrong_share"]
    # the two other rankings cover the same shares; the confidence ranking may take every untrusted
    # sample, the ensemble only those where the expert agrees with it
    by = entry["ranked_by"]
    assert set(by) == {"confidence", "ensemble"}
    for rows in by.values():
        assert [r["share"] for r in rows] == list(RANKED_SHARES)
    assert [r["count"] for r in by["confidence"]] == [round(s * entry["untrusted"]) for s in RANKED_SHARES]
    for ensemble, confidence in zip(by["ensemble"], by["confidence"], strict=True):
        assert ensemble["count"] <= confidence["count"]
    assert by["confidence"][1]["pseudo_label_accuracy"] > 1.0 - entry["untrusted_wrong_share"]
    # without the ensemble's probabilities only the expert's own ranking is recorded
    assert set(recall_ceiling(expert, tiny, diagnosis.nd)["ranked_by"]) == {"confidence"}


def test_the_noise_rate_estimate_is_exact_for_a_confident_right_classifier_and_reads_high_when_it_errs():
    true = torch.arange(100) % 4
    labels = true.clone()
    labels[:20] = (true[:20] + 1) % 4  # 5 of the 25 samples of every class flip to the next
    probs = torch.nn.functional.one_hot(true, 4).float() * 0.9 + 0.025
    est = confident_learning_rates(probs, labels, 4)
    torch.testing.assert_close(est, torch.full((4,), 0.2))
    assert confident_learning_rates(probs, true, 4).tolist() == [0.0] * 4  # clean labels: no noise
    wrong = probs.clone()
    wrong[40:50] = wrong[40:50].roll(1, dims=1)  # the classifier errs confidently on ten right labels
    assert (confident_learning_rates(wrong, true, 4) > 0).any()
    empty = confident_learning_rates(probs[true < 3], true[true < 3], 4)  # a class nobody carries
    assert torch.isnan(empty[3]) and not torch.isnan(empty[:3]).any()


def test_the_noise_rate_diagnosis_sizes_a_division_by_its_estimate(tiny):
    diagnosis = Diagnosis(tiny, device=CPU, experts_root=None)
    nd = diagnosis.nd
    right = nd.noisy_labels == nd.clean_labels
    # the truth as probabilities: an estimate that is exact, and a division that keeps the right labels
    perfect = torch.nn.functional.one_hot(nd.clean_labels, 10).float() * 0.9 + 0.01
    entry = noise_rate_estimate(perfect, nd)
    assert entry["mean_abs_error"] == pytest.approx(0.0, abs=1e-6)
    assert entry["sized_precision"] == pytest.approx(1.0)
    assert entry["sized_share"] == pytest.approx(float(right.float().mean()), abs=0.01)
    # two experts agreeing on 64% of the samples are each wrong about 20% of the time: the correction
    corrected = noise_rate_estimate(perfect, nd, agreement=0.64)
    assert corrected["expert_error"] == pytest.approx(0.2)
    expected = [max(0.0, (v - 0.2) / 0.8) for v in corrected["estimated"]]
    assert corrected["corrected"]["estimated"] == pytest.approx(expected)
    assert corrected["corrected"]["sized_share"] >= corrected["sized_share"]  # fewer called wrong
    # agreeing more on their top two classes, they are taken to err less: a smaller correction
    both = noise_rate_estimate(perfect, nd, agreement=0.64, agreement_top2=0.81)
    expected = [max(0.0, (v - 0.1) / 0.9) for v in both["estimated"]]
    assert (
        both["corrected_top2"]["estimated"] == pytest.approx(expected)
        and both["corrected"] == corrected["corrected"]
    )
    probs = ensemble_probs(diagnosis.experts("vanilla"), tiny, nd)
    entry = noise_rate_estimate(probs, nd)
    assert "corrected" not in entry
    assert len(entry["estimated"]) == len(entry["true"]) == 10
    assert entry["true"] == pytest.approx(
        [float((~right[nd.noisy_labels == k]).float().mean()) for k in range(10)]
    )
    assert 0 < entry["sized_share"] <= 1 and entry["sized_precision"] is not None


@pytest.mark.slow
def test_the_noise_rate_run_writes_one_entry_per_setting_and_resumes(tiny, tmp_path):
    from tad.diagnosis_runs import run_side_study

    path, seen = tmp_path / "noise-rate.json", []
    settings = {"pairflip-40": tiny.noise}
    run_side_study(
        "noise_rate", tiny, settings, path, device=CPU, experts_root=tmp_path / "experts", command=["x"]
    )
    with pytest.raises(ValueError, match="unknown study 'noise'"):
        run_side_study("noise", tiny, settings, path, device=CPU, experts_root=tmp_path / "experts")
    run_side_study(
        "noise_rate",
        tiny,
        settings,
        path,
        device=CPU,
        experts_root=tmp_path / "experts",
        on_setting=lambda *a: seen.append(a),
    )
    assert seen == []  # the setting was already in the file
    import json

    entry = json.loads(path.read_text())["settings"]["pairflip-40"]
    for kind in ("vanilla", "tad"):
        assert 0.0 <= entry[kind]["agreement"] <= 1.0 and len(entry[kind]["corrected"]["estimated"]) == 10
        assert entry[kind]["agreement_top2"] >= entry[kind]["agreement"]
    # snapshot ensembles of the plain experts' last 3, 5 and 8 checkpoints (13 epochs: all three)
    snapshots = entry["vanilla"]["snapshots"]
    assert list(snapshots) == ["3", "5", "8"] and "snapshots" not in entry["tad"]
    for e in snapshots.values():
        assert 0.0 <= e["agreement"] <= 1.0 and len(e["corrected"]["estimated"]) == 10
        assert len(e["estimates_mean"]["estimated"]) == 10
    from tad.study_tables import noise_rate_table

    table = noise_rate_table(json.loads(path.read_text()))
    for key, name in (("corrected", "ensemble"), ("estimates_mean", "mean of estimates")):
        assert table.loc["pairflip-40", f"5-snapshot {name}, estimate"] == round(
            sum(snapshots["5"][key]["estimated"]) / 10, 3
        )
    from tad.__main__ import _noise_rate_line

    assert _noise_rate_line("pairflip-40", entry).startswith("pairflip-40    true share of wrong labels")


@pytest.mark.slow
def test_peer_division_repeats_the_buffers_experts_in_its_own_mode_and_exchanges_scores_in_the_other(
    tiny, tmp_path
):
    from tad.diagnose import peer_division

    tiny = replace(tiny, method="dm", expert=replace(tiny.expert, epochs=8))  # DM: no trajectory to match
    diagnosis = Diagnosis(tiny, device=CPU, experts_root=tmp_path)  # the plain experts are shared
    nd = diagnosis.nd
    entry = peer_division(tiny, nd, device=CPU, experts_root=tmp_path)
    buffered = diagnosis.experts("tad")
    right = nd.noisy_labels == nd.clean_labels
    assert entry["clean_share"] == pytest.approx(float(right.float().mean()))
    # own mode: the buffer's TAD experts 0 and 1, epoch by epoch (common random numbers)
    for mine, theirs in zip(entry["own"]["experts"], buffered, strict=False):
        assert [h["trusted_fraction"] for h in mine["epochs"]] == [
            h["trusted_fraction"] for h in theirs.history
        ]
        assert [h["precision"] for h in mine["epochs"]] == [h["precision"] for h in theirs.history]
        assert mine["final"]["trusted_fraction"] == pytest.approx(float(theirs.trusted.float().mean()))
    # peer mode: the same streams, other scores, so the divisions differ once they start
    own, peer = (entry[m]["experts"][0]["epochs"] for m in ("own", "peer"))
    first = next(i for i, h in enumerate(own) if h["divided"])
    assert [h["loss"] for h in own[:first]] == [h["loss"] for h in peer[:first]]
    assert [h["precision"] for h in own[first:]] != [h["precision"] for h in peer[first:]]
    for mode in ("own", "peer"):
        assert 0.0 < entry[mode]["division_overlap"] <= 1.0
        for expert in entry[mode]["experts"]:
            assert 0.0 <= expert["true_label_accuracy"] <= 1.0
            assert len(expert["epochs"]) == tiny.expert.epochs
    with pytest.raises(ValueError, match="divide every epoch"):
        static = replace(tiny, trust=replace(tiny.trust, schedule="static"))
        peer_division(static, nd, device=CPU)
