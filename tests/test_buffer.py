"""Expert files: metadata, skipping finished experts, resuming an interrupted one."""

from dataclasses import replace

import pytest
import torch

import tad.buffer as buffer
from tad.buffer import (
    Expert,
    ExpertSpec,
    checkpoint_probs,
    consensus_split,
    final_scores,
    plain_noise_rates,
    snapshot_probs,
    train_experts,
)
from tad.checkpoint import safe_load
from tad.config import (
    AugmentConfig,
    DataConfig,
    ExpertConfig,
    ModelConfig,
    NoiseConfig,
    RecalibConfig,
    TrustConfig,
)
from tad.noise_rate import estimate_noise_rates
from tad.trust import everyone_trusted

CPU = torch.device("cpu")


def make_problem(n_per_class: int = 12, classes: int = 3):
    gen = torch.Generator().manual_seed(0)
    clean = torch.arange(classes).repeat_interleave(n_per_class)
    images = torch.randn(len(clean), 1, 8, 8, generator=gen) + clean.view(-1, 1, 1, 1).float()
    noisy = clean.clone()
    noisy[::4] = (noisy[::4] + 1) % classes
    return images, noisy, clean


SPEC = ExpertSpec(
    data=DataConfig(),
    noise=NoiseConfig(kind="pairflip", rate=0.25),
    model=ModelConfig(width=4, depth=2),
    augment=AugmentConfig(strategy="crop_scale"),
    expert=ExpertConfig(num_experts=3, epochs=4, lr=0.05, batch_size=16),
    trust=TrustConfig(warmup_fraction=0.25),
    recalib=RecalibConfig(),
    seed=0,
)


def files_of(folder):
    return {p.name: torch.load(p, weights_only=False) for p in sorted(folder.glob("expert_*.pt"))}


def assert_same_expert(a: Expert, b: Expert):
    torch.testing.assert_close(a.trajectory, b.trajectory, rtol=0, atol=0)
    assert torch.equal(a.trusted, b.trusted) and torch.equal(a.labels, b.labels)
    assert a.history == b.history


@pytest.mark.parametrize("kind", ["vanilla", "tad"])
def test_experts_are_saved_with_metadata_and_loaded(tmp_path, kind):
    images, noisy, clean = make_problem()
    experts = train_experts(kind, images, noisy, clean, 3, SPEC, root=tmp_path, device=CPU)
    assert len(experts) == 3
    folder = SPEC.folder(tmp_path, kind)
    saved = files_of(folder)
    assert sorted(saved) == ["expert_000.pt", "expert_001.pt", "expert_002.pt"]
    meta = saved["expert_000.pt"]["meta"]
    assert meta["kind"] == kind and meta["index"] == 0 and meta["noise"]["kind"] == "pairflip"
    assert ("trust" in meta) == (kind == "tad")
    assert experts[0].trajectory.shape[0] == SPEC.expert.epochs + 1
    assert len(experts[0].history) == SPEC.expert.epochs
    assert not list(folder.glob("*.partial.pt"))
    again = train_experts(kind, images, noisy, clean, 3, SPEC, root=tmp_path, device=CPU)
    for a, b in zip(experts, again, strict=True):
        assert_same_expert(a, b)


def test_killed_after_k_experts_then_rerun_gives_the_same_files(tmp_path, monkeypatch):
    images, noisy, clean = make_problem()
    uninterrupted = tmp_path / "a"
    train_experts("tad", images, noisy, clean, 3, SPEC, root=uninterrupted, device=CPU)

    interrupted = tmp_path / "b"
    # the plain experts whose predictions size the trusted space (trust.sizing) train first, uncounted
    train_experts("vanilla", images, noisy, clean, 3, SPEC, root=interrupted, device=CPU)
    real_train = buffer.fit_expert
    calls = {"n": 0}

    def dies_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_train(*args, **kwargs)

    monkeypatch.setattr(buffer, "fit_expert", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        train_experts("tad", images, noisy, clean, 3, SPEC, root=interrupted, device=CPU)
    assert len(list(SPEC.folder(interrupted, "tad").glob("expert_*[0-9].pt"))) == 2
    monkeypatch.setattr(buffer, "fit_expert", real_train)
    trained = {"n": 0}

    def counting(*args, **kwargs):
        trained["n"] += 1
        return real_train(*args, **kwargs)

    monkeypatch.setattr(buffer, "fit_expert", counting)
    train_experts("tad", images, noisy, clean, 3, SPEC, root=interrupted, device=CPU)
    assert trained["n"] == 1  # the two finished experts were not recomputed
    a, b = files_of(SPEC.folder(uninterrupted, "tad")), files_of(SPEC.folder(interrupted, "tad"))
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name]["meta"] == b[name]["meta"]
        assert_same_expert(a[name]["expert"], b[name]["expert"])


