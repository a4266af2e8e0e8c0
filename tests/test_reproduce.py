"""Grids of settings, the results file, skipping finished rows, and fair hyper-parameter selection."""

from dataclasses import replace

import pytest
import torch

from tad.config import DataConfig, NoiseConfig
from tad.context import prepare_data
from tad.data import load_unused
from tad.presets import get_preset
from tad.reproduce import (
    ABLATIONS,
    LONG_ITERATIONS,
    MAIN_SETTINGS,
    Job,
    append_result,
    grid_jobs,
    named_settings,
    read_results,
    run_grid,
)
from tad.selection import CANDIDATES, score_candidate, summarise, validation_set


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
    assert {j.variant for j in jobs} == {"full", *ABLATIONS}
    assert all(j.arms == ("tad",) for j in jobs)
    configs = {j.variant: j.config(base) for j in jobs if j.setting == "symmetric-40"}
    # the grid's own full row: the defaults, first in each setting, so the variants have a reference
    # made on the same machine
    assert next(j.variant for j in jobs if j.setting == "symmetric-40") == "full"
    assert configs["full"].trust == base.trust
    assert configs["full"].recalib == base.recalib
    assert configs["two-stage"].trust.schedule == "static" and not configs["two-stage"].recalib.enabled
    assert configs["outer-only"].trust.lambda_cons == 0 and not configs["outer-only"].recalib.enabled
    assert configs["outer+consistency"].trust.lambda_cons == base.trust.lambda_cons
    assert configs["mahalanobis-only"].recalib.reliability == "mahalanobis"
    assert configs["cosine-only"].recalib.reliability == "cosine"
    assert base.trust.sizing == "estimated" and configs["mixture-division"].trust.sizing == "mixture"
    assert configs["fixed-start"].trust.start_loss_drop == 0.0
    assert base.trust.loss_ema == 0.0 and configs["loss-average"].trust.loss_ema == 0.8
    assert configs["drop-untrusted"].trust.untrusted == "drop"
    assert len({c.name for c in configs.values()}) == len(configs)


def test_variants_are_overrides_a_user_could_pass_with_set():
    from tad.config import apply_overrides

    base = get_preset("cifar10-cpu")
    job = Job("ablations", "dm", NoiseConfig(kind="symmetric", rate=0.4), "two-stage", ("tad",))
    assert job.overrides == ("trust.schedule=static", "recalib.enabled=false")
    full = replace(job, grid="main", variant="full")  # the same row without the ablation
    by_hand = apply_overrides(full.config(base), ["trust.schedule=static", "recalib.enabled=false"])
    assert by_hand == replace(job.config(base), name=full.config(base).name)
    long = grid_jobs("long", ("datm",))[0]
    assert long.overrides == (f"tm.iterations={LONG_ITERATIONS}",)


def test_settings_are_found_by_name_in_order():
    found = named_settings(["pairflip-40", "clean"])
    assert list(found) == ["pairflip-40", "clean"] and found["clean"] == MAIN_SETTINGS[0]
    with pytest.raises(
        ValueError, match=r"unknown setting\(s\) \['bogus-40'\]; choose from clean, symmetric-20"
    ):
        named_settings(["bogus-40"])


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


def test_the_validation_split_lies_outside_the_training_subset():
    config = replace(get_preset("digits"), data=DataConfig(dataset="digits", train_per_class=40))
    config = replace(config, noise=NoiseConfig(kind="symmetric", rate=0.4))
    nd = prepare_data(config)
    val = validation_set(config, nd.data, per_class=30)
    used = set(nd.data.train_indices.tolist())
    _, _, positions = load_unused(config.data, nd.data, 30, seed=config.data.split_seed)
    assert used.isdisjoint(positions.tolist()) and len(set(positions.tolist())) == 300
    assert torch.bincount(val.clean_labels).tolist() == [30] * 10
    flipped = float((val.noisy_labels != val.clean_labels).float().mean())
    assert 0.3 < flipped < 0.5  # the same noise process as the training labels
    # prepared like the training images: same normalisation, so the statistics agree
    assert abs(float(val.images.mean()) - float(nd.data.train_images.mean())) < 0.2
    with pytest.raises(ValueError, match="too few unused"):
        load_unused(config.data, nd.data, 1000)
    with pytest.raises(ValueError, match="no images are left"):
        load_unused(DataConfig(dataset="digits"), nd.data, 30)


def test_selection_scores_the_distilled_set_on_the_noisy_validation_labels():
    config = replace(get_preset("digits"), data=DataConfig(dataset="digits", train_per_class=30))
    config = replace(
        config,
        noise=NoiseConfig(kind="symmetric", rate=0.4),
        model=replace(config.model, width=4, depth=2),
        expert=replace(config.expert, epochs=3, batch_size=64, num_experts=1),
        trust=replace(config.trust, sizing="mixture"),  # one expert: the mixture division
        dm=replace(config.dm, iterations=3),
        eval=replace(config.eval, num_eval=1, epochs=5),
        ipc=2,
    )
    nd = prepare_data(config)
    val = validation_set(config, nd.data, per_class=20)
    # a validation split whose noisy labels are all wrong scores zero, whatever the network
    wrong = replace(val, noisy_labels=(val.clean_labels + 1) % 10)
    name, candidate = next(iter(CANDIDATES.items()))
    score = score_candidate(name, candidate, config, nd, val, torch.device("cpu"))
    again = score_candidate(name, candidate, config, nd, wrong, torch.device("cpu"))
    assert 0.0 <= score.noisy_val_accuracy <= 100.0 and 0.0 < score.clean_val_accuracy <= 100.0
    assert again.clean_val_accuracy == score.clean_val_accuracy  # common random numbers: same networks
    # a prediction cannot be right under both label sets, which never agree here
    assert again.noisy_val_accuracy <= 100.0 - again.clean_val_accuracy + 1e-6
    table = summarise({"a": [score], "b": [score]})
    assert table["chosen"] == name and table["mean_noisy_val_accuracy"][name] == score.noisy_val_accuracy


