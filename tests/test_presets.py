"""The GPU presets against the reference tables, field by field.

The expected values below are a second transcription of dd-baselines.md (§4.2 for DATM, §3.3 for
MTT, §4.3 for DD_LNL's changes under noise), written in the reference's own column names and
independently of tad/presets.py, so that a field the presets forget or mistype fails here.
"""

from __future__ import annotations

import pytest
import torch

from tad.config import NoiseConfig
from tad.presets import PRESETS, get_preset, noise_changes, with_noise

# §4.2: dataset, IPC -> (model depth, N, M, min_start, cur_max_start, max_start, expansion_end, SeqGen,
#                       lr_img, lr_lr, lr_y, batch_syn, threshold, pix_init)
DATM_REFERENCE = {
    "datm-cifar10-ipc1": (3, 80, 2, 0, None, 4, None, False, 100, 1e-7, 5, 10, 1.1, "spc"),
    "datm-cifar10-ipc10": (3, 80, 2, 0, 10, 20, 1000, True, 100, 1e-5, 2, 100, 1.0, "spc"),
    "datm-cifar10-ipc50": (3, 80, 2, 0, 20, 40, 2000, True, 1000, 1e-5, 2, 500, 1.0, "spc"),
    "datm-cifar100-ipc1": (3, 40, 3, 0, 10, 20, 1000, True, 1000, 1e-5, 10, 1000, 1.0, "spc"),
    "datm-cifar100-ipc10": (3, 80, 2, 0, 30, 50, 2000, True, 1000, 1e-5, 10, 1000, 1.0, "spc"),
    "datm-cifar100-ipc50": (3, 80, 2, 20, None, 70, None, False, 1000, 1e-5, 10, 1000, 1.0, "real"),
    "datm-tinyimagenet-ipc1": (4, 40, 2, 0, 15, 20, 2000, True, 10000, 1e-4, 10, 1000, 1.0, "spc"),
    "datm-tinyimagenet-ipc10": (4, 40, 2, 10, None, 50, None, False, 100, 1e-4, 10, 500, 1.0, "spc"),
    "datm-tinyimagenet-ipc50": (4, 20, 2, 40, None, 70, None, False, 100, 1e-4, 10, 1000, 1.0, "spc"),
}

# §3.3: dataset, IPC -> (N, M, T+, lr_img, lr_lr, lr_teacher, batch_syn (None: all), ZCA, depth)
MTT_REFERENCE = {
    "mtt-cifar10-ipc1": (50, 2, 2, 100, 1e-7, 0.01, None, True, 3),
    "mtt-cifar10-ipc10": (30, 2, 20, 100, 1e-5, 0.001, None, True, 3),
    "mtt-cifar10-ipc50": (30, 2, 40, 1000, 1e-5, 0.001, None, False, 3),
    "mtt-cifar100-ipc1": (20, 3, 20, 1000, 1e-5, 0.01, None, True, 3),
    "mtt-cifar100-ipc10": (20, 2, 20, 1000, 1e-5, 0.01, None, False, 3),
    "mtt-cifar100-ipc50": (80, 2, 40, 1000, 1e-5, 0.01, 125, True, 3),
    "mtt-tinyimagenet-ipc1": (10, 2, 10, 10000, 1e-4, 0.01, None, False, 4),
    "mtt-tinyimagenet-ipc10": (20, 2, 40, 10000, 1e-4, 0.01, 200, False, 4),
    "mtt-tinyimagenet-ipc50": (20, 2, 40, 10000, 1e-4, 0.01, 300, False, 4),
}


def test_every_gpu_preset_has_a_reference_row():
    gpu = {name for name in PRESETS if name.startswith(("datm-", "mtt-"))}
    assert gpu == set(DATM_REFERENCE) | set(MTT_REFERENCE)


@pytest.mark.parametrize("name", sorted(DATM_REFERENCE))
def test_datm_presets_are_the_official_configs(name):
    depth, n, m, lo, cur, hi, end, seq, lr_img, lr_lr, lr_y, batch, gate, init = DATM_REFERENCE[name]
    p = get_preset(name)
    tm = p.tm
    dataset, ipc = name.split("-")[1], int(name.rsplit("ipc", 1)[1])
    assert (p.method, p.ipc, p.data.dataset) == ("datm", ipc, dataset)
    assert p.data.zca and p.model.depth == depth and p.model.width == 128 and p.model.norm == "instancenorm"
    assert (tm.syn_steps, tm.expert_epochs, tm.min_start_epoch, tm.max_start_epoch) == (n, m, lo, hi)
    # Sequential_Generation: a widening window from cur_max_start over expansion_end iterations, or none
    assert tm.current_max_start_epoch == (cur if seq else None)
    if seq:
        assert tm.expansion_end == end
    assert (tm.lr_img, tm.lr_lr, tm.lr_y, tm.batch_syn, tm.loss_gate) == (lr_img, lr_lr, lr_y, batch, gate)
    assert tm.pix_init == {"spc": "predicted_correctly", "real": "real"}[init]
    # common to every DATM config
    assert tm.soft_labels and tm.momentum_y == 0.9 and tm.syn_lr_init == 0.01 and tm.iterations == 10000
    assert p.eval.batch_size == 128
    # FTD's buffers: 100 experts of 100 epochs, plain SGD at 0.01 (GSAM itself is not reproduced)
    assert (p.expert.num_experts, p.expert.epochs, p.expert.lr, p.expert.momentum) == (100, 100, 0.01, 0.0)
    assert p.expert.epochs >= tm.snapshots_needed


