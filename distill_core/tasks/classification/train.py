"""The training loop: distillation (alpha > 0), the control and teacher fine-tuning (alpha = 0) share it.

Teacher outputs come precomputed from the teacher cache, so a step costs one student forward and backward.
Batches group similar lengths and pad only to the longest in the batch. The best validation checkpoint is kept.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch

from distill_core.core.progress import ProgressEvent, ProgressFn, StopFn
from distill_core.tasks.classification import evaluate
from distill_core.tasks.classification.data import bucketed_batches, pad_batch
from distill_core.tasks.classification.losses import HIDDEN_LOSSES, distillation_loss, masked_mean
from distill_core.training.loop import BudgetSpec, optimizer_step, set_scheduled_lr
from distill_core.training.parallel import SINGLE, Processes


@dataclass
class TrainSpec(BudgetSpec):
    """How to train one classifier: the budget plus the distillation loss."""

    temperature: float = 2.0
    alpha: float = 0.0  # weight of the soft-target term; 0 = hard labels only (control, teacher fine-tune)
    hidden_weight: float = 0.0
    hidden_loss: str = "mse"
    layer_map: dict[int, int] | None = None  # student block index -> teacher block index (pooled hidden states)


@dataclass
class TrainResult:
    history: list[dict]  # {"step", "loss", "lr"} every step-window, {"step", "val_accuracy", "val_loss"} at evaluations
    steps: int
    seconds: float
    examples: int
    best_step: int
    best_val_accuracy: float
    stopped: str  # "budget" | "cancelled"
    best_val_loss: float | None = None  # mean cross-entropy (nats) on the validation labels at the kept checkpoint

    @property
    def examples_per_s(self) -> float:
        return self.examples / self.seconds if self.seconds else 0.0


def train(model, phase: str, ids: list[list[int]], labels: np.ndarray, pad_id: int, spec: TrainSpec,
          val_ids: list[list[int]], val_labels: np.ndarray, teacher_logits: torch.Tensor | None = None,
          teacher_hidden: dict[int, torch.Tensor] | None = None, device: str = "cpu",
          on_progress: ProgressFn | None = None, should_stop: StopFn | None = None,
          processes: Processes = SINGLE) -> TrainResult:
    """Train `model` in place on `ids` and return its history; the best-validation weights are loaded at the end.

    labels: (examples,) int, -1 marks unlabeled transfer rows (soft term only). teacher_logits: (examples, classes).
    teacher_hidden: {teacher block: (examples, width)} pooled targets for the hidden-state term.
    `processes`: each trains on its share of every batch (training/parallel.py); `should_stop` must then be the
    shared check (Processes.stop_check)."""
    torch.manual_seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    model.to(device).train()
    projector = Projector(_projections(model, spec, teacher_hidden, device))
    params = [p for p in model.parameters() if p.requires_grad] + list(projector.parameters())
    optimizer = torch.optim.AdamW(params, lr=spec.learning_rate, weight_decay=spec.weight_decay)
    net, optimizer = processes.wrap(model, optimizer)
    if any(True for _ in projector.parameters()):
        projector, _ = processes.wrap(projector)
    labels_t = torch.as_tensor(labels, dtype=torch.long)
    lengths = [len(x) for x in ids]
    deadline = time.monotonic() + spec.minutes * 60 if spec.minutes else None
    started = time.monotonic()
    cap = spec.steps if spec.steps is not None else 10**9
    history: list[dict] = []
    best = (-1.0, 0, None, None)  # (val accuracy, step, state, val loss)
    step, examples, window_loss, window_n, stopped = 0, 0, 0.0, 0, "budget"

    def progress() -> float:
        if deadline is not None:
            return min(1.0, (time.monotonic() - started) / (spec.minutes * 60))
        return step / cap

    def validate():
        nonlocal best
        logits = processes.rows(len(val_ids), lambda rows: evaluate.predict_logits(
            model, [val_ids[i] for i in rows], pad_id, batch_size=64, device=device))
        targets = torch.as_tensor(val_labels)
        acc = evaluate.accuracy(logits, targets)
        loss = float(torch.nn.functional.cross_entropy(logits.float(), targets))
        history.append({"step": step, "val_accuracy": acc, "val_loss": loss, "seconds": time.monotonic() - started})
        if acc > best[0]:  # ties keep the earlier checkpoint
            best = (acc, step, copy.deepcopy(model.state_dict()), loss)
        model.train()
        return acc

    while stopped == "budget" and step < cap and progress() < 1.0:
        for batch in bucketed_batches(lengths, spec.batch_size, rng):
            if step >= cap or progress() >= 1.0:
                break
            if should_stop is not None and should_stop():
                stopped = "cancelled"
                break
            if len(batch) < processes.world:
                continue  # too small to give every process a share (the same on all of them)
            set_scheduled_lr(optimizer, spec, progress())
            with processes.autocast():
                loss = _step_loss(net, ids, processes.share(batch), labels_t, pad_id, spec, teacher_logits,
                                  teacher_hidden, projector, device)
            optimizer_step(optimizer, params, loss, spec, phase, step, " or the temperature", processes)
            step += 1
            examples += len(batch)
            window_loss += float(loss.detach())
            window_n += 1
            if step % max(1, spec.eval_every // 5) == 0:
                history.append({"step": step, "loss": window_loss / window_n,
                                "lr": optimizer.param_groups[0]["lr"], "seconds": time.monotonic() - started})
                window_loss, window_n = 0.0, 0
            metrics = {"loss": float(loss.detach())}
            if step % spec.eval_every == 0:
                metrics["val_accuracy"] = validate()
            if on_progress is not None:
                total = spec.steps if spec.minutes is None else None
                on_progress(ProgressEvent(phase, step, total, progress(), metrics))
    if window_n:
        history.append({"step": step, "loss": window_loss / window_n, "lr": optimizer.param_groups[0]["lr"],
                        "seconds": time.monotonic() - started})
    seconds = time.monotonic() - started
    if not history or "val_accuracy" not in history[-1] or history[-1]["step"] != step:
        validate()
    processes.unwrap(net)
    if best[2] is not None:
        model.load_state_dict(best[2])
    model.eval()
    return TrainResult(history, step, seconds, examples, best[1], best[0], stopped, best[3])


class Projector(torch.nn.Module):
    """The student-to-teacher width maps of the hidden-state term, one module (so DDP can wrap it once)."""

    def __init__(self, maps: dict[int, torch.nn.Module]):
        super().__init__()
        self.maps = torch.nn.ModuleDict({str(layer): m for layer, m in maps.items()})

    def forward(self, pooled: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        return {layer: self.maps[str(layer)](h) for layer, h in pooled.items()}


def _projections(model, spec: TrainSpec, teacher_hidden, device) -> dict[int, torch.nn.Module]:
    """A learned linear map per mapped student layer when student and teacher widths differ (else identity)."""
    if not spec.hidden_weight or not spec.layer_map or not teacher_hidden:
        return {}
    width = model.config.hidden_size
    out = {}
    for s_layer, t_layer in spec.layer_map.items():
        t_width = teacher_hidden[t_layer].shape[-1]
        out[s_layer] = (torch.nn.Identity() if t_width == width else torch.nn.Linear(width, t_width)).to(device)
    return out


def _step_loss(model, ids, batch, labels_t, pad_id, spec, teacher_logits, teacher_hidden, projector: Projector,
               device):
    input_ids, mask = pad_batch([ids[i] for i in batch], pad_id)
    input_ids, mask = input_ids.to(device), mask.to(device)
    index = torch.as_tensor(batch, dtype=torch.long)
    labels = labels_t[index].to(device)
    want_hidden = bool(spec.hidden_weight and spec.layer_map and teacher_hidden)
    out = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=want_hidden)
    logits = out.logits.float()
    if teacher_logits is None or spec.alpha == 0:
        labeled = labels >= 0
        loss = torch.nn.functional.cross_entropy(logits[labeled], labels[labeled])
    else:
        labeled = labels >= 0
        loss = distillation_loss(logits, teacher_logits[index].to(device), labels.clamp_min(0), spec.temperature,
                                 spec.alpha, labeled)
    if want_hidden:
        hidden_fn = HIDDEN_LOSSES[spec.hidden_loss]
        projected = projector({s_layer: masked_mean(out.hidden_states[s_layer + 1].float(), mask)
                               for s_layer in spec.layer_map})
        terms = [hidden_fn(projected[s_layer], teacher_hidden[t_layer][index].to(device))
                 for s_layer, t_layer in spec.layer_map.items()]
        loss = loss + spec.hidden_weight * torch.stack(terms).mean()
    return loss


