"""Trajectory matching: the loss, the functional student, its gradients (tad.distill.mtt), and one step
of the shared loop with DATM's window and gate (tad.distill.matching)."""

import pytest
import torch
import torch.nn.functional as F

from tad.config import AugmentConfig, ModelConfig, TMConfig
from tad.distill.matching import make_state, matching_step, start_epoch_bound
from tad.distill.mtt import (
    InnerStep,
    matching_gradients_low_memory,
    plan_inner_steps,
    trajectory_matching_loss,
    unroll_student,
)
from tad.models import build_model, flatten_params

AUG = AugmentConfig(strategy="color_crop_cutout_scale_rotate")


def tiny_net(seed: int = 0):
    return build_model(
        ModelConfig(width=4, depth=2),
        channels=1,
        num_classes=3,
        image_size=8,
        generator=torch.Generator().manual_seed(seed),
    )


def test_loss_is_zero_at_target_and_one_without_moving():
    start, end = torch.randn(50), torch.randn(50)
    assert float(trajectory_matching_loss(end, start, end)) == 0.0
    assert float(trajectory_matching_loss(start, start, end)) == pytest.approx(1.0)
    halfway = (start + end) / 2
    assert float(trajectory_matching_loss(halfway, start, end)) == pytest.approx(0.25)


def test_functional_student_equals_torch_sgd_loop():
    net = tiny_net()
    images, labels = torch.randn(12, 1, 8, 8), torch.randint(0, 3, (12,))
    gen = torch.Generator().manual_seed(3)
    steps = plan_inner_steps(12, TMConfig(syn_steps=5, batch_syn=5), None, gen)
    lr = 0.05
    end = unroll_student(net, flatten_params(net), images, labels, torch.tensor(lr), steps)

    reference = tiny_net()
    opt = torch.optim.SGD(reference.parameters(), lr=lr)
    for step in steps:
        loss = F.cross_entropy(reference(images[step.indices]), labels[step.indices])
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.testing.assert_close(end.detach(), flatten_params(reference), rtol=1e-5, atol=1e-6)


def test_inner_steps_cover_the_set_in_permutations():
    steps = plan_inner_steps(10, TMConfig(syn_steps=4, batch_syn=4), None, torch.Generator().manual_seed(0))
    assert [len(s.indices) for s in steps] == [4, 4, 2, 4]
    first_pass = torch.cat([s.indices for s in steps[:3]])
    assert sorted(first_pass.tolist()) == list(range(10))
    whole = plan_inner_steps(10, TMConfig(syn_steps=3), AUG, torch.Generator().manual_seed(0))
    assert all(len(s.indices) == 10 and s.transform is not None for s in whole)


def _setup(soft: bool):
    net = tiny_net()
    start = flatten_params(net)
    target = start + 0.05 * torch.randn(start.shape, generator=torch.Generator().manual_seed(1))
    images = torch.randn(9, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    labels = torch.randn(9, 3) if soft else torch.arange(3).repeat_interleave(3)
    return net, start, target, images, labels


@pytest.mark.parametrize("soft", [False, True])
def test_gradients_reach_images_step_size_and_labels(soft):
    net, start, target, images, labels = _setup(soft)
    config = TMConfig(syn_steps=3, soft_labels=soft, max_start_epoch=2)
    state = make_state(images, labels, config, torch.device("cpu"))
    steps = plan_inner_steps(9, config, AUG, torch.Generator().manual_seed(4))
    end = unroll_student(net, start, state.images, state.labels, state.syn_lr, steps)
    trajectory_matching_loss(end, start, target).backward()
    assert state.images.grad is not None and state.images.grad.abs().sum() > 0
    assert state.syn_lr.grad is not None and state.syn_lr.grad.abs() > 0
    if soft:
        assert state.labels.grad is not None and state.labels.grad.abs().sum() > 0


@pytest.mark.parametrize("soft", [False, True])
def test_memory_saving_gradients_equal_the_unrolled_ones(soft):
    net, start, target, images, labels = _setup(soft)
    config = TMConfig(syn_steps=4, soft_labels=soft, max_start_epoch=2, batch_syn=5)
    steps = plan_inner_steps(9, config, AUG, torch.Generator().manual_seed(5))
    state = make_state(images.double(), labels.double() if soft else labels, config, torch.device("cpu"))
    net = net.double()
    start, target = start.double(), target.double()
    state.syn_lr = state.syn_lr.detach().double().requires_grad_(True)
    end = unroll_student(net, start, state.images, state.labels, state.syn_lr, steps)
    loss = trajectory_matching_loss(end, start, target)
    loss.backward()
    lm_loss, g_img, g_lr, g_lab = matching_gradients_low_memory(
        net, start, target, state.images, state.labels, state.syn_lr, steps
    )
    torch.testing.assert_close(lm_loss, loss.detach())
    torch.testing.assert_close(g_img, state.images.grad)
    torch.testing.assert_close(g_lr, state.syn_lr.grad)
    if soft:
        torch.testing.assert_close(g_lab, state.labels.grad)
    else:
        assert g_lab is None


def test_start_epoch_window_follows_the_formula():
    datm = TMConfig(min_start_epoch=0, current_max_start_epoch=10, max_start_epoch=20, expansion_end=1000)
    assert start_epoch_bound(datm, 0) == 10
    assert start_epoch_bound(datm, 500) == 15
    assert start_epoch_bound(datm, 999) == 10 + (10 * 999) // 1000
    assert start_epoch_bound(datm, 1000) == 20
    assert start_epoch_bound(datm, 5000) == 20
    mtt = datm.as_mtt()
    assert start_epoch_bound(mtt, 0) == 20 and mtt.current_max_start_epoch is None


def test_loss_gate_skips_updates_above_threshold():
    net, start, target, images, labels = _setup(soft=True)
    config = TMConfig(syn_steps=2, soft_labels=True, loss_gate=1e-9, max_start_epoch=2)
    state = make_state(images, labels, config, torch.device("cpu"))
    before = state.images.detach().clone()
    matching_step(state, net, start, target, config, AUG, torch.Generator().manual_seed(0))
    assert state.skipped == 1 and state.iteration == 1
    torch.testing.assert_close(state.images.detach(), before)
    open_gate = TMConfig(syn_steps=2, soft_labels=True, loss_gate=None, max_start_epoch=2)
    state = make_state(images, labels, open_gate, torch.device("cpu"))
    matching_step(state, net, start, target, open_gate, AUG, torch.Generator().manual_seed(0))
    assert state.skipped == 0 and not torch.equal(state.images.detach(), before)


def test_matching_step_is_deterministic_given_the_generator():
    results = []
    for _ in range(2):
        net, start, target, images, labels = _setup(soft=False)
        config = TMConfig(syn_steps=2, max_start_epoch=2)
        state = make_state(images, labels, config, torch.device("cpu"))
        matching_step(state, net, start, target, config, AUG, torch.Generator().manual_seed(7))
        results.append(state.images.detach().clone())
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)


def test_inner_step_without_transform_uses_raw_images():
    step = InnerStep(torch.tensor([0, 2]), None)
    assert step.transform is None and step.indices.tolist() == [0, 2]