def test_a_selection_that_finds_every_score_computes_nothing_and_keeps_the_file_s_notes(tmp_path):
    import json

    from tad.selection import CandidateScore, run_selection, to_json

    base = get_preset("digits")
    path = tmp_path / "selection.json"
    score = CandidateScore("a", base.seed, 50.0, 60.0, None, 1.0)
    payload = to_json({"symmetric-40": [score]}, base, 20, {"a": {}})
    path.write_text(json.dumps({**payload, "notes": ["merged from two partial files"]}))
    selection = run_selection(
        base,
        {"symmetric-40": NoiseConfig(kind="symmetric", rate=0.4)},
        {"a": {}},
        seeds=[base.seed],
        validation_per_class=20,
        device=torch.device("cpu"),
        path=path,
        command=["python", "-m", "tad", "select"],
    )
    assert selection.scores == {"symmetric-40": [score]} and selection.chosen == "a"
    written = json.loads(path.read_text())
    assert written["notes"] == ["merged from two partial files"] and written["command"][-1] == "select"


def test_the_long_grid_runs_trajectory_matching_for_longer_only():
    jobs = grid_jobs("long", ("dm", "datm"))
    assert {j.method for j in jobs} == {"datm"} and {j.setting for j in jobs} == {
        "symmetric-40",
        "pairflip-40",
    }
    base = get_preset("cifar10-cpu")
    config = jobs[0].config(base)
    assert config.tm.iterations == LONG_ITERATIONS > base.tm.iterations
    assert config.trust == base.trust and config.expert == base.expert  # the same (cached) experts
    assert jobs[0].key("cifar10-cpu", 10, 0) != Job("main", "datm", jobs[0].noise).key("cifar10-cpu", 10, 0)


@pytest.mark.damaged_files
def test_a_damaged_results_line_is_set_aside_and_its_row_runs_again(tmp_path, caplog):
    from tad.reproduce import append_result, read_results

    path = tmp_path / "grid.jsonl"
    append_result(path, {"key": "a", "value": 1})
    append_result(path, {"key": "b", "value": 2})
    with open(path, "a") as f:
        f.write('{"key": "c", "val')  # a rank killed while appending its row
    with caplog.at_level("WARNING", logger="tad.reproduce"):
        rows = read_results(path)
    assert [r["key"] for r in rows] == ["a", "b"]  # row c is missing, so the grid runs it again
    assert "1 damaged line(s)" in caplog.text and "grid.jsonl" in caplog.text
    assert path.read_text() == '{"key": "a", "value": 1}\n{"key": "b", "value": 2}\n'
    (aside,) = tmp_path.glob("grid.jsonl.bad-*")
    assert aside.read_text() == '{"key": "c", "val\n'
    append_result(path, {"key": "c", "value": 3})
    assert [r["key"] for r in read_results(path)] == ["a", "b", "c"]


def test_settings_since_names_what_changed_after_a_row_was_written():
    from tad.config import ExperimentConfig, to_dict
    from tad.reproduce import settings_since

    row = {"variant": "full", "config": to_dict(ExperimentConfig())}
    assert settings_since(row) == {}
    row["config"]["trust"]["evidence_ratio"] = 7.0
    assert settings_since(row) == {"trust.evidence_ratio": (7.0, ExperimentConfig().trust.evidence_ratio)}
    # an ablation row is compared with its variant applied; a renamed or later field reads as it was
    ablation = {"variant": "mixture-division", "config": to_dict(ExperimentConfig())}
    ablation["config"]["trust"]["sizing"] = "mixture"
    ablation["config"]["trust"]["threshold"] = ablation["config"]["trust"].pop("threshold_rule")
    del ablation["config"]["trust"]["trajectories"]
    assert settings_since(ablation) == {}


def test_made_alike_finds_the_grid_that_ran_with_the_same_settings():
    from tad.config import ExperimentConfig, apply_overrides, to_dict
    from tad.reproduce import made_alike
    from tad.variants import ABLATIONS

    def row(variant="full", **trust):
        config = to_dict(apply_overrides(ExperimentConfig(), ABLATIONS.get(variant, ())))
        config["trust"].update(trust)
        return {"variant": variant, "config": config}

    today, older = [row(), row()], [row(scoring="pass"), row(scoring="pass")]
    assert made_alike([row("fixed-start", scoring="pass")], [today, [], older]) is older
    assert made_alike([row("outer-only"), row("cosine-only")], [older, today]) is today
    with pytest.raises(ValueError, match="different sets"):
        made_alike([row(), row(scoring="pass")], [today])
    with pytest.raises(ValueError, match=r"no grid ran .*trust.scoring"):
        made_alike([row("fixed-start", scoring="pass")], [today])
