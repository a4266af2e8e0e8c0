"""Tests for the command line (python -m tad): one-line errors, the help, the config it builds, a real run."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tad.__main__ import main
from tad.cli import build_parser
from tad.cli_config import config_from_args, default_run_name
from tad.config import NoiseConfig
from tad.presets import get_preset
from tad.reproduce import read_results
from tad.results import format_table

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
ARM_NAMES = {"random": "random real", "vanilla": "DM vanilla", "tad": "DM + TAD", "clean": "DM clean labels"}


def run_tad(*argv: str, cwd: Path, timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tad", *argv],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done, time.perf_counter() - start


def assert_one_line_error(done: subprocess.CompletedProcess, pattern: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tad: error: "), done.stderr
    assert pattern in lines[0]


BAD_INPUTS = [
    (["--rate", "1.5"], "noise rate must lie in [0, 1); got 1.5."),
    (["--dataset", "foo"], "unknown dataset 'foo'"),
    (["--ipc", "500"], "--ipc 500 exceeds the"),
    (["--ipc", "0"], "ExperimentConfig.ipc must be positive; got 0."),
    (["--noise", "bogus"], "noise kind must be one of clean, symmetric, asymmetric, pairflip, real"),
    (["--noise", "clean", "--rate", "0.2"], "clean labels take no noise rate"),
    (["--noise", "real"], "real (human) labels exist only for cifar10 and cifar100, not 'digits'"),
    (["--arms", "random,foo"], "arm must be one of random, vanilla, tad, clean; got 'foo'"),
    (["--ipc", "abc"], "argument --ipc: invalid int value: 'abc'"),
    (["run", "--bogus-option"], "unrecognized arguments: --bogus-option"),
    (["--set", "expert.epochs=1"], "experts train 1 epochs, which leaves none after 1 warm-up epochs"),
    (["--set", "trust.lamda_cons=0.5"], "unknown key 'trust.lamda_cons': in trust, TrustConfig's keys are"),
    (["--set", "bogus=1"], "the sections are data, noise, model"),
    (["--set", "expert.epochs=ten"], "expert.epochs takes a whole number; got 'ten'."),
    (["--set", "tm.memory_saving=maybe"], "tm.memory_saving takes true or false; got 'maybe'."),
    (
        ["--set", "trust.threshold_rule=median"],
        "trust.threshold_rule must be one of flexmatch, classmean, global",
    ),
    (["--set", "trust"], "an override is key=value, such as trust.lambda_cons=0.5; got 'trust'."),
    (["--set", "ipc=3"], "--set cannot change ipc: use --ipc."),
    (["--set", "noise.rate=0.2"], "--set cannot change noise.rate: use --rate."),
    (["--real-labels", "rand1"], "--real-labels names human labels, so it needs --noise real."),
    (["reproduce", "--grid", "bogus"], "unknown grid 'bogus'"),
    (["reproduce", "--methods", "dm,gm"], "unknown method 'gm'"),
    (["reproduce", "--methods", ","], "name at least one base distiller"),
    (["reproduce", "--only", "bogus-40"], "--only names ['bogus-40']; main runs clean, symmetric-20"),
    (["reproduce", "--variant", "bogus"], "unknown variant 'bogus'; choose from full, two-stage"),
    (["reproduce", "--variant", "two-stage"], "--variant two-stage is an ablation: add --grid ablations."),
    (["reproduce", "--preset", "digits", "--ipc", "0"], "ExperimentConfig.ipc must be positive; got 0."),
    (["reproduce", "--set", "eval.epochs=2"], "a run changed with --set needs a results file of its own"),
    (["reproduce", "--set", "seed=2"], "--set cannot change seed: use --seed."),
    (
        ["reproduce", "--grid", "ablations", "--set", "trust.sizing=mixture", "--results", "r.jsonl"],
        "--set cannot change trust.sizing: the ablations grid's mixture-division rows set it.",
    ),
    (["diagnose", "--settings", "bogus-40"], "unknown setting(s) ['bogus-40']"),
    (["diagnose", "--separability", "--no-oracle"], "--separability trains experts only, so --no-oracle"),
    (["diagnose", "--recall", "--ipc", "50"], "--recall trains experts only, so --ipc would do nothing."),
    (["diagnose", "--recall", "--separability"], "--separability and --recall are separate diagnoses"),
    (["diagnose", "--noise-rate", "--recall"], "--recall and --noise-rate are separate diagnoses"),
    (["diagnose", "--noise-rate", "--ipc", "50"], "--noise-rate trains experts only, so --ipc"),
    (["diagnose", "--peer-division", "--recall"], "--recall and --peer-division are separate diagnoses"),
    (["diagnose", "--peer-division", "--no-oracle"], "--peer-division trains experts only, so --no-oracle"),
    (["diagnose", "--set", "method=dm"], "--set cannot change method: the diagnosis runs DATM."),
    (["select", "--candidates", "bogus"], "argument --candidates: invalid choice: 'bogus'"),
    (["select", "--seeds", "0"], "--seeds must be at least 1."),
    (["select", "--preset", "digits"], "preset digits trains on the whole training set"),
    (["select", "--validation-per-class", "0"], "--validation-per-class must be at least 1."),
    (["select", "--method", "gm"], "unknown method 'gm'"),
    (["select", "--settings", ","], "--settings names no noise setting."),
    (["select", "--set", "trust.evidence=false"], "trust.evidence: the candidates of outer vary it."),
    (["gpu-check", "--syn-steps", "0"], "--syn-steps must be at least 1."),
    (["gpu-check", "--full-train-images", "0"], "--full-train-images must be at least 1."),
    (["gpu-check", "--preset", "digits"], "the GPU check runs trajectory matching"),
]


@pytest.mark.parametrize(("argv", "pattern"), BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, argv, pattern):
    done, seconds = run_tad(*argv, cwd=tmp_path)
    assert_one_line_error(done, pattern)
    assert seconds < 5.0
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_missing_cifar_root_is_one_line(tmp_path):
    missing = tmp_path / "no-such-folder"
    done, seconds = run_tad("--dataset", "cifar10", "--data-root", str(missing), cwd=tmp_path)
    assert_one_line_error(done, f"CIFAR-10 not found: looked for {missing}/cifar-10-batches-py/data_batch_1")
    assert seconds < 5.0


@pytest.mark.slow  # resolving a device imports torch: seconds, not a fraction of one
def test_an_unknown_device_is_one_line(tmp_path):
    done, _ = run_tad("--device", "foo", "--out", str(tmp_path), cwd=tmp_path)
    assert_one_line_error(done, "unknown device 'foo'")


def run_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices["run"]


def test_run_help_lists_every_option_with_its_default(tmp_path):
    done, _ = run_tad("run", "--help", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    text = " ".join(done.stdout.split())
    options = [a for a in run_parser()._actions if a.option_strings and a.dest != "help"]
    assert len(options) >= 15
    for action in options:
        for flag in action.option_strings:
            assert flag in text, flag
        rendered = action.help % {"default": action.default}
        assert "default" in rendered, action.option_strings
        if action.default not in (None, False):
            assert f"(default: {action.default})" in rendered, action.option_strings
    assert "python -m tad run --noise symmetric --rate 0.4" in done.stdout  # the examples survive formatting
    assert "--set expert.epochs=10" in done.stdout


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["run", *argv])


def test_default_command_line_is_the_digits_demo():
    config = config_from_args(parse())
    base = get_preset("digits")
    noise = NoiseConfig(kind="pairflip", rate=0.4)
    assert config == replace(base, noise=noise, name="digits-pairflip0.4-ipc10-dm-s0")


def test_options_reach_the_configuration():
    sets = ["expert.epochs=7", "dm.iterations=9", "eval.num_eval=4", "eval.epochs=11", "model.width=16"]
    sets += ["data.zca=true", "noise.seed=5", "trust.lambda_cons=0.5", "tm.batch_syn=none"]
    argv = ["--noise", "clean", "--seed", "2", "--train-per-class", "30", "--ipc", "3"]
    config = config_from_args(parse(*argv, "--arms", "tad, clean", *(f"--set={s}" for s in sets)))
    assert config.noise == NoiseConfig(kind="clean", rate=0.0, seed=5)
    assert (config.expert.epochs, config.dm.iterations) == (7, 9)
    assert (config.eval.num_eval, config.eval.epochs) == (4, 11)
    assert config.model.width == 16 and config.arms == ("tad", "clean") and config.seed == 2
    assert config.data.zca and config.data.train_per_class == 30 and config.ipc == 3
    assert config.trust.lambda_cons == 0.5 and config.tm.batch_syn is None
    assert config.name == "digits-clean-ipc3-dm-s2"
    assert config_from_args(parse("--set", "name=mine")).name == "mine"


def test_set_overrides_the_noisy_label_changes_of_a_datm_preset():
    argv = ["--dataset", "cifar10", "--preset", "datm-cifar10-ipc10", "--noise", "symmetric"]
    assert config_from_args(parse(*argv)).tm.syn_lr_init == 0.001  # DD_LNL's change
    assert config_from_args(parse(*argv, "--set", "tm.syn_lr_init=0.02")).tm.syn_lr_init == 0.02


def test_run_names_and_presets_follow_the_dataset():
    real = config_from_args(parse("--dataset", "cifar10", "--noise", "real", "--real-labels", "rand1"))
    assert real.name == "cifar10-real-rand1-ipc10-dm-s0"
    assert real.data.dataset == "cifar10" and real.data.train_per_class == 500
    cifar100 = config_from_args(parse("--dataset", "cifar100", "--noise", "symmetric", "--rate", "0.2"))
    assert cifar100.data.dataset == "cifar100"
    assert default_run_name(cifar100) == "cifar100-symmetric0.2-ipc10-dm-s0"


def test_main_in_process_returns_2_with_one_line(capsys):
    assert main(["--rate", "1.5"]) == 2
    captured = capsys.readouterr()
    assert captured.err == "tad: error: noise rate must lie in [0, 1); got 1.5.\n" and captured.out == ""


def test_format_table_has_one_row_per_arm():
    payload = {
        "config": {"method": "dm"},
        "noise": {"realised_rate": 0.4},
        "trust": {"final": {"precision": 0.9, "recall": 0.8}},
        "arms": {arm: {"acc_mean": 50.0 + i, "acc_std": 1.5} for i, arm in enumerate(ARM_NAMES)},
    }
    lines = format_table(payload).splitlines()
    assert lines[0].split()[:2] == ["method", "accuracy"]
    assert [line[:22].strip() for line in lines[1:]] == list(ARM_NAMES.values())
    assert "60.0%" in lines[1] and "100.0%" in lines[1]
    assert "52.0 ± 1.5" in lines[3] and "90.0%" in lines[3] and "80.0%" in lines[3]
    assert lines[4].count("100.0%") == 2


@pytest.mark.slow
def test_a_tiny_run_writes_results_and_the_picture(tmp_path):
    lengths = ["expert.epochs=3", "dm.iterations=3", "eval.epochs=3", "eval.num_eval=2", "model.width=8"]
    argv = ["run", *(f"--set={s}" for s in lengths), "--out", str(tmp_path / "runs")]
    done, _ = run_tad(*argv, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    run_dir = tmp_path / "runs" / "digits-pairflip0.4-ipc10-dm-s0"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["format"] == "tad-results/1"
    assert results["command"][:3] == ["python", "-m", "tad"]
    assert list(results["arms"]) == ["random", "vanilla", "tad", "clean"]
    for arm in results["arms"].values():
        assert len(arm["accs"]) == 2 and 0.0 <= arm["acc_mean"] <= 100.0
    assert results["trust"]["final"]["precision"] is not None
    assert (run_dir / "synthetic.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for row in ARM_NAMES.values():
        assert row in done.stdout
    assert "results: " in done.stdout and "realised noise rate" in done.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--out", "{file}/runs"],
        ["reproduce", "--out", "{file}/runs"],
        ["select", "--results", "{file}/sel.json"],
        ["diagnose", "--out", "{file}"],
        ["gpu-check", "--out", "{file}/sub/report.json"],
    ],
    ids=lambda a: a[0],
)
def test_an_output_path_under_a_file_is_one_sentence_at_once(tmp_path, argv):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done, seconds = run_tad(*[a.format(file=blocker) for a in argv], cwd=tmp_path)
    assert_one_line_error(done, f"{blocker} is a file")
    assert seconds < 5.0 and sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


# the digits at a toy scale: every stage runs, in seconds (passed as --set overrides)
TINY = [
    f"--set={s}"
    for s in (
        "data.train_per_class=30",
        "model.width=8",
        "model.depth=2",
        "expert.epochs=3",
        "expert.num_experts=1",
        "trust.sizing=mixture",  # one expert: a sized division needs two plain ones
        "expert.batch_size=64",
        "dm.iterations=3",
        "eval.num_eval=1",
        "eval.epochs=3",
    )
]


@pytest.mark.slow
def test_reproduce_appends_one_row_per_setting_and_a_rerun_skips_them(tmp_path, monkeypatch, capsys):
    argv = ["reproduce", "--preset", "digits", "--methods", "dm", "--only", "clean,symmetric-40"]
    argv += ["--ipc", "2", *TINY, "--results", "rows.jsonl", "--out", "runs"]
    done, _ = run_tad(*argv, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = read_results(tmp_path / "rows.jsonl")
    keys = ["digits|main|dm|clean|full|ipc2|seed0", "digits|main|dm|symmetric-40|full|ipc2|seed0"]
    assert [r["key"] for r in rows] == keys and [r["setting"] for r in rows] == ["clean", "symmetric-40"]
    assert list(rows[0]["arms"]) == ["random", "vanilla", "tad"]  # no clean arm on clean labels
    assert list(rows[1]["arms"]) == ["random", "vanilla", "tad", "clean"]
    noisy = rows[1]
    assert noisy["noise"]["kind"] == "symmetric" and noisy["noise"]["rate"] == 0.4
    assert 0.2 < noisy["realised_noise_rate"] < 0.6 and rows[0]["realised_noise_rate"] == 0.0
    assert noisy["config"]["expert"]["epochs"] == 3 and noisy["config"]["data"]["train_per_class"] == 30
    assert (noisy["ipc"], noisy["seed"], noisy["preset"]) == (2, 0, "digits")
    assert noisy["command"] == ["python", "-m", "tad", *argv]
    for arm in noisy["arms"].values():
        assert len(arm["accs"]) == 1 and 0.0 <= arm["acc_mean"] <= 100.0
    assert "main: 2 new row(s) in rows.jsonl" in done.stdout
    before = (tmp_path / "rows.jsonl").read_text()
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 0  # in this process: every row is in the file, so nothing runs
    out = capsys.readouterr().out
    assert "main: 0 new row(s)" in out and "--" not in out
    assert (tmp_path / "rows.jsonl").read_text() == before


@pytest.mark.slow
def test_select_writes_every_score_and_chooses_the_best_mean_noisy_accuracy(tmp_path, monkeypatch, capsys):
    argv = ["select", "--preset", "digits", "--settings", "symmetric-40", "--seeds", "2", "--seed", "3"]
    argv += ["--candidates", "scoring", "--validation-per-class", "20", "--ipc", "2", *TINY]
    argv += ["--results", "selection.json", "--out", "runs"]
    done, _ = run_tad(*argv, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    payload = json.loads((tmp_path / "selection.json").read_text())
    rows = payload["settings"]["symmetric-40"]
    candidates = ["scoring=pass", "scoring=online"]
    assert payload["candidates"] == candidates and payload["validation_per_class"] == 20
    assert sorted((r["name"], r["seed"]) for r in rows) == sorted((c, s) for c in candidates for s in (3, 4))
    means = {c: sum(r["noisy_val_accuracy"] for r in rows if r["name"] == c) / 2 for c in candidates}
    assert payload["mean_noisy_val_accuracy"] == pytest.approx(means)
    assert means[payload["chosen"]] == max(means.values())
    assert f"chosen: {payload['chosen']}; written to selection.json" in done.stdout
    assert done.stdout.count("noisy-val") == 4
    base = payload["base_config"]
    assert base["method"] == "dm" and base["data"]["train_per_class"] == 30 and base["ipc"] == 2
    assert payload["command"] == ["python", "-m", "tad", *argv]
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 0  # in this process: every score is in the file, so nothing runs
    assert "noisy-val" not in capsys.readouterr().out
    assert json.loads((tmp_path / "selection.json").read_text())["settings"] == payload["settings"]


def test_the_peer_division_line_sets_both_modes_side_by_side():
    from tad.__main__ import _peer_division_line

    def mode(precisions):
        experts = [{"final": {"trusted_fraction": 0.6, "precision": p}} for p in precisions]
        return {"experts": experts, "division_overlap": 0.7}

    entry = {"clean_share": 0.6068, "own": mode([0.69, 0.71]), "peer": mode([0.68, None])}
    assert _peer_division_line("pairflip-40", entry) == (
        "pairflip-40    right labels 0.607; own: trusted share 0.600 at precision 0.700; "
        "peer: trusted share 0.600 at precision n/a"
    )
