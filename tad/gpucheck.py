"""A few-minute check of the full-scale path, and what the real run will cost.

``python -m tad gpu-check`` (``make gpu-check``) runs an official DATM preset end to end with every
length cut down: two experts of two epochs per kind (vanilla, TAD), a start-epoch window of one
epoch, about fifty DATM iterations with the preset's own inner loop (same ``syn_steps``,
``batch_syn``, network and data), and one evaluation network trained for a few epochs. It checks
that every matching loss is finite and that the matching loss falls while the synthetic set is
optimised, and it measures seconds per expert epoch, per DATM iteration and per evaluation epoch and
the peak accelerator memory; from these it projects the wall time of the full preset (its experts,
iterations and evaluations, for the vanilla, TAD and clean arms).

The same code runs on the CPU with tiny sizes in the tests, so that the path cannot rot unnoticed.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, replace

import torch

from tad.arms import consensus_state, trusted_pool
from tad.config import ExperimentConfig, NoiseConfig
from tad.context import RunContext, prepare_data
from tad.distill.datm import initial_synthetic_set
from tad.distill.matching import distill_trajectory_matching
from tad.evaluate import accuracy, train_on_synthetic
from tad.models import build_model
from tad.presets import get_preset, with_noise
from tad.rng import generator

# The arms a full reproduction distils and evaluates, and the expert kinds it trains.
FULL_ARMS = ("vanilla", "tad", "clean")


@dataclass(frozen=True)
class CheckReport:
    preset: str
    device: str
    gpu: str | None
    train_images: int
    projected_train_images: int  # the training-set size the projection assumes (expert epochs scaled)
    seconds_per_expert_epoch: dict[str, float]  # by kind: vanilla, tad
    seconds_per_iteration: float
    seconds_per_eval_epoch: float
    peak_memory_gib: float | None  # accelerator memory; None on the CPU
    first_losses: float  # mean matching loss of the first tenth of the iterations
    last_losses: float  # ... and of the last tenth
    all_finite: bool
    improved: bool
    eval_accuracy: float  # % on the test set after a few epochs: a sanity figure, not a result
    projected_seconds: dict[str, float]  # the full preset: experts, distillation, evaluation, total

    @property
    def passed(self) -> bool:
        return self.all_finite and self.improved

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def shortened(
    config: ExperimentConfig,
    *,
    experts: int,
    expert_epochs: int,
    iterations: int,
    eval_epochs: int,
    syn_steps: int | None = None,
) -> ExperimentConfig:
    """``config`` with every length cut down; the inner loop, network and data stay the preset's."""
    expert_epochs = max(expert_epochs, config.tm.expert_epochs)  # a trajectory must span one match
    tm = replace(
        config.tm,
        iterations=iterations,
        min_start_epoch=0,
        max_start_epoch=max(1, expert_epochs - config.tm.expert_epochs + 1),
        current_max_start_epoch=None,
        checkpoint_every=max(1, iterations),
    )
    if syn_steps is not None:
        tm = replace(tm, syn_steps=syn_steps)
    return replace(
        config,
        expert=replace(config.expert, num_experts=experts, epochs=expert_epochs),
        tm=tm,
        eval=replace(config.eval, num_eval=1, epochs=eval_epochs),
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def project(
    full: ExperimentConfig,
    epoch_s: dict[str, float],
    iteration_s: float,
    eval_epoch_s: float,
    *,
    data_scale: float = 1.0,
) -> dict:
    """Seconds the full preset takes: experts of every kind, distillation and evaluation of every arm.

    ``data_scale`` multiplies the measured expert epochs: the ratio of the training set the full run
    uses to the one measured, when the data root holds only part of it. An expert epoch (its training
    pass and TAD's scoring pass) is linear in the number of images; distillation and evaluation work on
    the synthetic set and do not depend on it.
    """
    if data_scale <= 0:
        raise ValueError(f"data_scale must be positive; got {data_scale}.")
    kinds = {
        "vanilla": epoch_s["vanilla"] * data_scale,
        "tad": epoch_s["tad"] * data_scale,
        "clean": epoch_s["vanilla"] * data_scale,
    }
    experts = full.expert.num_experts * full.expert.epochs * sum(kinds.values())
    distill = full.tm.iterations * iteration_s * len(FULL_ARMS)
    evaluation = full.eval.num_eval * full.eval.epochs * eval_epoch_s * (len(FULL_ARMS) + 1)  # + random
    return {
        "experts": experts,
        "distillation": distill,
        "evaluation": evaluation,
        "total": experts + distill + evaluation,
    }


def run_check(
    preset: str = "datm-cifar10-ipc10",
    *,
    data_root: str | None,
    device: torch.device,
    noise: NoiseConfig | None = None,
    experts: int = 2,
    expert_epochs: int = 2,
    iterations: int = 50,
    eval_epochs: int = 5,
    train_per_class: int | None = None,
    syn_steps: int | None = None,
    width: int | None = None,
    image_size: int | None = None,
    full_train_images: int | None = None,
    progress=None,
) -> CheckReport:
    """Run the shortened preset on ``device`` and measure it (see the module's docstring).

    ``train_per_class``, ``syn_steps``, ``width`` and ``image_size`` shrink the run further for the
    CPU test; a real check leaves them at None (the preset's). ``full_train_images`` is the training
    set the projection assumes when ``data_root`` holds only part of it (default: the images loaded);
    expert epochs are scaled by the ratio (see :func:`project`).
    """
    if full_train_images is not None and full_train_images < 1:
        raise ValueError(f"full_train_images must be at least 1; got {full_train_images}.")
    full = with_noise(get_preset(preset), noise or NoiseConfig(kind="symmetric", rate=0.4))
    if full.method not in ("mtt", "datm"):
        raise ValueError(f"the GPU check runs trajectory matching; preset {preset!r} uses {full.method}.")
    data = replace(full.data, data_root=data_root, train_per_class=train_per_class)
    if image_size is not None:
        data = replace(data, image_size=image_size)
    model = full.model if width is None else replace(full.model, width=width)
    config = shortened(
        replace(full, data=data, model=model),
        experts=experts,
        expert_epochs=expert_epochs,
        iterations=iterations,
        eval_epochs=eval_epochs,
        syn_steps=syn_steps,
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    ctx = RunContext(config, prepare_data(config), device)  # no progress bars, no files: trained afresh
    say = progress or (lambda line: None)
    epoch_s, tad_experts = _time_experts(ctx, say)
    syn, losses, iteration_s = _time_distillation(ctx, tad_experts, say)
    eval_epoch_s, acc = _time_evaluation(ctx, syn)
    tenth = max(1, len(losses) // 10)
    first, last = statistics.fmean(losses[:tenth]), statistics.fmean(losses[-tenth:])
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    measured = len(ctx.nd.data.train_images)
    projected = measured if full_train_images is None else full_train_images
    return CheckReport(
        preset=preset,
        device=str(device),
        gpu=torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        train_images=measured,
        projected_train_images=projected,
        seconds_per_expert_epoch=epoch_s,
        seconds_per_iteration=iteration_s,
        seconds_per_eval_epoch=eval_epoch_s,
        peak_memory_gib=peak,
        first_losses=first,
        last_losses=last,
        all_finite=all(math.isfinite(x) for x in losses),
        improved=last < first,
        eval_accuracy=acc,
        projected_seconds=project(full, epoch_s, iteration_s, eval_epoch_s, data_scale=projected / measured),
    )


def _time_experts(ctx: RunContext, say) -> tuple[dict[str, float], list]:
    """Seconds per epoch of a vanilla and of a TAD expert, as the experts measured them; TAD's experts."""
    epoch_s, trained = {}, {}
    for kind in ("vanilla", "tad"):
        trained[kind] = ctx.experts(kind)
        # training plus (TAD) the trust step
        epoch_s[kind] = statistics.fmean(
            t["train_seconds"] + t.get("trust_seconds", 0.0) for e in trained[kind] for t in e.timings
        )
        say(f"{kind} experts: {epoch_s[kind]:.2f} s per epoch")
    return epoch_s, trained["tad"]


def _time_distillation(ctx: RunContext, experts: list, say) -> tuple:
    """DATM + TAD's inner loop for the shortened iterations: the set, its matching losses, s/iteration."""
    config, nd, device = ctx.config, ctx.nd, ctx.device
    images, k = nd.data.train_images, nd.data.num_classes
    state = consensus_state(experts, nd.noisy_labels, k)
    skeleton = build_model(config.model, channels=images.shape[1], num_classes=k, image_size=images.shape[-1])
    gen = generator(config.seed, "gpu-check")
    init = initial_synthetic_set(
        images,
        state.split.labels,
        trusted_pool(state, config.ipc, k),
        config.ipc,
        k,
        config=config.tm,
        skeleton=skeleton.to(device),
        expert_params=[e.final_params.to(device) for e in experts],
        generator=gen,
    )
    losses: list[float] = []
    _sync(device)
    start = time.perf_counter()
    syn = distill_trajectory_matching(
        [e.trajectory for e in experts],
        init,
        config=config.tm,
        skeleton=skeleton,
        augment=config.augment,
        generator=gen,
        device=device,
        callback=lambda it, loss: losses.append(float(loss)),
    )
    _sync(device)
    iteration_s = (time.perf_counter() - start) / config.tm.iterations
    say(f"DATM: {iteration_s:.3f} s per iteration")
    return syn, losses, iteration_s


def _time_evaluation(ctx: RunContext, syn) -> tuple[float, float]:
    """Seconds per evaluation epoch of one network trained on ``syn``, and its test accuracy."""
    config, data = ctx.config, ctx.nd.data
    start = time.perf_counter()
    net = train_on_synthetic(
        syn,
        num_classes=data.num_classes,
        model=config.model,
        config=config.eval,
        augment=config.augment,
        generator=generator(config.seed, "gpu-check-eval"),
        device=ctx.device,
    )
    _sync(ctx.device)
    eval_epoch_s = (time.perf_counter() - start) / config.eval.epochs
    return eval_epoch_s, 100.0 * float(accuracy(net, data.test_images, data.test_labels).float().mean())


def format_report(report: CheckReport) -> str:
    """The report as the lines the command prints."""
    p = report.projected_seconds
    lines = [
        f"preset {report.preset} on {report.gpu or report.device}, {report.train_images} training images",
        "seconds per expert epoch: "
        + ", ".join(f"{kind} {s:.2f}" for kind, s in report.seconds_per_expert_epoch.items()),
        f"seconds per DATM iteration: {report.seconds_per_iteration:.3f}",
        f"seconds per evaluation epoch: {report.seconds_per_eval_epoch:.3f}",
        "peak accelerator memory: "
        + ("n/a (CPU)" if report.peak_memory_gib is None else f"{report.peak_memory_gib:.2f} GiB"),
        f"matching loss: first tenth {report.first_losses:.4f}, last tenth {report.last_losses:.4f} "
        f"({'falls' if report.improved else 'DOES NOT FALL'}; "
        f"{'all finite' if report.all_finite else 'NOT FINITE'})",
        f"test accuracy after the short run (sanity only): {report.eval_accuracy:.1f}%",
        f"projected full preset ({report.projected_train_images} training images"
        + (
            ""
            if report.projected_train_images == report.train_images
            else f"; expert epochs scaled by {report.projected_train_images / report.train_images:.2f}"
        )
        + f"): experts {p['experts'] / 3600:.1f} h, distillation "
        f"{p['distillation'] / 3600:.1f} h, evaluation {p['evaluation'] / 3600:.1f} h, "
        f"total {p['total'] / 3600:.1f} h",
        "check " + ("PASSED" if report.passed else "FAILED"),
    ]
    return "\n".join(lines)


__all__ = ["CheckReport", "format_report", "project", "run_check", "shortened"]