@pytest.mark.parametrize("name", sorted(MTT_REFERENCE))
def test_mtt_presets_are_the_authors_settings(name):
    n, m, t_max, lr_img, lr_lr, lr_teacher, batch, zca, depth = MTT_REFERENCE[name]
    p = get_preset(name)
    tm = p.tm
    assert p.method == "mtt" and p.data.zca == zca and p.model.depth == depth
    assert (tm.syn_steps, tm.expert_epochs, tm.max_start_epoch, tm.min_start_epoch) == (n, m, t_max, 0)
    assert (tm.lr_img, tm.lr_lr, tm.syn_lr_init, tm.batch_syn) == (lr_img, lr_lr, lr_teacher, batch)
    # none of DATM's additions
    assert not tm.soft_labels and tm.loss_gate is None and tm.current_max_start_epoch is None
    assert tm.pix_init == "real"
    assert (p.expert.num_experts, p.expert.epochs, p.expert.lr) == (100, 50, 0.01)


SYM = NoiseConfig(kind="symmetric", rate=0.4)


@pytest.mark.parametrize(
    ("name", "noise", "expected"),
    [
        ("datm-cifar10-ipc10", NoiseConfig(), {}),  # clean labels: the official config
        ("datm-cifar10-ipc1", SYM, {"syn_lr_init": 0.001}),
        ("datm-cifar10-ipc10", NoiseConfig(kind="asymmetric", rate=0.4), {"syn_lr_init": 0.001}),
        ("datm-cifar10-ipc50", NoiseConfig(kind="pairflip", rate=0.2), {"syn_lr_init": 0.001}),
        ("datm-cifar10-ipc10", NoiseConfig(kind="real", real_labels="worse"), {"syn_lr_init": 0.001}),
        ("datm-cifar10-ipc10", NoiseConfig(kind="real", real_labels="aggre"), {}),
        ("datm-cifar10-ipc50", NoiseConfig(kind="real", real_labels="worse"), {}),
        (
            "datm-cifar10-ipc10",
            NoiseConfig(kind="symmetric", rate=0.8),
            {"syn_lr_init": 0.001, "lr_lr": 1e-6},
        ),
        ("datm-cifar10-ipc50", NoiseConfig(kind="symmetric", rate=0.8), {"syn_lr_init": 0.001}),
        (
            "datm-cifar10-ipc50",
            NoiseConfig(kind="asymmetric", rate=0.8),
            {"syn_lr_init": 0.001, "lr_lr": 1e-6},
        ),
        ("datm-cifar100-ipc10", SYM, {}),
        ("datm-tinyimagenet-ipc50", SYM, {"pix_init": "real"}),
        ("datm-tinyimagenet-ipc50", NoiseConfig(kind="symmetric", rate=0.2), {}),
        ("cifar10-cpu", SYM, {}),  # not an official preset: never changed
        ("mtt-cifar10-ipc10", SYM, {}),
    ],
)
def test_dd_lnl_noisy_label_changes(name, noise, expected):
    preset = get_preset(name)
    changed = with_noise(preset, noise)
    assert noise_changes(changed) == expected and changed.noise == noise
    for field, value in expected.items():
        assert getattr(changed.tm, field) == value
    untouched = {f for f in ("syn_lr_init", "lr_lr", "pix_init") if f not in expected}
    assert all(getattr(changed.tm, f) == getattr(preset.tm, f) for f in untouched)


def test_the_command_line_and_the_grids_apply_the_noisy_label_changes():
    from tad.__main__ import build_parser, config_from_args
    from tad.reproduce import Job

    args = build_parser().parse_args(
        ["run", "--dataset", "cifar10", "--preset", "datm-cifar10-ipc10", "--noise", "symmetric"]
    )
    assert config_from_args(args).tm.syn_lr_init == 0.001
    job = Job("main", "datm", SYM)
    assert job.config(get_preset("datm-cifar10-ipc10")).tm.syn_lr_init == 0.001
    assert Job("main", "datm", NoiseConfig()).config(get_preset("datm-cifar10-ipc10")).tm.syn_lr_init == 0.01


def test_the_colab_preset_is_the_official_ipc10_config_made_shorter():
    colab, official = get_preset("colab-cifar10-ipc10"), get_preset("datm-cifar10-ipc10")
    assert colab.data == official.data and colab.model == official.model and colab.ipc == 10
    assert colab.data.train_per_class is None  # the full training set
    assert colab.expert.num_experts < official.expert.num_experts
    assert colab.tm.iterations < official.tm.iterations
    assert colab.expert.epochs >= colab.tm.snapshots_needed
    for field in ("syn_steps", "batch_syn", "lr_img", "lr_y", "soft_labels", "loss_gate", "pix_init"):
        assert getattr(colab.tm, field) == getattr(official.tm, field)
    assert with_noise(colab, SYM).tm.syn_lr_init == 0.001  # DD_LNL's change, as for the official preset


class _FakeCuda:
    type = "cuda"


def test_a_gpu_preset_stops_on_a_machine_that_cannot_run_it(monkeypatch):
    from tad.presets import check_preset_device

    with pytest.raises(ValueError, match="meant for a GPU and this machine has none"):
        check_preset_device("datm-cifar10-ipc10", torch.device("cpu"), explicit=False)
    check_preset_device("datm-cifar10-ipc10", torch.device("cpu"), explicit=True)  # asked for: allowed
    check_preset_device("cifar10-cpu", torch.device("cpu"), explicit=False)
    check_preset_device(None, torch.device("cpu"), explicit=False)

    class Props:
        total_memory = 8 * 2**30

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: Props)
    with pytest.raises(ValueError, match=r"needs about 12 GiB of GPU memory and this GPU has 8\.0 GiB"):
        check_preset_device("colab-cifar10-ipc10", _FakeCuda(), explicit=False)
    Props.total_memory = 15 * 2**30
    check_preset_device("colab-cifar10-ipc10", _FakeCuda(), explicit=False)
