"""DATM's initialisation (tad.distill.datm) and the checkpointed loop it runs in (tad.distill.matching)."""

import pytest
import torch

import tad.distill.matching as matching
from tad.config import AugmentConfig, ModelConfig, TMConfig
from tad.distill.datm import (
    expert_predictions,
    expert_soft_labels,
    init_predicted_correctly,
    initial_synthetic_set,
)
from tad.distill.matching import distill_trajectory_matching
from tad.models import build_model, flatten_params
from tad.synthetic import SyntheticSet

AUG = AugmentConfig(strategy="crop_scale")


def skeleton():
    return build_model(ModelConfig(width=4, depth=2), channels=1, num_classes=3, image_size=8)


def expert_params(seed: int):
    net = build_model(
        ModelConfig(width=4, depth=2),
        channels=1,
        num_classes=3,
        image_size=8,
        generator=torch.Generator().manual_seed(seed),
    )
    return flatten_params(net)


def problem():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(10)
    return torch.randn(30, 1, 8, 8, generator=gen), labels


def test_predicted_correctly_keeps_images_an_expert_agrees_with():
    images, labels = problem()
    params = [expert_params(1), expert_params(2)]
    preds = [expert_predictions(skeleton(), p, images).argmax(1) for p in params]
    agreeable = (preds[0] == labels) | (preds[1] == labels)
    init = init_predicted_correctly(
        images,
        labels,
        torch.ones(30, dtype=torch.bool),
        2,
        3,
        skeleton=skeleton(),
        expert_params=params,
        generator=torch.Generator().manual_seed(0),
    )
    assert init.images.shape == (6, 1, 8, 8) and init.labels.tolist() == [0, 0, 1, 1, 2, 2]
    for img, lab in zip(init.images, init.labels, strict=True):
        match = (images == img).flatten(1).all(1).nonzero().squeeze(1)
        assert len(match) == 1 and labels[match[0]] == lab
        if int(agreeable[labels == lab].sum()) >= 2:  # enough agreed images: only those are taken
            assert agreeable[match[0]]


def test_pool_restricts_initial_images():
    images, labels = problem()
    pool = torch.zeros(30, dtype=torch.bool)
    pool[[0, 1, 10, 11, 20, 21]] = True

    def init(ipc: int):
        return init_predicted_correctly(
            images,
            labels,
            pool,
            ipc,
            3,
            skeleton=skeleton(),
            expert_params=[expert_params(1)],
            generator=torch.Generator().manual_seed(0),
        )

    chosen = {int((images == img).flatten(1).all(1).nonzero()[0]) for img in init(2).images}
    assert chosen == {0, 1, 10, 11, 20, 21}
    with pytest.raises(ValueError, match="too few images"):
        init(3)


def test_soft_labels_average_the_agreeing_experts():
    images, _ = problem()
    params = [expert_params(1), expert_params(2), expert_params(3)]
    logits = torch.stack([expert_predictions(skeleton(), p, images[:6]) for p in params])
    assigned = logits[0].argmax(1)  # expert 0 always agrees
    soft = expert_soft_labels(skeleton(), images[:6], assigned, params)
    for i in range(6):
        agree = logits[:, i].argmax(1) == assigned[i]
        torch.testing.assert_close(soft[i], logits[agree, i].mean(0))


def test_initial_set_modes():
    images, labels = problem()
    pool = torch.ones(30, dtype=torch.bool)
    kwargs = {"skeleton": skeleton(), "expert_params": [expert_params(1)]}
    hard = initial_synthetic_set(
        images,
        labels,
        pool,
        2,
        3,
        config=TMConfig(pix_init="real"),
        generator=torch.Generator().manual_seed(0),
        **kwargs,
    )
    assert not hard.soft and hard.images.shape[0] == 6
    soft = initial_synthetic_set(
        images,
        labels,
        pool,
        2,
        3,
        config=TMConfig(pix_init="noise", soft_labels=True),
        generator=torch.Generator().manual_seed(0),
        **kwargs,
    )
    assert soft.soft and soft.labels.shape == (6, 3)


def run_loop(tmp_path, iterations, name="ckpt.pt", **overrides):
    images, _ = problem()
    trajectories = [torch.stack([expert_params(s) * (1 + 0.01 * e) for e in range(5)]) for s in (1, 2)]
    config = TMConfig(
        iterations=iterations,
        syn_steps=2,
        max_start_epoch=3,
        current_max_start_epoch=2,
        expansion_end=4,
        soft_labels=True,
        loss_gate=10.0,
        checkpoint_every=2,
        lr_img=10.0,
        **overrides,
    )
    init = SyntheticSet(images[::5].clone(), torch.randn(6, 3, generator=torch.Generator().manual_seed(1)))
    return distill_trajectory_matching(
        trajectories,
        init,
        config=config,
        skeleton=skeleton(),
        augment=AUG,
        generator=torch.Generator().manual_seed(9),
        device=torch.device("cpu"),
        checkpoint=None if tmp_path is None else tmp_path / name,
        meta={"run": "test"},
    )


def test_loop_learns_images_labels_and_step_size():
    images, _ = problem()
    out = run_loop(None, 3)
    assert out.lr is not None and out.lr != pytest.approx(0.01, abs=0)
    assert not torch.equal(out.images, images[::5])
    assert out.soft and out.labels.shape == (6, 3)


def test_interrupted_distillation_resumes_to_the_same_result(tmp_path, monkeypatch):
    reference = run_loop(None, 6)
    real_step = matching.matching_step
    calls = {"n": 0}

    def dies_at_five(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(matching, "matching_step", dies_at_five)
    with pytest.raises(KeyboardInterrupt):
        run_loop(tmp_path, 6)
    saved = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    assert saved["iteration"] == 4  # checkpoint_every=2: the last save before the interruption
    monkeypatch.setattr(matching, "matching_step", real_step)
    resumed = run_loop(tmp_path, 6)
    torch.testing.assert_close(resumed.images, reference.images, rtol=0, atol=0)
    torch.testing.assert_close(resumed.labels, reference.labels, rtol=0, atol=0)
    assert resumed.lr == reference.lr


def test_checkpoint_of_another_run_is_refused(tmp_path):
    run_loop(tmp_path, 2)
    images, labels = problem()
    with pytest.raises(ValueError, match="different configuration"):
        distill_trajectory_matching(
            [torch.stack([expert_params(1)] * 5)],
            SyntheticSet(images[::5], labels[::5]),
            config=TMConfig(iterations=2, syn_steps=1, max_start_epoch=3),
            skeleton=skeleton(),
            augment=None,
            generator=torch.Generator().manual_seed(0),
            device=torch.device("cpu"),
            checkpoint=tmp_path / "ckpt.pt",
            meta={"run": "another"},
        )
