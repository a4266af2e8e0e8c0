"""The factorial diagnosis: its arms, the oracle's experts and one end-to-end arm on tiny digits."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from tad.config import NoiseConfig
from tad.diagnose import Diagnosis, factorial_arms, oracle_split
from tad.presets import get_preset

CPU = torch.device("cpu")


def test_factorial_arms_cover_every_pathway_once():
    arms = factorial_arms()
    names = [a.name for a in arms]
    assert (
        len(names) == len(set(names)) == 16
    )  # 2 x 2 x 2 pathways x consistency, less one duplicate, + oracle
    plain = [a for a in arms if not a.uses_tad and a.trajectories != "oracle"]
    assert len(plain) == 1 and plain[0].trajectories == "vanilla" and plain[0].pool == "all"
    assert names[-1] == "oracle" and len(factorial_arms(oracle=False)) == 15


@pytest.fixture(scope="module")
def tiny():
    config = get_preset("digits")
    return replace(
        config,
        method="datm",
        noise=NoiseConfig(kind="pairflip", rate=0.4),
        expert=replace(config.expert, epochs=13),
        tm=replace(config.tm, iterations=3),
        eval=replace(config.eval, num_eval=1, epochs=5),
    )


def test_oracle_experts_train_on_the_truly_clean_samples_only(tiny):
    diagnosis = Diagnosis(tiny, device=CPU, experts_root=None)
    nd = diagnosis.nd
    split = oracle_split(nd)
    assert torch.equal(split.trusted, nd.noisy_labels == nd.clean_labels)
    oracle = diagnosis.experts("oracle")
    assert all(torch.equal(e.trusted, split.trusted) for e in oracle)
    # common random numbers: oracle and vanilla expert 0 start from the same weights
    vanilla = diagnosis.experts("vanilla")
    assert torch.equal(oracle[0].trajectory[0], vanilla[0].trajectory[0])
    assert not torch.equal(oracle[0].trajectory[-1], vanilla[0].trajectory[-1])


@pytest.mark.slow
def test_a_diagnosis_arm_runs_end_to_end_and_reports_its_pool(tiny):
    diagnosis = Diagnosis(tiny, device=CPU, experts_root=None)
    arm = next(a for a in factorial_arms() if a.trajectories == "tad" and a.pool == "trusted")
    row = diagnosis.run_arm(arm)
    assert row["arm"] == arm.name and row["factors"]["pool"] == "trusted"
    assert 0.0 <= row["acc_mean"] <= 100.0 and len(row["accs"]) == 1
    assert row["pool_quality"]["precision"] > 1.0 - float(diagnosis.nd.noise.realised_rate)
    plain = diagnosis.run_arm(factorial_arms()[0])
    assert plain["pool_quality"] is None