def test_an_interrupted_expert_continues_from_its_last_epoch(tmp_path, monkeypatch):
    images, noisy, clean = make_problem()
    # one expert, so the mixture division (a sized one first trains two plain experts)
    spec = replace(
        SPEC, expert=replace(SPEC.expert, num_experts=1), trust=replace(SPEC.trust, sizing="mixture")
    )
    reference = train_experts("tad", images, noisy, clean, 3, spec, root=tmp_path / "a", device=CPU)[0]

    real_save = buffer.atomic_save
    saves = {"n": 0}

    def dies_after_two_epochs(obj, path):
        real_save(obj, path)
        saves["n"] += 1
        if saves["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(buffer, "atomic_save", dies_after_two_epochs)
    with pytest.raises(KeyboardInterrupt):
        train_experts("tad", images, noisy, clean, 3, spec, root=tmp_path / "b", device=CPU)
    partial = spec.folder(tmp_path / "b", "tad") / "expert_000.partial.pt"
    assert safe_load(partial, buffer._SAVED)["progress"].epoch == 2  # a partial expert reads safely
    monkeypatch.setattr(buffer, "atomic_save", real_save)
    resumed = train_experts("tad", images, noisy, clean, 3, spec, root=tmp_path / "b", device=CPU)[0]
    assert_same_expert(reference, resumed)
    assert not partial.exists()


def test_mismatched_metadata_says_what_differs(tmp_path):
    images, noisy, clean = make_problem()
    spec = replace(SPEC, expert=replace(SPEC.expert, num_experts=1))
    train_experts("vanilla", images, noisy, clean, 3, spec, root=tmp_path, device=CPU)
    path = spec.folder(tmp_path, "vanilla") / "expert_000.pt"
    saved = torch.load(path, weights_only=False)
    saved["meta"]["expert"]["lr"] = 0.5
    torch.save(saved, path)
    with pytest.raises(ValueError, match=r"expert\.lr: saved 0\.5, expected 0\.05"):
        train_experts("vanilla", images, noisy, clean, 3, spec, root=tmp_path, device=CPU)


def test_folders_separate_different_settings(tmp_path):
    other = replace(SPEC, noise=NoiseConfig(kind="symmetric", rate=0.4))
    assert SPEC.folder(tmp_path, "tad") != other.folder(tmp_path, "tad")
    # clean experts do not depend on the noise, so every noise setting shares them
    assert SPEC.folder(tmp_path, "clean") == other.folder(tmp_path, "clean")
    with pytest.raises(ValueError, match="unknown expert kind"):
        train_experts("bogus", *make_problem(), 3, SPEC, root=None, device=CPU)


def test_consensus_averages_clean_posteriors_over_majority_labels():
    def expert(p_clean, labels):
        p = torch.tensor(p_clean)
        return Expert(torch.zeros(1, 1), [], p >= 0.5, torch.tensor(labels), [], p)

    experts = [
        expert([0.9, 0.9, 0.1, 0.9, 0.6], [0, 1, 2, 0, 3]),
        expert([0.9, 0.2, 0.1, 0.9, 0.4], [0, 1, 2, 1, 3]),
        expert([0.9, 0.9, 0.9, 0.9, 0.6], [0, 1, 2, 1, 3]),
    ]
    trusted, labels, score = consensus_split(experts)
    assert labels.tolist() == [0, 1, 2, 1, 3]
    # sample 3: the expert with another label counts 0, so (0 + 0.9 + 0.9) / 3 = 0.6
    torch.testing.assert_close(score, torch.tensor([0.9, 2.0 / 3.0, 1.1 / 3.0, 0.6, 1.6 / 3.0]))
    assert trusted.tolist() == [True, True, False, True, True]
    # requiring every expert's vote would keep sample 0 alone
    everyone = [Expert(torch.zeros(1, 1), [], torch.ones(2, dtype=torch.bool), torch.tensor([0, 1]), [])] * 2
    assert consensus_split(everyone)[0].all()


def test_two_stage_experts_train_on_one_static_filter(tmp_path):
    images, noisy, clean = make_problem()
    spec = replace(
        SPEC,
        trust=replace(SPEC.trust, schedule="static", evidence=False),
        recalib=RecalibConfig(enabled=False),
    )
    experts = train_experts("tad", images, noisy, clean, 3, spec, root=tmp_path, device=CPU)
    # the filter comes from the first vanilla expert, which the vanilla arm shares
    assert (SPEC.folder(tmp_path, "vanilla") / "expert_000.pt").exists()
    first = experts[0]
    assert not first.trusted.all() and all(torch.equal(e.trusted, first.trusted) for e in experts)
    assert torch.equal(first.labels, noisy)  # no recall, no pseudo-labels
    assert all(
        h["trusted_fraction"] == pytest.approx(float(first.trusted.float().mean())) for h in first.history
    )


def test_expert_k_of_every_kind_shares_its_random_stream():
    images, noisy, clean = make_problem()
    kinds = {
        k: train_experts(k, images, noisy, clean, 3, SPEC, root=None, device=CPU) for k in ("vanilla", "tad")
    }
    for k in range(SPEC.expert.num_experts):
        # the same initial weights for expert k of both kinds, different ones for different k
        assert torch.equal(kinds["vanilla"][k].trajectory[0], kinds["tad"][k].trajectory[0])
    assert not torch.equal(kinds["vanilla"][0].trajectory[0], kinds["vanilla"][1].trajectory[0])


def test_a_tad_expert_that_finds_no_noise_is_the_vanilla_expert():
    # Clean labels, no consistency term: the mixture's evidence test splits no class, nothing is
    # recalled, and with shared batches and augmentations the TAD expert's trajectory is the vanilla
    # one, bit for bit. (A sized division trusts a class whole only when its estimated rate is 0.)
    images, _, clean = make_problem()
    trust = replace(SPEC.trust, lambda_cons=0.0, sizing="mixture")
    spec = replace(SPEC, noise=NoiseConfig(kind="clean"), trust=trust)
    vanilla = train_experts("vanilla", images, clean, clean, 3, spec, root=None, device=CPU)
    tad = train_experts("tad", images, clean, clean, 3, spec, root=None, device=CPU)
    for v, t in zip(vanilla, tad, strict=True):
        assert t.trusted.all()
        torch.testing.assert_close(v.trajectory, t.trajectory, rtol=0, atol=0)


def test_each_kind_of_expert_is_a_task_of_the_spec():
    # The kinds differ only in what they train on and whether they divide; the rest is the spec's.
    images, noisy, clean = make_problem()
    rates = torch.full((3,), 0.25)  # the trust-aware kind divides by its noise rates; the others have none
    tasks = {
        kind: SPEC.task(kind, images, noisy, clean, 3, noise_rates=rates)
        for kind in ("vanilla", "tad", "clean")
    }
    assert tasks["tad"].noise_rates is rates and tasks["vanilla"].noise_rates is None
    assert torch.equal(tasks["vanilla"].labels, noisy) and torch.equal(tasks["tad"].labels, noisy)
    assert torch.equal(tasks["clean"].labels, clean)
    assert [kind for kind, task in tasks.items() if task.dynamic] == ["tad"]
    for task in tasks.values():
        settings = (task.model, task.expert, task.augment, task.recalib)
        assert settings == (SPEC.model, SPEC.expert, SPEC.augment, SPEC.recalib)
        assert replace(task.trust, enabled=True) == SPEC.trust and torch.equal(task.clean_labels, clean)
    split = everyone_trusted(noisy, 3)
    oracle = SPEC.task("oracle", images, noisy, clean, 3, fixed_split=split)
    # the oracle trains on its fixed split from the first epoch and never divides
    assert oracle.masked and not oracle.dynamic and oracle.initial_split() is split


def test_diverted_experts_train_on_the_tad_experts_final_space(tmp_path):
    # trust.trajectories = "retrained": fresh experts on the dividing experts' consensus space and labels
    images, noisy, clean = make_problem()
    spec = replace(SPEC, trust=replace(SPEC.trust, evidence=False, trajectories="retrained"))
    tad = train_experts("tad", images, noisy, clean, 3, spec, root=tmp_path, device=CPU)
    # a dividing expert does not depend on whose trajectories are matched afterwards
    dividing = replace(spec, trust=replace(spec.trust, trajectories="dividing"))
    assert spec.folder(tmp_path, "tad") == dividing.folder(tmp_path, "tad")
    assert spec.folder(tmp_path, "diverted") != dividing.folder(tmp_path, "diverted")
    trusted, labels, score = consensus_split(tad)
    split = replace(everyone_trusted(noisy, 3), trusted=trusted, labels=labels, p_clean=score)
    assert not trusted.all()
    diverted = train_experts(
        "diverted", images, noisy, clean, 3, spec, root=tmp_path, device=CPU, fixed_split=split
    )
    assert (spec.folder(tmp_path, "diverted") / "expert_000.pt").exists()
    for expert in diverted:
        assert torch.equal(expert.trusted, trusted) and torch.equal(expert.labels, labels)
        assert not any(h["divided"] for h in expert.history)  # no division, from the first epoch on
    with pytest.raises(ValueError, match="train on a given split"):
        train_experts("diverted", images, noisy, clean, 3, spec, root=None, device=CPU)


def test_tad_experts_sized_by_the_vanilla_experts_estimate(tmp_path):
    images, noisy, clean = make_problem(n_per_class=24)
    spec = replace(SPEC, trust=replace(SPEC.trust, sizing="estimated"))
    experts = train_experts("tad", images, noisy, clean, 3, spec, root=tmp_path, device=CPU)
    estimate = plain_noise_rates(images, noisy, clean, 3, spec, root=tmp_path, device=CPU)
    # the estimate reads vanilla experts 0 and 1: the vanilla arm's own files
    assert {p.name for p in SPEC.folder(tmp_path, "vanilla").glob("expert_*.pt")} == {
        "expert_000.pt",
        "expert_001.pt",
    }
    for e in experts:
        torch.testing.assert_close(e.noise_rates, estimate.rates)
        for c in range(3):
            members = e.labels == c
            kept = int(e.trusted[members].sum())
            expected = max(round((1 - float(estimate.rates[c])) * int(members.sum())), 0)
            assert kept >= expected  # the class minimum and recalls can only add
    trusted, _, _ = consensus_split(experts)
    for c in range(3):
        members = noisy == c
        assert int(trusted[members].sum()) == round((1 - float(estimate.rates[c])) * int(members.sum()))


def test_saved_tad_experts_are_loaded_without_estimating_the_noise_rate_again(tmp_path, monkeypatch):
    images, noisy, clean = make_problem(n_per_class=24)
    spec = replace(SPEC, trust=replace(SPEC.trust, sizing="estimated"))
    first = train_experts("tad", images, noisy, clean, 3, spec, root=tmp_path, device=CPU)
    calls = []
    real = buffer.plain_noise_rates
    monkeypatch.setattr(buffer, "plain_noise_rates", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = train_experts("tad", images, noisy, clean, 3, spec, root=tmp_path, device=CPU)
    assert calls == []  # every expert was found: nothing trains, so nothing needs the estimate
    for a, b in zip(first, again, strict=True):
        assert_same_expert(a, b)
        torch.testing.assert_close(a.noise_rates, b.noise_rates)
    # one missing expert trains again, on the same estimate, into the same file
    (spec.folder(tmp_path, "tad") / "expert_001.pt").unlink()
    retrained = train_experts("tad", images, noisy, clean, 3, spec, root=tmp_path, device=CPU)
    assert calls == [1]
    assert_same_expert(first[1], retrained[1])


def test_a_setting_added_later_keeps_earlier_experts_at_the_value_that_behaves_as_they_did():
    # trust.rate_agreement and trust.rate_snapshots came after experts were saved: at "top1" and 1
    # (what those experts did) they leave the expert's identity, and so its folder, as it was; another
    # value is another expert
    before = replace(SPEC, trust=replace(SPEC.trust, rate_snapshots=1))
    earlier = before.meta("tad")["trust"]
    assert "rate_agreement" not in earlier and before.trust.rate_agreement == "top1"
    assert "rate_snapshots" not in earlier
    assert "rate_snapshot_mean" not in earlier and before.trust.rate_snapshot_mean == "probabilities"
    earlier_values = (("rate_agreement", "top2"), ("rate_snapshots", 3), ("rate_snapshot_mean", "estimates"))
    for name, value in earlier_values:
        other = replace(before, trust=replace(before.trust, **{name: value}))
        assert other.meta("tad")["trust"][name] == value
        assert other.folder("root", "tad") != before.folder("root", "tad")
        assert other.folder("root", "vanilla") == before.folder("root", "vanilla")  # trust is TAD's alone
    # today's default (5 snapshots) is another expert than those saved before the setting existed
    assert SPEC.trust.rate_snapshots == 5 and SPEC.meta("tad")["trust"]["rate_snapshots"] == 5


def test_snapshot_probs_average_the_last_checkpoints(tmp_path):
    images, noisy, clean = make_problem(n_per_class=12)
    (expert,) = train_experts(
        "vanilla",
        images,
        noisy,
        clean,
        3,
        replace(SPEC, expert=replace(SPEC.expert, num_experts=1)),
        root=tmp_path,
        device=CPU,
    )
    final = final_scores(expert, SPEC.model, images, noisy, 3).probs
    assert torch.equal(snapshot_probs(expert, SPEC.model, images, noisy, 3), final)  # 1: the final network
    epochs = len(expert.trajectory) - 1
    each = []
    for back in (1, 2):  # the last two checkpoints, scored one at a time
        one = replace(expert, trajectory=expert.trajectory[: len(expert.trajectory) - back + 1])
        each.append(final_scores(one, SPEC.model, images, noisy, 3).probs)
    two = snapshot_probs(expert, SPEC.model, images, noisy, 3, snapshots=2)
    torch.testing.assert_close(two, (each[0] + each[1]) / 2)
    assert not torch.allclose(two, final)
    with pytest.raises(ValueError, match=f"between 1 and the expert's {epochs} epochs"):
        snapshot_probs(expert, SPEC.model, images, noisy, 3, snapshots=epochs + 1)


def test_the_snapshot_estimate_reads_the_snapshot_ensembles(tmp_path):
    images, noisy, clean = make_problem(n_per_class=24)
    spec = replace(SPEC, trust=replace(SPEC.trust, sizing="estimated", rate_snapshots=2))
    estimate = plain_noise_rates(images, noisy, clean, 3, spec, root=tmp_path, device=CPU)
    pair = replace(spec, expert=replace(spec.expert, num_experts=2))
    plain = train_experts("vanilla", images, noisy, clean, 3, pair, root=tmp_path, device=CPU)
    first, second = (snapshot_probs(e, SPEC.model, images, noisy, 3, snapshots=2) for e in plain)
    expected = estimate_noise_rates(first, second, noisy, 3)
    torch.testing.assert_close(estimate.rates, expected.rates)
    assert estimate.agreement == expected.agreement
    one = replace(SPEC, trust=replace(SPEC.trust, rate_snapshots=1))
    final = plain_noise_rates(images, noisy, clean, 3, one, root=tmp_path, device=CPU)  # the same files
    assert final.agreement != estimate.agreement or not torch.equal(final.raw, estimate.raw)
    # "estimates": one estimate per checkpoint (the two networks at the same epoch), then their mean
    each = replace(spec, trust=replace(spec.trust, rate_snapshot_mean="estimates"))
    averaged = plain_noise_rates(images, noisy, clean, 3, each, root=tmp_path, device=CPU)
    firsts, seconds = (checkpoint_probs(e, SPEC.model, images, noisy, 3, snapshots=2) for e in plain)
    assert torch.equal(firsts[0], final_scores(plain[0], SPEC.model, images, noisy, 3).probs)  # final first
    per = [estimate_noise_rates(a, b, noisy, 3) for a, b in zip(firsts, seconds, strict=True)]
    torch.testing.assert_close(averaged.rates, (per[0].rates + per[1].rates) / 2)
    assert averaged.agreement == pytest.approx((per[0].agreement + per[1].agreement) / 2)


def test_the_snapshot_estimate_reads_every_checkpoint_of_networks_shorter_than_asked(tmp_path):
    images, noisy, clean = make_problem(n_per_class=24)
    epochs = SPEC.expert.epochs
    asked = replace(SPEC, trust=replace(SPEC.trust, sizing="estimated", rate_snapshots=epochs + 3))
    every = replace(SPEC, trust=replace(SPEC.trust, sizing="estimated", rate_snapshots=epochs))
    longer = plain_noise_rates(images, noisy, clean, 3, asked, root=tmp_path, device=CPU)
    exact = plain_noise_rates(images, noisy, clean, 3, every, root=tmp_path, device=CPU)
    torch.testing.assert_close(longer.rates, exact.rates)
    assert longer.agreement == exact.agreement
