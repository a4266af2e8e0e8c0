"""TAD's cost per expert epoch and per DM iteration, as ratios to the vanilla step measured in the same run.

    python benchmarks/overhead.py --data-root ../shared/data/cifar10 --out benchmarks/results/overhead.json

Vanilla and trust-aware epochs alternate (A, B, A, B, ...) on the same data and network, so that slow
drifts of the machine hit both alike; each ratio is the median over the repeats. Both scoring modes of
the outer loop are timed: ``pass`` (an evaluation pass per division) and ``online`` (the division reads
the training pass's own losses and features; the default, recorded as ``default_scoring``). Then
whole expert runs, as a grid trains them: the preset's vanilla experts, then its TAD experts (which
read their noise-rate estimate from those vanilla experts' checkpoints, start dividing when their loss
has fallen, and divide once more at the end), then the vanilla experts again (the machine's drift).
Last, one scoring pass in batches of 512 against the batch size
:func:`tad.device.inference_batch` picks for the CPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from tad.buffer import train_experts
from tad.config import NoiseConfig
from tad.context import expert_spec, prepare_data
from tad.device import inference_batch
from tad.distill.base import class_pools, sample_from_pool
from tad.distill.dm import dm_step_loss
from tad.diversion import TrustState
from tad.epoch import ScoreRecorder, train_epoch
from tad.experts import ExpertTask, outer_inner_step, train_trusted_epoch
from tad.models import build_model
from tad.noise_rate import confident_learning_rates
from tad.presets import get_preset
from tad.trust import everyone_trusted, score_samples


def time_expert_epochs(config, nd, repeats: int) -> dict:
    """Seconds of a vanilla epoch and of a TAD epoch (trust step + training) in each scoring mode."""
    images, noisy = nd.data.train_images, nd.noisy_labels
    k = nd.data.num_classes
    gen = torch.Generator().manual_seed(0)
    net = build_model(
        config.model, channels=images.shape[1], num_classes=k, image_size=images.shape[-1], generator=gen
    )
    opt = torch.optim.SGD(net.parameters(), lr=config.expert.lr)
    train_epoch(
        net, opt, images, noisy, batch_size=config.expert.batch_size, generator=gen, augment=config.augment
    )
    # The default division is sized by each class's estimated noise rate, which a run estimates once,
    # before the trust-aware experts train; here the warmed-up network's confident learning gives it,
    # outside the timings.
    rates = None
    if config.trust.enabled and config.trust.sizing == "estimated":
        probs = score_samples(net, images, noisy).probs
        rates = torch.nan_to_num(confident_learning_rates(probs, noisy, k), nan=0.0)
    timings: dict[str, list[float]] = {"vanilla": [], "tad-pass": [], "tad-online": []}
    for _ in range(repeats):
        t = time.perf_counter()
        train_epoch(
            net,
            opt,
            images,
            noisy,
            batch_size=config.expert.batch_size,
            generator=gen,
            augment=config.augment,
        )
        timings["vanilla"].append(time.perf_counter() - t)
        for mode in ("pass", "online"):
            trust = replace(config.trust, scoring=mode)
            task = ExpertTask(
                images,
                noisy,
                k,
                config.model,
                config.expert,
                trust,
                config.recalib,
                config.augment,
                noise_rates=rates,
            )
            state = TrustState(split=everyone_trusted(noisy, k))
            recorder = ScoreRecorder(len(noisy))
            if mode == "online":  # the previous epoch's recording, as in a run
                train_epoch(
                    net,
                    opt,
                    images,
                    noisy,
                    batch_size=config.expert.batch_size,
                    generator=gen,
                    augment=config.augment,
                    recorder=recorder,
                )
            t = time.perf_counter()
            recorded = recorder.scores() if mode == "online" else None
            state, targets = outer_inner_step(task, net, state, seed=0, recorded=recorded)
            # the epoch a trust-aware expert trains (the default keeps untrusted samples, soft targets)
            train_trusted_epoch(task, net, opt, state, targets, generator=gen, record=mode == "online")
            timings[f"tad-{mode}"].append(time.perf_counter() - t)
    return timings


def time_expert_runs(config, nd) -> dict:
    """Seconds of the preset's vanilla experts and of its TAD experts, trained in turn into one buffer.

    The TAD experts' time holds everything a run adds: the noise-rate estimate read from the vanilla
    experts' last checkpoints, the warm-up epochs that do not divide, the scoring passes and divisions
    of the epochs that do, and the final division. A grid that runs the vanilla arm trains those
    vanilla experts anyway; TAD run alone trains them too, so it costs the sum of both.
    """
    spec = expert_spec(config)
    args = (nd.data.train_images, nd.noisy_labels, nd.clean_labels, nd.data.num_classes, spec)

    def timed(kind: str, root: str) -> dict:
        t = time.perf_counter()
        experts = train_experts(kind, *args, root=root, device=torch.device("cpu"))
        seconds = time.perf_counter() - t
        # the experts' own per-epoch timings: training epochs, and the trust steps before them
        train = sum(e["train_seconds"] for x in experts for e in x.timings)
        trust = sum(e["trust_seconds"] for x in experts for e in x.timings)
        divided = [sum(h["divided"] for h in x.history) for x in experts]
        return {
            "seconds": seconds,
            "train_seconds": train,
            "trust_seconds": trust,
            "dividing_epochs": divided,
        }

    # vanilla, TAD, vanilla again (into a second buffer, so it trains afresh): a drift of the
    # machine's speed during the runs shows as a difference between the two vanilla timings
    with tempfile.TemporaryDirectory() as root, tempfile.TemporaryDirectory() as again:
        first = timed("vanilla", root)
        tad = timed("tad", root)
        second = timed("vanilla", again)
    return {
        "experts": config.expert.num_experts,
        "epochs": config.expert.epochs,
        "runs": {"vanilla": first, "TAD": tad, "vanilla again": second},
        "ratio": tad["seconds"] / ((first["seconds"] + second["seconds"]) / 2),
    }


def time_score_batches(config, nd, repeats: int) -> dict:
    """Seconds of one scoring pass over the training set in batches of 512 (the size used before
    :func:`tad.device.inference_batch`) and of the batch size it picks for the CPU; the outputs agree
    exactly (checked here), so only the speed differs."""
    images, noisy = nd.data.train_images, nd.noisy_labels
    net = build_model(
        config.model,
        channels=images.shape[1],
        num_classes=nd.data.num_classes,
        image_size=images.shape[-1],
        generator=torch.Generator().manual_seed(0),
    )
    chosen = inference_batch(torch.device("cpu"))
    timings: dict[str, list[float]] = {"batch 512": [], f"batch {chosen}": []}
    reference = score_samples(net, images, noisy, batch_size=512)
    for _ in range(repeats):
        for size in (512, chosen):
            t = time.perf_counter()
            scores = score_samples(net, images, noisy, batch_size=size)
            timings[f"batch {size}"].append(time.perf_counter() - t)
            if not torch.equal(scores.losses, reference.losses):
                raise RuntimeError(f"scoring in batches of {size} changed the losses")
    return timings


def time_dm_iterations(config, nd, repeats: int) -> dict:
    """Seconds of one DM iteration drawing from all data (vanilla) or from a trusted pool (TAD)."""
    images, noisy = nd.data.train_images, nd.noisy_labels
    k, ipc = nd.data.num_classes, config.ipc
    gen = torch.Generator().manual_seed(0)
    pool = torch.rand(len(noisy), generator=gen) < 0.7
    syn = images[: k * ipc].clone().requires_grad_(True)
    timings: dict[str, list[float]] = {"vanilla": [], "tad": []}
    pools = {"vanilla": class_pools(noisy, torch.ones_like(pool), k), "tad": class_pools(noisy, pool, k)}
    for _ in range(repeats):
        for arm in ("vanilla", "tad"):
            t = time.perf_counter()
            net = build_model(
                config.model,
                channels=images.shape[1],
                num_classes=k,
                image_size=images.shape[-1],
                generator=gen,
            )
            for p in net.parameters():
                p.requires_grad_(False)
            real = [images[sample_from_pool(p, config.dm.batch_real, gen)] for p in pools[arm]]
            dm_step_loss(net, real, list(syn.split(ipc)), config.augment, gen).backward()
            timings[arm].append(time.perf_counter() - t)
    return timings


def ratios(timings: dict, baseline: str) -> dict:
    base = statistics.median(timings[baseline])
    return {
        name: {"median_s": statistics.median(v), "ratio": statistics.median(v) / base, "runs": v}
        for name, v in timings.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="cifar10-cpu")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/overhead.json")
    args = parser.parse_args()
    config = get_preset(args.preset)
    config = replace(
        config,
        data=replace(config.data, data_root=args.data_root or config.data.data_root),
        noise=NoiseConfig(kind="symmetric", rate=0.4),
    )
    nd = prepare_data(config)
    epochs = ratios(time_expert_epochs(config, nd, args.repeats), "vanilla")
    dm = ratios(time_dm_iterations(config, nd, 3 * args.repeats), "vanilla")
    score = ratios(time_score_batches(config, nd, 3 * args.repeats), "batch 512")
    runs = time_expert_runs(config, nd)
    out = {
        "preset": args.preset,
        "train_images": len(nd.noisy_labels),
        "width": config.model.width,
        "default_scoring": config.trust.scoring,
        "machine": {"platform": platform.platform(), "threads": torch.get_num_threads()},
        "expert_epoch": epochs,
        "dm_iteration": dm,
        "score_batch": score,
        "expert_runs": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    for name, r in {
        **{f"epoch {k}": v for k, v in epochs.items()},
        **{f"DM {k}": v for k, v in dm.items()},
        **{f"scoring, {k}": v for k, v in score.items()},
    }.items():
        print(f"{name:<18} {r['median_s']:7.3f} s   ratio {r['ratio']:.2f}")
    for name, run in runs["runs"].items():
        print(
            f"{runs['experts']} {name} experts: {run['seconds']:.1f} s, of which training epochs "
            f"{run['train_seconds']:.1f} s and trust steps {run['trust_seconds']:.1f} s (dividing in "
            f"{run['dividing_epochs']} of {runs['epochs']} epochs)"
        )
    print(f"whole runs: TAD / mean vanilla {runs['ratio']:.2f}")


if __name__ == "__main__":
    main()
