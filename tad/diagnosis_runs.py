"""Running the diagnoses of :mod:`tad.diagnose` into their results files, resumably.

:func:`run_diagnosis` appends one JSON line per factorial arm and setting (``python -m tad
diagnose``); :func:`run_side_study` writes one JSON file per study with an entry per setting: the
separability of clean and mislabelled samples (``--separability``), the accuracy the inner loop's
recalls would have (``--recall``), the estimates of each class's noise rate (``--noise-rate``), the
divisions of TAD experts that read their peer's scores (``--peer-division``). Both skip what their file
already holds, so an interrupted run resumes, and report each finished piece through a callback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import torch

from tad import __version__
from tad.buffer import checkpoint_probs
from tad.checkpoint import atomic_write_text
from tad.config import ExperimentConfig, NoiseConfig, to_dict
from tad.diagnose import (
    Diagnosis,
    FactorialArm,
    ensemble_probs,
    factorial_arms,
    noise_rate_estimate,
    peer_division,
    recall_ceiling,
    separability,
)
from tad.noise_rate import estimate_noise_rates, mean_estimate, prediction_agreement
from tad.pipeline import machine_description
from tad.presets import with_noise
from tad.reproduce import append_result, read_results


def diagnosis_order(oracle: bool) -> list[FactorialArm]:
    """The oracle and the arms without the consistency term first: a grid run beside this one trains
    the default TAD experts meanwhile, and the arms that need them find them saved."""
    return sorted(factorial_arms(oracle=oracle), key=lambda a: (a.name != "oracle", a.consistency))


def run_diagnosis(
    base: ExperimentConfig,
    preset: str,
    settings: dict[str, NoiseConfig],
    path: Path,
    *,
    device: torch.device,
    experts_root: Path,
    oracle: bool = True,
    command: Sequence[str] = (),
    on_row: Callable[[dict], None] | None = None,
) -> int:
    """Run every factorial arm missing from ``path`` under each setting; returns how many it appended."""
    count = 0
    for setting, noise in settings.items():
        config = replace(with_noise(base, noise), name=f"{preset}-diagnosis-{setting}")
        diagnosis = None
        for arm in diagnosis_order(oracle):
            if arm.trajectories == "oracle" and setting == "clean":
                continue  # on clean labels the oracle is vanilla DATM
            key = f"{preset}|diagnosis|{setting}|{arm.name}|ipc{base.ipc}|seed{base.seed}"
            if key in {row["key"] for row in read_results(path)}:
                continue
            if diagnosis is None:
                diagnosis = Diagnosis(config, device=device, experts_root=experts_root)
            start = time.perf_counter()
            row = diagnosis.run_arm(arm)
            row.update(
                key=key,
                setting=setting,
                preset=preset,
                ipc=base.ipc,
                seed=base.seed,
                command=list(command),
                machine=machine_description(str(device)),
                wall_time_s=time.perf_counter() - start,
                package_version=__version__,
                config=to_dict(config),
            )
            append_result(path, row)
            count += 1
            if on_row is not None:
                on_row(row)
    return count


def _per_setting(
    base: ExperimentConfig,
    settings: dict[str, NoiseConfig],
    path: Path,
    compute: Callable[[ExperimentConfig, Diagnosis], dict],
    *,
    device: torch.device,
    experts_root: Path,
    command: Sequence[str],
) -> Iterator[tuple[str, dict]]:
    """Fill ``path``'s ``settings`` with ``compute(config, diagnosis)`` for each setting it lacks.

    The file is rewritten after every setting (so an interrupted run resumes); yields each new
    setting and its entry, which also records the configuration and the package version.
    """
    payload = json.loads(path.read_text()) if path.is_file() else {"settings": {}}
    payload["command"] = list(command)
    for setting, noise in settings.items():
        if setting in payload["settings"]:
            continue
        config = with_noise(base, noise)
        diagnosis = Diagnosis(config, device=device, experts_root=experts_root)
        entry = {**compute(config, diagnosis), "config": to_dict(config), "package_version": __version__}
        payload["settings"][setting] = entry
        atomic_write_text(json.dumps(payload, indent=1), path)
        yield setting, entry


def _separability_entry(config: ExperimentConfig, diagnosis: Diagnosis) -> dict:
    nd = diagnosis.nd
    return {
        "clean_share": float((nd.noisy_labels == nd.clean_labels).float().mean()),
        "experts": [separability(e, config, nd) for e in diagnosis.experts("vanilla")],
    }


def _recall_entry(config: ExperimentConfig, diagnosis: Diagnosis) -> dict:
    experts = diagnosis.experts("tad")
    mean_probs = ensemble_probs(experts, config, diagnosis.nd)
    return {"experts": [recall_ceiling(e, config, diagnosis.nd, ensemble_probs=mean_probs) for e in experts]}


# The snapshot ensembles the noise-rate diagnosis also reads (trust.rate_snapshots), where the experts
# trained that many epochs.
SNAPSHOT_COUNTS = (3, 5, 8)


def _noise_rate_entry(config: ExperimentConfig, diagnosis: Diagnosis) -> dict:
    entry = {}
    nd = diagnosis.nd
    for kind in ("vanilla", "tad"):
        experts = diagnosis.experts(kind)
        each = [ensemble_probs([e], config, nd) for e in experts]
        pair = len(each) > 1
        entry[kind] = noise_rate_estimate(
            torch.stack(each).mean(dim=0),
            nd,
            agreement=prediction_agreement(each[0], each[1]) if pair else None,
            agreement_top2=prediction_agreement(each[0], each[1], top=2) if pair else None,
        )
    plain = diagnosis.experts("vanilla")[:2]
    if len(plain) == 2:  # trust.rate_snapshots: snapshot ensembles, and per-checkpoint estimates averaged
        args = (config.model, nd.data.train_images, nd.noisy_labels, nd.data.num_classes)
        entry["vanilla"]["snapshots"] = {}
        for count in (k for k in SNAPSHOT_COUNTS if k <= config.expert.epochs):
            first, second = (checkpoint_probs(e, *args, snapshots=count) for e in plain)
            ensembles = [torch.stack(each).mean(dim=0) for each in (first, second)]
            pairs = zip(first, second, strict=True)
            averaged = mean_estimate(
                [estimate_noise_rates(a, b, nd.noisy_labels, nd.data.num_classes) for a, b in pairs]
            )
            estimate = noise_rate_estimate(
                (ensembles[0] + ensembles[1]) / 2,
                nd,
                agreement=prediction_agreement(*ensembles),
                others={"estimates_mean": averaged.rates},
            )
            entry["vanilla"]["snapshots"][str(count)] = {
                "agreement": estimate["agreement"],
                "expert_error": estimate["expert_error"],
                "corrected": estimate["corrected"],
                "estimates_mean": estimate["estimates_mean"],
            }
    return entry


def _peer_division_entry(config: ExperimentConfig, diagnosis: Diagnosis) -> dict:
    ctx = diagnosis.ctx
    return peer_division(config, diagnosis.nd, device=ctx.device, experts_root=ctx.experts_root)


# The one-file-per-study diagnoses: what each computes per setting from a Diagnosis of it.
SIDE_STUDIES: dict[str, Callable[[ExperimentConfig, Diagnosis], dict]] = {
    "separability": _separability_entry,  # tad.diagnose.separability of each vanilla expert
    "recall": _recall_entry,  # tad.diagnose.recall_ceiling of each TAD expert
    "noise_rate": _noise_rate_entry,  # tad.diagnose.noise_rate_estimate of the vanilla and TAD ensembles
    "peer_division": _peer_division_entry,  # tad.diagnose.peer_division: own scores or the peer's
}


def run_side_study(
    study: str,
    base: ExperimentConfig,
    settings: dict[str, NoiseConfig],
    path: Path,
    *,
    device: torch.device,
    experts_root: Path,
    command: Sequence[str] = (),
    on_setting: Callable[[str, dict], None] | None = None,
) -> None:
    """Compute ``study`` (a key of ``SIDE_STUDIES``) for each setting missing from ``path``.

    ``on_setting(setting, entry)`` receives each new setting's entry.
    """
    if study not in SIDE_STUDIES:
        raise ValueError(f"unknown study {study!r}; choose from {', '.join(SIDE_STUDIES)}.")
    for setting, entry in _per_setting(
        base, settings, path, SIDE_STUDIES[study], device=device, experts_root=experts_root, command=command
    ):
        if on_setting is not None:
            on_setting(setting, entry)


__all__ = ["SIDE_STUDIES", "diagnosis_order", "run_diagnosis", "run_side_study"]
