"""Tests for tad.pipeline: one tiny experiment end to end, its results format, resuming and refusing."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

import tad.arms
from tad.config import ExperimentConfig, NoiseConfig, from_dict
from tad.context import prepare_data, validate
from tad.pipeline import RESULTS_FORMAT, run_experiment
from tad.presets import get_preset

ARMS = ("random", "vanilla", "tad", "clean")


def tiny_config() -> ExperimentConfig:
    base = get_preset("digits")
    return replace(
        base,
        noise=NoiseConfig(kind="pairflip", rate=0.4),
        expert=replace(base.expert, epochs=4),
        # one warm-up epoch; every class split (four epochs are too few for the evidence test to open one)
        trust=replace(base.trust, warmup_fraction=0.25, evidence=False),
        dm=replace(base.dm, iterations=5),
        eval=replace(base.eval, epochs=5, num_eval=2),
        model=replace(base.model, width=8),
    )


def test_validate_rejects_before_loading_anything():
    with pytest.raises(ValueError, match="--ipc 500 exceeds"):
        validate(replace(tiny_config(), ipc=500))


def test_prepare_data_corrupts_the_training_labels_only():
    nd = prepare_data(tiny_config())
    realised = float((nd.noisy_labels != nd.clean_labels).float().mean())
    assert nd.noise.realised_rate == pytest.approx(realised)
    assert 0.3 < realised < 0.5
    assert nd.data.train_images.shape[1:] == (1, 16, 16)
    clean = prepare_data(replace(tiny_config(), noise=NoiseConfig()))
    assert torch.equal(clean.noisy_labels, clean.clean_labels) and clean.noise.realised_rate == 0.0


@pytest.mark.slow
def test_the_random_arm_alone_is_deterministic_and_trains_no_trust_model():
    config = replace(tiny_config(), arms=("random",))
    stages = []
    first = run_experiment(config, progress=lambda stage, done, total: stages.append(stage))
    second = run_experiment(config)
    assert set(stages) == {"evaluate random"}  # no trust model, no distiller
    assert first.trust_final is None and first.trust_history == []
    assert first.arms["random"].evaluation == second.arms["random"].evaluation
    assert torch.equal(first.arms["random"].synthetic.images, second.arms["random"].synthetic.images)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("runs") / "tiny"
    config = tiny_config()
    stages = []
    result = run_experiment(config, out_dir=out_dir, progress=lambda stage, done, total: stages.append(stage))
    return config, result, out_dir, stages


@pytest.mark.slow
def test_results_file_has_the_stable_format(finished):
    config, result, out_dir, stages = finished
    payload = json.loads(json.dumps(result.to_json(command=["python", "-m", "tad"])))
    assert payload["format"] == RESULTS_FORMAT
    assert {"name", "package_version", "command", "machine", "config", "noise", "trust"} <= set(payload)
    assert from_dict(ExperimentConfig, payload["config"]) == config
    assert payload["noise"]["kind"] == "pairflip" and 0.3 < payload["noise"]["realised_rate"] < 0.5
    final = payload["trust"]["final"]
    assert 0.0 <= final["precision"] <= 1.0 and 0.0 <= final["recall"] <= 1.0
    assert len(payload["trust"]["history"]) == config.expert.epochs
    assert list(payload["arms"]) == list(ARMS)
    for arm in ARMS:
        entry = payload["arms"][arm]
        assert len(entry["accs"]) == config.eval.num_eval
        assert all(0.0 <= acc <= 100.0 for acc in entry["accs"])
        assert entry["acc_mean"] == pytest.approx(sum(entry["accs"]) / len(entry["accs"]))
        assert entry["acc_std"] >= 0.0
        assert entry["distill_seconds"] >= 0.0 and entry["eval_seconds"] > 0.0
        assert result.arms[arm].synthetic.images.shape == (10 * config.ipc, 1, 16, 16)
    assert payload["wall_time_s"] > 0.0
    assert {"DM vanilla", "DM tad", "DM clean", *(f"evaluate {arm}" for arm in ARMS)} <= set(stages)
    # the trust model (whatever its stage is called) reports before DM draws from its trusted space
    assert stages.index("DM tad") > max(i for i, s in enumerate(stages) if not s.startswith(("DM", "eval")))
    saved = {p.name for p in (out_dir / "state").iterdir()}
    assert {"arm-clean.pt", "arm-random.pt", "arm-tad.pt", "arm-vanilla.pt", "trust.pt"} <= saved
    assert not [p for p in out_dir.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_tad_diverts_the_clean_arm_and_vanilla_to_different_pools(finished):
    _, result, _, _ = finished
    final = result.trust_final
    noisy_precision = 1.0 - result.noise.realised_rate
    assert final["trusted_size"] < len(result.dataset.train_labels)
    images = {arm: result.arms[arm].synthetic.images for arm in ARMS}
    assert not torch.equal(images["vanilla"], images["tad"])
    assert not torch.equal(images["vanilla"], images["clean"])
    assert final["precision"] > noisy_precision - 0.05  # four epochs: no worse than the noisy labels


@pytest.mark.slow
def test_a_rerun_resumes_every_stage_from_its_checkpoint(finished, monkeypatch):
    config, result, out_dir, _ = finished

    def refuse(*args, **kwargs):
        raise AssertionError("a finished stage was recomputed")

    for name in ("distill_dm", "init_from_real", "evaluate_synthetic"):
        monkeypatch.setattr(tad.arms, name, refuse)
    stages = []
    again = run_experiment(config, out_dir=out_dir, progress=lambda stage, done, total: stages.append(stage))
    assert stages == []  # neither the trust model nor any arm ran again
    assert again.trust_final == result.trust_final
    assert again.trust_history == result.trust_history
    for arm in ARMS:
        assert again.arms[arm].evaluation == result.arms[arm].evaluation
        assert torch.equal(again.arms[arm].synthetic.images, result.arms[arm].synthetic.images)
    renamed = replace(config, name="another-name", arms=("clean", "random"))
    partial = run_experiment(renamed, out_dir=out_dir)
    assert partial.arms["clean"].evaluation == result.arms["clean"].evaluation


@pytest.mark.slow
def test_a_different_configuration_in_the_same_folder_is_refused(finished):
    config, _, out_dir, _ = finished
    changed = replace(config, dm=replace(config.dm, iterations=6))
    with pytest.raises(ValueError, match=r"config\.dm\.iterations: saved 5, expected 6.*delete it"):
        run_experiment(changed, out_dir=out_dir)
    reseeded = replace(config, arms=("random",), seed=1)
    with pytest.raises(ValueError, match=r"config\.seed: saved 0, expected 1"):
        run_experiment(reseeded, out_dir=out_dir)


@pytest.mark.slow
def test_datm_end_to_end_on_digits(tmp_path):
    base = tiny_config()
    config = replace(
        base,
        method="datm",
        expert=replace(base.expert, epochs=5, num_experts=2),
        # a tiny net learns too little for the evidence test to open a class: split every class here
        trust=replace(base.trust, evidence=False),
        tm=replace(
            base.tm,
            iterations=4,
            syn_steps=2,
            max_start_epoch=3,
            current_max_start_epoch=2,
            expansion_end=4,
            checkpoint_every=2,
        ),
    )
    result = run_experiment(config, out_dir=tmp_path / "run")
    payload = result.to_json()
    assert set(payload["arms"]) == {"random", "vanilla", "tad", "clean"}
    for arm in ("vanilla", "tad", "clean"):
        syn = result.arms[arm].synthetic
        assert syn.soft and syn.labels.shape == (10 * config.ipc, 10) and syn.lr is not None
    kinds = sorted(p.name for p in (tmp_path / "experts").glob("*/*"))
    assert kinds == ["clean", "tad", "vanilla"]
    assert len(list((tmp_path / "experts").glob("*/tad/expert_*.pt"))) == 2
    assert (tmp_path / "run" / "state" / "distill-tad.pt").exists()
    assert payload["trust"]["final"]["precision"] > 1 - payload["noise"]["realised_rate"]
    # retrained trajectories: the same trusted space, matched through experts trained afresh on it
    retrained = replace(config, trust=replace(config.trust, trajectories="retrained"), arms=("tad",))
    again = run_experiment(retrained, out_dir=tmp_path / "retrained")
    assert again.trust_final == payload["trust"]["final"]  # the dividing experts were read back
    diverted = list((tmp_path / "experts").glob("*/diverted/expert_*.pt"))
    assert len(diverted) == 2 and len(list((tmp_path / "experts").glob("*/tad/expert_*.pt"))) == 2
    assert not torch.equal(again.arms["tad"].synthetic.images, result.arms["tad"].synthetic.images)


def test_arms_with_the_same_data_and_labels_give_the_same_synthetic_set():
    # Common random numbers across arms: a TAD split that trusts everyone with the observed labels
    # must distil exactly what vanilla distils, and the random arm is the vanilla initialisation.
    from tad.arms import distill_arm
    from tad.context import RunContext
    from tad.diversion import TrustState
    from tad.trust import everyone_trusted

    config = replace(tiny_config(), trust=replace(tiny_config().trust, untrusted="drop"))
    nd = prepare_data(config)
    ctx = RunContext(config, nd, torch.device("cpu"))
    state = TrustState(split=everyone_trusted(nd.noisy_labels, nd.data.num_classes))
    vanilla = distill_arm(ctx, "vanilla")
    tad_arm = distill_arm(ctx, "tad", state)
    assert torch.equal(vanilla.images, tad_arm.images) and torch.equal(vanilla.labels, tad_arm.labels)
    clean = distill_arm(ctx, "clean")
    assert not torch.equal(vanilla.images, clean.images)  # other labels, other class pools
    # with soft use of the untrusted samples, an everyone-trusted split (weights 1) is vanilla too
    soft = RunContext(tiny_config(), nd, torch.device("cpu"))
    assert torch.equal(distill_arm(soft, "tad", state).images, vanilla.images)


def test_the_arms_table_names_each_arm_s_labels_pool_and_experts():
    from tad.arms import ARM_SOURCES, arm_data
    from tad.config import ARMS as CONFIG_ARMS
    from tad.context import RunContext

    assert set(ARM_SOURCES) == set(CONFIG_ARMS)
    vanilla, clean = ARM_SOURCES["vanilla"], ARM_SOURCES["clean"]
    # the clean arm is the vanilla arm with the true labels (and the experts trained on them)
    assert replace(vanilla, labels="clean", experts="clean") == clean
    assert ARM_SOURCES["random"].experts is None and ARM_SOURCES["random"].labels == vanilla.labels
    assert [a for a, source in ARM_SOURCES.items() if source.reads_trust] == ["tad"]
    config = tiny_config()
    nd = prepare_data(config)
    ctx = RunContext(config, nd, torch.device("cpu"))
    (noisy, all_v), (true, all_c) = arm_data(ctx, "vanilla", None), arm_data(ctx, "clean", None)
    assert torch.equal(noisy, nd.noisy_labels) and torch.equal(true, nd.clean_labels)
    assert all_v.all() and all_c.all()


def test_an_arm_that_needs_the_trusted_space_says_so_without_one():
    from tad.arms import distill_arm
    from tad.context import RunContext

    config = tiny_config()
    ctx = RunContext(config, prepare_data(config), torch.device("cpu"))
    with pytest.raises(ValueError, match=r"'tad' arm draws from TAD's trusted space.*run_tad_experts"):
        distill_arm(ctx, "tad")


def test_saved_stages_depend_on_trust_settings_for_the_tad_arm_only():
    # The stage files' metadata: changing it would orphan every cached run under runs/.
    from tad.arms import stage_meta
    from tad.config import to_dict

    config = tiny_config()
    full = to_dict(replace(config, name="", arms=("random",)))
    assert stage_meta(config) == stage_meta(config, "tad")
    assert stage_meta(config)["config"] == full
    for arm in ("random", "vanilla", "clean"):
        meta = stage_meta(config, arm)
        assert meta["config"] == {k: v for k, v in full.items() if k not in ("trust", "recalib")}
        assert set(meta) == {"config", "version", "distill_stream"}


@pytest.mark.slow
@pytest.mark.damaged_files
def test_every_kind_of_damaged_file_is_set_aside_and_recomputed(tmp_path, caplog):
    """Expert, trust state, arm and distillation checkpoint, each cut short mid-file."""
    base = tiny_config()
    config = replace(
        base,
        method="datm",
        tm=replace(base.tm, iterations=4, syn_steps=2, max_start_epoch=2, current_max_start_epoch=1),
    )
    out = tmp_path / "run"
    first = run_experiment(config, out_dir=out)
    state = out / "state"
    damaged = [
        next((tmp_path / "experts").glob("*/tad/expert_000.pt")),
        state / "trust.pt",
        state / "arm-vanilla.pt",
        state / "distill-tad.pt",
    ]
    (state / "arm-tad.pt").unlink()  # so that the damaged distillation checkpoint is read again
    for path in damaged:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])  # what a full disk or an interrupted copy leaves
    with caplog.at_level("WARNING", logger="tad.checkpoint"):
        again = run_experiment(config, out_dir=out)
    for path in damaged:
        assert path.exists() and len(list(path.parent.glob(f"{path.name}.bad-*"))) == 1, path
        assert path.name in caplog.text
    assert again.trust_final == first.trust_final
    for arm in ARMS:
        assert again.arms[arm].evaluation == first.arms[arm].evaluation, arm
        assert torch.equal(again.arms[arm].synthetic.images, first.arms[arm].synthetic.images), arm


def test_ranks_train_the_diverted_experts_after_the_experts_that_divide():
    from tad.pipeline import _expert_kinds

    config = replace(tiny_config(), method="datm", expert=replace(tiny_config().expert, epochs=20))
    assert _expert_kinds(config) == ["tad", "vanilla", "clean"]
    retrained = replace(config, trust=replace(config.trust, trajectories="retrained"))
    assert _expert_kinds(retrained) == ["tad", "vanilla", "clean", "diverted"]
    assert _expert_kinds(replace(retrained, method="dm")) == ["tad"]  # DM matches no trajectory
