"""One experiment end to end: the trust model, every arm's distillation and evaluation, the results.

Every finished stage is checkpointed under ``<out_dir>/state/``; a rerun of the
same configuration skips it, so an interrupted run loses at most one stage.

Under ``torchrun`` (see :mod:`tad.distributed`) the ranks share the experts (expert ``k`` of
every kind on rank ``k mod N``) and the evaluation networks (network ``k`` of every arm on rank
``k mod N``, each written to ``state/eval-<arm>-<k>.pt``); each synthetic set is distilled once,
on rank 0, and written to ``state/synthetic-<arm>.pt`` for the others. The results equal a
single process's with the same seeds.
"""

from __future__ import annotations

import logging
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from tad import __version__, distributed
from tad.arms import ARM_SOURCES, distill_arm, evaluate_arm, run_tad_experts, stage_meta
from tad.checkpoint import aliases, atomic_save, load_checkpoint
from tad.config import ExperimentConfig, to_dict
from tad.context import Progress, RunContext, prepare_data, validate
from tad.data import ImageDataset
from tad.distributed import SINGLE, World
from tad.diversion import TrustState, trust_diagnostics
from tad.evaluate import EvalResult
from tad.noise import NoiseReport
from tad.synthetic import SyntheticSet
from tad.trust import TrustSplit

log = logging.getLogger(__name__)

RESULTS_FORMAT = "tad-results/1"


@dataclass(frozen=True)
class ArmResult:
    synthetic: SyntheticSet
    evaluation: EvalResult
    distill_seconds: float
    eval_seconds: float


@dataclass(frozen=True)
class ExperimentResult:
    config: ExperimentConfig
    noise: NoiseReport
    trust_history: list[dict] = field(default_factory=list)
    trust_final: dict | None = None
    arms: dict[str, ArmResult] = field(default_factory=dict)
    wall_time_s: float = 0.0
    device: str = "cpu"
    dataset: ImageDataset | None = None  # for display only; not part of the results file

    def to_json(self, command: list[str] | None = None) -> dict:
        """The project's stable results format (``tad-results/1``)."""
        return {
            "format": RESULTS_FORMAT,
            "name": self.config.name,
            "package_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": command,
            "machine": machine_description(self.device),
            "config": to_dict(self.config),
            "noise": self.noise.to_dict(),
            "trust": {"final": self.trust_final, "history": self.trust_history},
            "arms": {
                name: {
                    **arm.evaluation.to_dict(),
                    "distill_seconds": arm.distill_seconds,
                    "eval_seconds": arm.eval_seconds,
                }
                for name, arm in self.arms.items()
            },
            "wall_time_s": self.wall_time_s,
        }


