"""The GPU check's code path, on the CPU with tiny sizes, so that it cannot rot."""

from __future__ import annotations

import json

import pytest
import torch
from test_data import write_cifar10

from tad.config import NoiseConfig
from tad.gpucheck import format_report, project, run_check, shortened
from tad.presets import get_preset


def test_the_shortened_preset_keeps_the_inner_loop_and_cuts_the_lengths():
    full = get_preset("datm-cifar10-ipc10")
    short = shortened(full, experts=2, expert_epochs=2, iterations=50, eval_epochs=5)
    assert (short.expert.num_experts, short.expert.epochs, short.tm.iterations) == (2, 2, 50)
    assert short.tm.snapshots_needed <= short.expert.epochs  # the trajectories cover every match
    for field in ("syn_steps", "batch_syn", "lr_img", "lr_y", "soft_labels", "loss_gate", "pix_init"):
        assert getattr(short.tm, field) == getattr(full.tm, field)
    assert short.model == full.model and short.data == full.data
    # an expert must span one match even when asked for fewer epochs (CIFAR-100 IPC 1 matches 3 epochs)
    c100 = shortened(
        get_preset("datm-cifar100-ipc1"), experts=2, expert_epochs=2, iterations=5, eval_epochs=1
    )
    assert c100.tm.snapshots_needed <= c100.expert.epochs


def test_the_projection_scales_each_stage_by_the_full_preset():
    full = get_preset("datm-cifar10-ipc10")
    p = project(full, {"vanilla": 2.0, "tad": 3.0}, iteration_s=0.5, eval_epoch_s=0.1)
    assert p["experts"] == 100 * 100 * (2.0 + 3.0 + 2.0)  # vanilla, TAD and clean experts
    assert p["distillation"] == 10000 * 0.5 * 3  # the vanilla, TAD and clean arms
    assert p["evaluation"] == 5 * 1000 * 0.1 * 4  # and the random arm is evaluated too
    assert p["total"] == p["experts"] + p["distillation"] + p["evaluation"]
    # measured on a fifth of the training set: only the experts' epochs grow, fivefold
    q = project(full, {"vanilla": 2.0, "tad": 3.0}, iteration_s=0.5, eval_epoch_s=0.1, data_scale=5.0)
    assert q["experts"] == 5 * p["experts"]
    assert (q["distillation"], q["evaluation"]) == (p["distillation"], p["evaluation"])
    with pytest.raises(ValueError, match="data_scale must be positive"):
        project(full, {"vanilla": 2.0, "tad": 3.0}, iteration_s=0.5, eval_epoch_s=0.1, data_scale=0.0)


@pytest.mark.slow
def test_the_gpu_check_runs_on_the_cpu_and_reports_its_figures(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py", classes=10, per_class=6)
    report = run_check(
        data_root=str(tmp_path),
        device=torch.device("cpu"),
        noise=NoiseConfig(kind="symmetric", rate=0.4),
        iterations=6,
        eval_epochs=1,
        train_per_class=30,
        syn_steps=3,
        width=16,
        image_size=16,
        full_train_images=1200,
    )
    assert (
        report.train_images == 300
        and report.projected_train_images == 1200
        and report.gpu is None
        and report.peak_memory_gib is None
    )
    assert set(report.seconds_per_expert_epoch) == {"vanilla", "tad"}
    assert all(s > 0 for s in report.seconds_per_expert_epoch.values())
    assert report.seconds_per_iteration > 0 and report.seconds_per_eval_epoch > 0
    assert report.all_finite and report.passed == (report.all_finite and report.improved)
    assert report.projected_seconds["total"] > report.projected_seconds["distillation"] > 0
    text = format_report(report)
    assert "seconds per DATM iteration" in text and "projected full preset (1200 training images" in text
    assert "expert epochs scaled by 4.00" in text
    json.dumps(report.to_dict())  # the report file is plain JSON


def test_the_cli_stops_at_once_without_cuda_or_with_a_dm_preset(tmp_path):
    from test_cli import assert_one_line_error, run_tad

    if not torch.cuda.is_available():
        done, seconds = run_tad("gpu-check", "--data-root", str(tmp_path), cwd=tmp_path)
        assert_one_line_error(done, "device 'cuda' is not available on this machine")
        assert seconds < 10.0
    done, _ = run_tad("gpu-check", "--preset", "cifar10-cpu", cwd=tmp_path)
    assert_one_line_error(done, "choose a datm-* or mtt-* preset, not cifar10-cpu")
    assert list(tmp_path.iterdir()) == []


def test_the_subset_script_keeps_the_first_images_of_every_batch_in_the_same_layout(tmp_path):
    import importlib.util
    import pickle
    from pathlib import Path

    from tad.config import DataConfig
    from tad.data import load_dataset

    path = Path(__file__).resolve().parents[1] / "scripts" / "cifar_subset.py"
    spec = importlib.util.spec_from_file_location("cifar_subset", path)
    cifar_subset = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cifar_subset)

    write_cifar10(tmp_path / "full" / "cifar-10-batches-py", classes=10, per_class=4)  # 40 per batch
    written = cifar_subset.write_subset(tmp_path / "full", tmp_path / "part", train_per_batch=15, test=7)
    assert written == 75
    with open(tmp_path / "full" / "cifar-10-batches-py" / "data_batch_3", "rb") as f:
        full3 = pickle.load(f)
    with open(tmp_path / "part" / "cifar-10-batches-py" / "data_batch_3", "rb") as f:
        part3 = pickle.load(f)
    assert (part3["data"] == full3["data"][:15]).all() and part3["labels"] == full3["labels"][:15]
    part = load_dataset(DataConfig(dataset="cifar10", data_root=str(tmp_path / "part"), zca=False))
    assert (len(part.train_images), len(part.test_images)) == (75, 7)
    with pytest.raises(ValueError, match="lacks"):
        cifar_subset.write_subset(tmp_path / "part" / "nothing", tmp_path / "x", train_per_batch=1, test=1)
