"""Grids of settings, the results file, skipping finished rows, and fair hyper-parameter selection."""

from dataclasses import replace

import pytest
import torch

from tad.config import NoiseConfig
from tad.presets import get_preset
from tad.reproduce import ABLATIONS, Job, append_result, grid_jobs, read_results, run_grid
from tad.selection import CANDIDATES, score_candidate, summarise, validation_split


def test_main_grid_lists_every_setting_once_per_method():
    jobs = grid_jobs("main", ("dm", "datm"))
    settings = [j.setting for j in jobs if j.method == "dm"]
    assert settings == [
        "clean",
        "symmetric-20",
        "symmetric-40",
        "symmetric-60",
        "asymmetric-20",
        "asymmetric-40",
        "pairflip-20",
        "pairflip-40",
        "cifar10n-aggre",
        "cifar10n-rand1",
    ]
    assert len(jobs) == 20
    clean = next(j for j in jobs if j.setting == "clean")
    assert "clean" not in clean.arms  # on clean labels the clean arm would repeat vanilla
    with pytest.raises(ValueError, match="unknown grid"):
        grid_jobs("bogus", ("dm",))


def test_ablations_change_one_thing_and_run_only_tad():
    base = get_preset("cifar10-cpu")
    jobs = grid_jobs("ablations", ("dm",))
    assert {j.variant for j in jobs} == set(ABLATIONS)
    assert all(j.arms == ("tad",) for j in jobs)
    configs = {j.variant: j.config(base) for j in jobs if j.setting == "symmetric-40"}
    assert configs["two-stage"].trust.schedule == "static" and not configs["two-stage"].recalib.enabled
    assert configs["outer-only"].trust.lambda_cons == 0 and not configs["outer-only"].recalib.enabled
    assert configs["outer+consistency"].trust.lambda_cons == base.trust.lambda_cons
    assert configs["global-threshold"].trust.threshold == "global"
    assert configs["mahalanobis-only"].recalib.reliability == "mahalanobis"
    assert configs["cosine-only"].recalib.reliability == "cosine"
    assert base.trust.evidence and not configs["split-every-class"].trust.evidence
    assert configs["fixed-start"].trust.start_loss_drop == 0.0
    assert base.trust.loss_ema == 0.0 and configs["loss-average"].trust.loss_ema == 0.8
    assert configs["soft-untrusted"].trust.untrusted == "soft"
    assert len({c.name for c in configs.values()}) == len(configs)


def test_keys_identify_a_row():
    job = Job("main", "dm", NoiseConfig(kind="real", real_labels="rand1"))
    assert job.setting == "cifar10n-rand1"
    assert job.key("cifar10-cpu", 10, 0) != job.key("cifar10-cpu", 10, 1)
    assert job.key("cifar10-cpu", 10, 0) != replace(job, method="datm").key("cifar10-cpu", 10, 0)


def fake_result(config):
    """What run_experiment returns, with every arm at 50%: enough for a results row."""
    arms = {a: {"acc_mean": 50.0, "acc_std": 1.0, "accs": [49.0, 51.0]} for a in config.arms}
    return {
        "noise": {"realised_rate": config.noise.rate},
        "config": {"ipc": config.ipc, "seed": config.seed, "name": config.name},
        "machine": {"device": "cpu"},
        "trust": {"final": {"precision": 0.9}, "history": []},
        "arms": arms,
    }


def test_results_file_appends_and_skips_finished_settings(tmp_path):
    base = replace(get_preset("digits"), name="digits")
    jobs = [Job("main", "dm", NoiseConfig(kind="symmetric", rate=r)) for r in (0.2, 0.4)]
    path = tmp_path / "results.jsonl"
    ran = []

    def fake_run(config):
        ran.append(config.noise.rate)
        return fake_result(config)

    assert run_grid(base, "digits", jobs[:1], path, run=fake_run, command=["x"]) == 1
    assert run_grid(base, "digits", jobs, path, run=fake_run, command=["x"]) == 1
    assert ran == [0.2, 0.4]
    rows = read_results(path)
    assert [r["setting"] for r in rows] == ["symmetric-20", "symmetric-40"]
    row = rows[0]
    for field in ("command", "seed", "package_version", "machine", "wall_time_s", "arms", "trust", "preset"):
        assert field in row
    assert row["arms"]["tad"]["acc_mean"] == 50.0
    append_result(path, {"key": "extra"})
    assert len(read_results(path)) == 3
    assert read_results(tmp_path / "absent.jsonl") == []


def test_a_grid_skips_rows_that_a_parallel_grid_finished_meanwhile(tmp_path):
    base = replace(get_preset("digits"), name="digits")
    jobs = [Job("main", "dm", NoiseConfig(kind="symmetric", rate=r)) for r in (0.2, 0.4)]
    path = tmp_path / "results.jsonl"
    ran = []

    def fake_run(config):
        ran.append(config.noise.rate)
        if config.noise.rate == 0.2:  # meanwhile, another process finishes the second row
            other = jobs[1].key("digits", base.ipc, base.seed)
            append_result(path, {"key": other, "setting": "symmetric-40"})
        return fake_result(config)

    assert run_grid(base, "digits", jobs, path, run=fake_run, command=["x"]) == 1
    assert ran == [0.2]
    assert sorted(r["setting"] for r in read_results(path)) == ["symmetric-20", "symmetric-40"]


def test_validation_split_is_stratified_and_seeded():
    labels = torch.arange(4).repeat_interleave(50)
    held = validation_split(labels, 0.1, seed=0)
    assert torch.bincount(labels[held]).tolist() == [5, 5, 5, 5]
    assert torch.equal(held, validation_split(labels, 0.1, seed=0))
    assert not torch.equal(held, validation_split(labels, 0.1, seed=1))


def test_selection_scores_use_the_noisy_labels():
    gen = torch.Generator().manual_seed(0)
    clean = torch.arange(3).repeat_interleave(30)
    images = torch.randn(90, 1, 8, 8, generator=gen) + clean.view(-1, 1, 1, 1).float()
    noisy = clean.clone()
    noisy[::5] = (noisy[::5] + 1) % 3
    config = get_preset("digits")
    config = replace(
        config,
        model=replace(config.model, width=4, depth=2),
        expert=replace(config.expert, epochs=3, batch_size=32),
    )
    held = validation_split(noisy, 0.2, seed=0)
    name, candidate = next(iter(CANDIDATES.items()))
    score = score_candidate(name, candidate, config, images, noisy, clean, held, torch.device("cpu"))
    assert 0.0 <= score.noisy_val_accuracy <= 100.0 and 0.0 <= score.clean_val_accuracy <= 100.0
    table = summarise({"a": [score], "b": [score]})
    assert table["chosen"] == name and table["mean_noisy_val_accuracy"][name] == score.noisy_val_accuracy
