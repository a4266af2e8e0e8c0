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

from tad.__main__ import build_parser, config_from_args, default_run_name, format_table, main
from tad.config import NoiseConfig
from tad.presets import get_preset

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
    (["--expert-epochs", "1"], "experts train 1 epochs, which leaves none after 1 warm-up epochs"),
    (["diagnose", "--settings", "bogus-40"], "unknown setting(s) ['bogus-40']"),
    (["select", "--candidates", "bogus"], "argument --candidates: invalid choice: 'bogus'"),
    (["select", "--seeds", "0"], "--seeds must be at least 1."),
    (["select", "--preset", "digits"], "preset digits trains on the whole training set"),
    (["select", "--validation-per-class", "0"], "--validation-per-class must be at least 1."),
    (["select", "--method", "gm"], "unknown method 'gm'"),
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
    assert len(options) >= 25
    for action in options:
        for flag in action.option_strings:
            assert flag in text, flag
        rendered = action.help % {"default": action.default}
        assert "default" in rendered, action.option_strings
        if action.default not in (None, False):
            assert f"(default: {action.default})" in rendered, action.option_strings
    assert "python -m tad run --noise symmetric --rate 0.4" in done.stdout  # the examples survive formatting


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["run", *argv])


def test_default_command_line_is_the_digits_demo():
    config = config_from_args(parse())
    base = get_preset("digits")
    noise = NoiseConfig(kind="pairflip", rate=0.4)
    assert config == replace(base, noise=noise, name="digits-pairflip0.4-ipc10-dm-s0")


def test_options_reach_the_configuration():
    argv = "--noise clean --expert-epochs 7 --dm-iterations 9 --num-eval 4 --eval-epochs 11 --width 16"
    argv += " --seed 2 --zca --train-per-class 30 --noise-seed 5 --ipc 3"
    config = config_from_args(parse(*argv.split(), "--arms", "tad, clean"))
    assert config.noise == NoiseConfig(kind="clean", rate=0.0, seed=5)
    assert (config.expert.epochs, config.dm.iterations) == (7, 9)
    assert (config.eval.num_eval, config.eval.epochs) == (4, 11)
    assert config.model.width == 16 and config.arms == ("tad", "clean") and config.seed == 2
    assert config.data.zca and config.data.train_per_class == 30 and config.ipc == 3
    assert config.name == "digits-clean-ipc3-dm-s2"
    assert config_from_args(parse("--name", "mine")).name == "mine"


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
    lengths = "--expert-epochs 3 --dm-iterations 3 --eval-epochs 3 --num-eval 2 --width 8"
    argv = ["run", *lengths.split(), "--out", str(tmp_path / "runs")]
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


def test_the_command_line_knows_every_candidate_set():
    from tad.__main__ import SELECTION_SETS
    from tad.selection import CANDIDATE_SETS

    assert tuple(CANDIDATE_SETS) == SELECTION_SETS


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
