"""Is training several experts at once (a torch.func ensemble) faster than one after another?

    python benchmarks/ensemble.py --data-root ../shared/data/cifar10 --out benchmarks/results/ensemble.json

K vanilla experts train one epoch on the same data: first one after another with ordinary modules and
SGD, then as one vmap-ed functional ensemble (stacked parameters, per-expert batches and augmentation,
one SGD update on the stack). Same work, same batch size; the answer decides how ``tad.buffer`` trains
experts. The two are timed alternately and the medians compared.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, stack_module_state, vmap

from tad.augment import dsa
from tad.context import prepare_data
from tad.models import build_model
from tad.presets import get_preset


def sequential_epoch(nets, images, labels, config, gen) -> None:
    for net in nets:
        opt = torch.optim.SGD(net.parameters(), lr=config.expert.lr)
        order = torch.randperm(len(labels), generator=gen)
        for start in range(0, len(order), config.expert.batch_size):
            idx = order[start : start + config.expert.batch_size]
            loss = F.cross_entropy(net(dsa(images[idx], config.augment, generator=gen)), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def ensemble_epoch(nets, images, labels, config, gen) -> None:
    params, buffers = stack_module_state(nets)
    skeleton = copy.deepcopy(nets[0]).to("meta")

    def loss_fn(p, b, x, y):
        return F.cross_entropy(functional_call(skeleton, (p, b), (x,)), y)

    step = vmap(grad(loss_fn), in_dims=(0, 0, 0, 0))
    orders = [torch.randperm(len(labels), generator=gen) for _ in nets]
    for start in range(0, len(labels), config.expert.batch_size):
        idx = [o[start : start + config.expert.batch_size] for o in orders]
        x = torch.stack([dsa(images[i], config.augment, generator=gen) for i in idx])
        y = torch.stack([labels[i] for i in idx])
        grads = step(params, buffers, x, y)
        with torch.no_grad():
            for name in params:
                params[name] -= config.expert.lr * grads[name]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="cifar10-cpu")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--experts", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/ensemble.json")
    args = parser.parse_args()
    config = get_preset(args.preset)
    config = replace(config, data=replace(config.data, data_root=args.data_root or config.data.data_root))
    nd = prepare_data(config)
    images, labels = nd.data.train_images, nd.noisy_labels
    gen = torch.Generator().manual_seed(0)
    shape = {"channels": images.shape[1], "num_classes": nd.data.num_classes, "image_size": images.shape[-1]}
    nets = [build_model(config.model, **shape, generator=gen) for _ in range(args.experts)]
    times: dict[str, list[float]] = {"sequential": [], "ensemble": []}
    for _ in range(args.repeats):
        for name, fn in (("sequential", sequential_epoch), ("ensemble", ensemble_epoch)):
            t = time.perf_counter()
            fn(nets, images, labels, config, gen)
            times[name].append(time.perf_counter() - t)
    seq, ens = statistics.median(times["sequential"]), statistics.median(times["ensemble"])
    out = {
        "preset": args.preset,
        "experts": args.experts,
        "train_images": len(labels),
        "width": config.model.width,
        "machine": {"platform": platform.platform(), "threads": torch.get_num_threads()},
        "seconds": times,
        "ensemble_over_sequential": ens / seq,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(
        f"{args.experts} experts, one epoch: sequential {seq:.2f} s, ensemble {ens:.2f} s "
        f"(ratio {ens / seq:.2f})"
    )


if __name__ == "__main__":
    main()