def machine_description(device: str) -> dict:
    """Where a result was produced, for the results file."""
    desc = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        desc["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return desc


def run_experiment(
    config: ExperimentConfig,
    *,
    device: torch.device | str = "cpu",
    out_dir: str | Path | None = None,
    experts_root: str | Path | None = None,
    progress: Progress | None = None,
    world: World = SINGLE,
) -> ExperimentResult:
    """Run every arm of ``config``; checkpoint each finished stage under ``out_dir``.

    Expert trajectories (MTT/DATM) go to ``experts_root`` (default: ``experts`` beside
    ``out_dir``), where runs that differ only in IPC or distiller settings share them.
    ``world`` (from :func:`tad.distributed.current`) spreads the work over ``torchrun``'s ranks;
    every rank returns the same result.
    """
    start = time.perf_counter()
    device = torch.device(device)
    validate(config)
    nd = prepare_data(config)
    state_dir = Path(out_dir) / "state" if out_dir is not None else None
    experts_root = Path(experts_root) if experts_root is not None else None
    if experts_root is None and out_dir is not None:
        experts_root = Path(out_dir).parent / "experts"  # shared by every run under the same folder
    ctx = RunContext(config, nd, device, progress, state_dir, experts_root, world)
    if world.distributed:
        _check_world(ctx)
        _train_every_expert(ctx)  # together, before the stages that run on rank 0 alone
    trust_state, trust_history, trust_final = None, [], None
    if any(ARM_SOURCES[arm].reads_trust for arm in config.arms):
        trust_state, trust_history = _stage(ctx, "trust", "tad", lambda: run_tad_experts(_alone(ctx)))
        k = nd.data.num_classes
        trust_final = trust_diagnostics(trust_state.split, nd.noisy_labels, nd.clean_labels, k)
    arms = {arm: _arm(ctx, arm, trust_state) for arm in config.arms}
    wall = time.perf_counter() - start
    return ExperimentResult(config, nd.noise, trust_history, trust_final, arms, wall, str(device), nd.data)


def _arm(ctx: RunContext, arm: str, trust_state: TrustState | None) -> ArmResult:
    """One arm from its checkpoint, or distilled and evaluated (shared by the ranks under torchrun)."""
    meta, path = stage_meta(ctx.config, arm), _stage_path(ctx, f"arm-{arm}")
    if path is not None and (saved := load_checkpoint(path, meta, allowed=_SAVED)) is not None:
        log.info("resuming: arm %s loaded from %s", arm, path)
        return saved["value"]

    def distil() -> SyntheticSet:
        return distill_arm(_alone(ctx), arm, trust_state).detached()

    t0 = time.perf_counter()
    # Under torchrun the other ranks read rank 0's synthetic set from a file; one process keeps it.
    syn = _stage(ctx, f"synthetic-{arm}", arm, distil) if ctx.world.distributed else distil()
    t1 = time.perf_counter()
    evaluation = _evaluate(ctx, arm, syn)
    result = ArmResult(syn, evaluation, t1 - t0, time.perf_counter() - t1)
    if path is not None and ctx.world.is_main:
        atomic_save({"meta": meta, "value": result}, path)
    distributed.barrier(ctx.world)  # every rank leaves the arm with its file written
    if ctx.world.distributed and ctx.world.is_main:  # the arm's file now holds what the ranks shared
        for k in range(ctx.config.eval.num_eval):
            _stage_path(ctx, f"eval-{arm}-{k}").unlink(missing_ok=True)
        _stage_path(ctx, f"synthetic-{arm}").unlink(missing_ok=True)
    return result


def _evaluate(ctx: RunContext, arm: str, syn: SyntheticSet) -> EvalResult:
    """The arm's evaluation networks; under torchrun network ``k`` on rank ``k mod N``, gathered by file."""
    if not ctx.world.distributed:
        return evaluate_arm(ctx, arm, syn)
    meta = stage_meta(ctx.config, arm)
    for k in ctx.world.share(range(ctx.config.eval.num_eval)):
        path = _stage_path(ctx, f"eval-{arm}-{k}")
        if load_checkpoint(path, meta, allowed=_SAVED) is None:
            atomic_save({"meta": meta, "value": evaluate_arm(ctx, arm, syn, nets=[k])}, path)
    distributed.barrier(ctx.world)
    parts = [
        load_checkpoint(_stage_path(ctx, f"eval-{arm}-{k}"), meta, allowed=_SAVED)
        for k in range(ctx.config.eval.num_eval)
    ]
    if any(part is None for part in parts):
        raise RuntimeError(
            f"an evaluation network of arm {arm!r} is missing after every rank finished; rerun."
        )
    results = [part["value"] for part in parts]
    exact = None if results[0].exact_accs is None else tuple(a for r in results for a in r.exact_accs)
    return EvalResult(tuple(a for r in results for a in r.accs), exact)


def _stage(ctx: RunContext, name: str, arm: str, compute: Callable):
    """Stage ``name`` from its checkpoint, else computed and saved; under torchrun computed by rank 0 only."""
    meta, path = stage_meta(ctx.config, arm), _stage_path(ctx, name)
    if path is None:
        return compute()
    if ctx.world.is_main:
        saved = load_checkpoint(path, meta, allowed=_SAVED)
        if saved is None:
            saved = {"meta": meta, "value": compute()}
            atomic_save(saved, path)
        else:
            log.info("resuming: %s loaded from %s", name, path)
        distributed.barrier(ctx.world)
        return saved["value"]
    distributed.barrier(ctx.world)
    saved = load_checkpoint(path, meta, allowed=_SAVED)
    if saved is None:
        raise RuntimeError(
            f"{path} is missing after rank 0 finished it; check that the ranks share the folder."
        )
    return saved["value"]


def _stage_path(ctx: RunContext, name: str) -> Path | None:
    return None if ctx.state_dir is None else ctx.state_dir / f"{name}.pt"


def _alone(ctx: RunContext) -> RunContext:
    """The context of work that one rank does by itself (its experts are all trained by then)."""
    return replace(ctx, world=SINGLE)


def _check_world(ctx: RunContext) -> None:
    """Every check of a distributed run that needs no compute: same configuration, shared folders, work."""
    world, config = ctx.world, ctx.config
    if ctx.state_dir is None or ctx.experts_root is None:
        raise ValueError("a run shared by several ranks needs an output folder that they all see (--out).")
    distributed.check_agreement(world, "configuration", to_dict(config))
    distributed.check_shared_folder(world, ctx.state_dir)
    distributed.check_shared_folder(world, ctx.experts_root)
    units = max(config.expert.num_experts if _expert_kinds(config) else 0, config.eval.num_eval)
    distributed.check_work(world, units, "experts per kind or evaluation networks")


def _expert_kinds(config: ExperimentConfig) -> list[str]:
    """The kinds of experts the arms need: TAD's trust model, and each distilled arm's for MTT and DATM."""
    kinds = ["tad"] if any(ARM_SOURCES[a].reads_trust for a in config.arms) else []
    if config.method != "dm":
        kinds += [ARM_SOURCES[a].experts for a in config.arms if ARM_SOURCES[a].experts is not None]
        if "tad" in config.arms and config.trust.trajectories == "retrained":
            kinds.append("diverted")
    return list(dict.fromkeys(kinds))


def _train_every_expert(ctx: RunContext) -> None:
    """Each rank trains its share of every kind the run needs (the buffer then holds all of them)."""
    for kind in _expert_kinds(ctx.config):
        if kind == "diverted":  # on the trusted space of the tad experts, which come first
            ctx.experts(kind, run_tad_experts(ctx)[0].split)
        else:
            ctx.experts(kind)


# The project classes a stage file may hold (tad.checkpoint.safe_load); files written before
# SyntheticSet moved to tad.synthetic name it by its old module.
_SAVED = (TrustState, TrustSplit, ArmResult, SyntheticSet, EvalResult)
_SAVED += aliases((SyntheticSet, "tad.distill.base"))


__all__ = ["RESULTS_FORMAT", "ArmResult", "ExperimentResult", "machine_description", "run_experiment"]
