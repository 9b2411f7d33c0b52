"""What every training loop shares: the budget, the learning-rate schedule, the optimiser step, epochs as steps."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from distill_core.core.errors import TrainingDiverged
from distill_core.training.parallel import SINGLE, Processes


@dataclass
class BudgetSpec:
    """What every training loop needs: the budget (`steps`, or `minutes` of wall time; steps then counts the cap),
    the batch and the optimiser schedule."""

    steps: int | None
    minutes: float | None
    batch_size: int
    learning_rate: float
    eval_every: int = 50
    seed: int = 0
    warmup: float = 0.06  # share of the budget spent ramping the learning rate up
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0


def _lr_factor(progress: float, warmup: float) -> float:
    """Linear warm-up to 1 over `warmup` of the budget, then linear decay to 0."""
    if progress < warmup:
        return max(progress / warmup, 0.02)
    return max(0.0, (1 - progress) / (1 - warmup))


def set_scheduled_lr(optimizer, spec: BudgetSpec, progress: float) -> None:
    """Set the learning rate for `progress` (0..1 of the budget): linear warm-up, then linear decay."""
    for group in optimizer.param_groups:
        group["lr"] = spec.learning_rate * _lr_factor(progress, spec.warmup)


def optimizer_step(optimizer, params, loss: torch.Tensor, spec: BudgetSpec, phase: str, step: int,
                   hint: str = "", processes: Processes = SINGLE) -> None:
    """Backward and one optimiser step, gradients clipped to `spec.max_grad_norm` (averaged over `processes`). A
    loss that is not finite in any process raises TrainingDiverged (naming learning_rate, plus `hint`) in all of
    them before the weights change."""
    if processes.any(not bool(torch.isfinite(loss))):
        raise TrainingDiverged(f"{phase}: the loss became {float(loss.detach())} at step {step + 1}; lower the "
                               f"learning rate (now {spec.learning_rate:g}){hint}", "learning_rate")
    optimizer.zero_grad(set_to_none=True)
    processes.backward(loss)
    processes.clip_grad_norm(params, spec.max_grad_norm)
    optimizer.step()


def steps_for_epochs(examples: int, batch_size: int, epochs: float) -> int:
    """Optimiser steps for `epochs` passes over `examples` (at least 1)."""
    return max(1, math.ceil(epochs * math.ceil(examples / batch_size)))
