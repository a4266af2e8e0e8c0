"""The maths of trajectory matching: MTT (Cazenavette et al., CVPR 2022) and DATM (Guo et al., ICLR 2024).

A student starts from an expert's parameters at epoch ``t``, takes ``syn_steps``
differentiable SGD steps on the synthetic set (with DSA), and should land where the
expert was ``expert_epochs`` later. The normalised squared distance is minimised
with respect to the synthetic images, the learned step size and (DATM) the learned
soft labels. The student is functional: one flat parameter vector run through a
ConvNet skeleton with :func:`torch.func.functional_call`. The loop that draws the
expert segments and updates the synthetic set is :mod:`tad.distill.matching`.

With TAD the experts are trust-aware (``tad.experts``) and DATM's initial images
come only from the final trusted space with their current labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from tad.augment import DSATransform, sample_dsa
from tad.config import AugmentConfig, TMConfig
from tad.models import functional_forward
from tad.synthetic import soft_cross_entropy


def trajectory_matching_loss(student_end: Tensor, expert_start: Tensor, expert_end: Tensor) -> Tensor:
    """``‖θ̂_{t+N} − θ*_{t+M}‖² / ‖θ*_t − θ*_{t+M}‖²`` on flat parameter vectors (MTT eq. 2).

    0 when the student lands on the expert's end point, 1 when it does not move.
    """
    return ((student_end - expert_end) ** 2).sum() / ((expert_start - expert_end) ** 2).sum()


@dataclass(frozen=True)
class InnerStep:
    """One student step: which synthetic images it uses and how they are augmented."""

    indices: Tensor
    transform: DSATransform | None


def plan_inner_steps(
    num_images: int, config: TMConfig, augment: AugmentConfig | None, generator: torch.Generator
) -> list[InnerStep]:
    """Batches from successive random permutations of the synthetic set, chunked by ``batch_syn``."""
    batch = config.batch_syn or num_images
    steps: list[InnerStep] = []
    order = torch.empty(0, dtype=torch.long)
    while len(steps) < config.syn_steps:
        if order.numel() == 0:
            order = torch.randperm(num_images, generator=generator)
        idx, order = order[:batch], order[batch:]
        transform = None if augment is None else sample_dsa(augment, idx.numel(), generator=generator)
        steps.append(InnerStep(idx, transform))
    return steps


def student_loss(
    skeleton: torch.nn.Module, params: Tensor, images: Tensor, labels: Tensor, step: InnerStep
) -> Tensor:
    """Cross-entropy (hard labels) or soft cross-entropy (logit labels) of one inner step."""
    x = images[step.indices]
    if step.transform is not None:
        x = step.transform.apply(x)
    logits = functional_forward(skeleton, params, x)
    y = labels[step.indices]
    return soft_cross_entropy(logits, y) if y.dim() == 2 else F.cross_entropy(logits, y)


def unroll_student(
    skeleton: torch.nn.Module,
    start: Tensor,
    images: Tensor,
    labels: Tensor,
    syn_lr: Tensor,
    steps: list[InnerStep],
) -> Tensor:
    """The student's parameters after ``len(steps)`` SGD steps, differentiable in everything.

    ``w_{k+1} = w_k − syn_lr · ∇_w ℓ(w_k)``, with the graph of every step kept
    (memory grows with the number of steps).
    """
    w = start
    for step in steps:
        w = w if w.requires_grad else w.detach().requires_grad_(True)
        loss = student_loss(skeleton, w, images, labels, step)
        grad = torch.autograd.grad(loss, w, create_graph=True)[0]
        w = w - syn_lr * grad
    return w


def matching_gradients_low_memory(
    skeleton: torch.nn.Module,
    start: Tensor,
    target: Tensor,
    images: Tensor,
    labels: Tensor,
    syn_lr: Tensor,
    steps: list[InnerStep],
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """The matching loss and its exact gradients w.r.t. images, ``syn_lr`` and soft labels.

    Memory-saving mode: the student runs forward without a graph, keeping only its
    parameters after each step; the backward pass then revisits the steps in
    reverse, rebuilding one step's graph at a time. With the adjoint ``λ = ∂L/∂w_{k+1}``
    and ``w_{k+1} = w_k − α g_k``: ``∂L/∂w_k = λ − α H_k λ``, ``∂L/∂x += −α (∂g_k/∂x)ᵀ λ``
    and ``∂L/∂α += −g_kᵀ λ``. Memory is constant in ``syn_steps``; compute is about
    1.5 times the plain unrolled version.
    """
    soft = labels.dim() == 2
    lr = float(syn_lr.detach())
    ws = [start.detach()]
    for step in steps:
        w = ws[-1].clone().requires_grad_(True)
        g = torch.autograd.grad(student_loss(skeleton, w, images.detach(), labels.detach(), step), w)[0]
        ws.append((w - lr * g).detach())
    denom = ((start - target) ** 2).sum()
    loss = ((ws[-1] - target) ** 2).sum() / denom
    adjoint = 2.0 * (ws[-1] - target) / denom
    grad_images = torch.zeros_like(images)
    grad_labels = torch.zeros_like(labels) if soft else None
    grad_lr = torch.zeros((), dtype=start.dtype, device=start.device)
    for k in range(len(steps) - 1, -1, -1):
        w = ws[k].clone().requires_grad_(True)
        x = images.detach().clone().requires_grad_(True)
        y = labels.detach().clone().requires_grad_(soft)
        g = torch.autograd.grad(student_loss(skeleton, w, x, y, steps[k]), w, create_graph=True)[0]
        inputs = [w, x, y] if soft else [w, x]
        parts = torch.autograd.grad(g, inputs, grad_outputs=adjoint, allow_unused=True)
        grad_lr = grad_lr - (g.detach() * adjoint).sum()
        grad_images -= lr * _zero_if_none(parts[1], x)
        if soft:
            grad_labels -= lr * _zero_if_none(parts[2], y)
        adjoint = adjoint - lr * parts[0]
    return loss.detach(), grad_images, grad_lr, grad_labels


def _zero_if_none(grad: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if grad is None else grad


__all__ = [
    "InnerStep",
    "matching_gradients_low_memory",
    "plan_inner_steps",
    "student_loss",
    "trajectory_matching_loss",
    "unroll_student",
]
