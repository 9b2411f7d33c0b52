"""The causal-LM training loop: distillation on cached teacher top-k (alpha > 0) and the control (alpha = 0).

A step: a batch of packed blocks, one student forward and backward; the teacher's part comes from the cache. The
student with the best validation perplexity is kept (validated every `eval_every` steps and at the end).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from distill_core.core.progress import ProgressEvent, ProgressFn, StopFn
from distill_core.tasks.causal_lm.evaluate import block_quality
from distill_core.tasks.causal_lm.losses import lm_distillation_loss
from distill_core.tasks.causal_lm.teacher_cache import TopK
from distill_core.training.loop import BudgetSpec, optimizer_step, set_scheduled_lr
from distill_core.training.parallel import SINGLE, Processes


@dataclass
class LMTrainSpec(BudgetSpec):
    """How to train one causal LM: the budget (batch_size counts blocks) plus the divergence on the teacher's top-k."""

    alpha: float = 0.0  # weight of the divergence term; 0 = next-token cross-entropy only (the control)
    temperature: float = 1.0
    divergence: str = "kl"  # kl | reverse-kl | jsd
    beta: float = 0.5  # jsd interpolation
    unlikelihood: float = 0.0  # weight of the token-level unlikelihood term (losses.unlikelihood_loss); both phases


@dataclass
class LMTrainResult:
    history: list[dict]  # {"step", "loss", "lr", "seconds"} and {"step", "val_perplexity", "seconds"}
    steps: int
    seconds: float
    examples: int  # blocks seen (with repeats)
    tokens: int  # predicted tokens seen
    best_step: int
    best_val_perplexity: float
    stopped: str  # "budget" | "cancelled"

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def _batches(n: int, batch_size: int, rng: np.random.Generator):
    """Endless shuffled batches of block indices, one permutation per epoch."""
    while True:
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            yield torch.as_tensor(order[start:start + batch_size])


def train_lm(model, phase: str, blocks: torch.Tensor, spec: LMTrainSpec, val_blocks: torch.Tensor,
             teacher: TopK | None = None, val_teacher: TopK | None = None, device: str = "cpu",
             on_progress: ProgressFn | None = None, should_stop: StopFn | None = None,
             processes: Processes = SINGLE) -> LMTrainResult:
    """Train `model` in place on `blocks` (n, L) and return its history; the best-validation weights are loaded at
    the end. `teacher`: the TopK of `blocks` (needed when alpha > 0); `val_teacher` adds agreement to validation.
    `processes`: each trains on its share of every batch and validates on its share of the validation blocks
    (training/parallel.py); `should_stop` must then be the shared check (Processes.stop_check)."""
    torch.manual_seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=spec.learning_rate, weight_decay=spec.weight_decay)
    net, optimizer = processes.wrap(model, optimizer)
    deadline = time.monotonic() + spec.minutes * 60 if spec.minutes else None
    started = time.monotonic()
    cap = spec.steps if spec.steps is not None else 10**9
    history: list[dict] = []
    best = (math.inf, 0, None)  # (val perplexity, step, state)
    step, examples, tokens, window_loss, window_n, stopped = 0, 0, 0, 0.0, 0, "budget"

    def progress() -> float:
        if deadline is not None:
            return min(1.0, (time.monotonic() - started) / (spec.minutes * 60))
        return step / cap

    def validate() -> dict:
        nonlocal best
        q = _shared_quality(model, val_blocks, val_teacher, spec.batch_size, device, processes)
        entry = {"step": step, "val_perplexity": q["perplexity"], "seconds": time.monotonic() - started}
        if "agreement" in q:
            entry["val_agreement"] = q["agreement"]
        history.append(entry)
        if q["perplexity"] < best[0]:
            best = (q["perplexity"], step, copy.deepcopy(model.state_dict()))
        model.train()
        return entry

    for index in _batches(len(blocks), spec.batch_size, rng):
        if step >= cap or progress() >= 1.0:
            break
        if should_stop is not None and should_stop():
            stopped = "cancelled"
            break
        if len(index) < processes.world:
            continue  # too small to give every process a share (the same on all of them)
        set_scheduled_lr(optimizer, spec, progress())
        mine = processes.share(index)
        batch = blocks[mine].to(device)
        with processes.autocast():
            logits = net(input_ids=batch).logits[:, :-1]
        t = teacher.rows(mine) if teacher is not None and spec.alpha > 0 else None
        loss = lm_distillation_loss(
            logits, batch[:, 1:], t.logprobs.to(device) if t else None,
            t.indices.to(device) if t else None, t.tail.to(device) if t else None, spec.alpha, spec.temperature,
            spec.divergence, spec.beta, spec.unlikelihood, batch[:, :-1])
        optimizer_step(optimizer, params, loss, spec, phase, step, processes=processes)
        step += 1
        examples += len(index)
        tokens += len(index) * (blocks.shape[1] - 1)
        window_loss += float(loss.detach())
        window_n += 1
        if step % max(1, spec.eval_every // 5) == 0:
            history.append({"step": step, "loss": window_loss / window_n, "lr": optimizer.param_groups[0]["lr"],
                            "seconds": time.monotonic() - started})
            window_loss, window_n = 0.0, 0
        metrics = {"loss": float(loss.detach())}
        if step % spec.eval_every == 0:
            metrics.update({k: v for k, v in validate().items() if k.startswith("val_")})
        if on_progress is not None:
            on_progress(ProgressEvent(phase, step, spec.steps if spec.minutes is None else None, progress(), metrics))
    if window_n:
        history.append({"step": step, "loss": window_loss / window_n, "lr": optimizer.param_groups[0]["lr"],
                        "seconds": time.monotonic() - started})
    seconds = time.monotonic() - started
    if not any(e.get("step") == step and "val_perplexity" in e for e in history):
        validate()
    processes.unwrap(net)
    if best[2] is not None:
        model.load_state_dict(best[2])
    model.eval()
    return LMTrainResult(history, step, seconds, examples, tokens, best[1], best[0], stopped)


def _shared_quality(model, val_blocks: torch.Tensor, val_teacher: TopK | None, batch_size: int, device: str,
                    processes: Processes) -> dict:
    """block_quality of the validation blocks, each process scoring its share: {"perplexity"} and, with the
    teacher, "agreement" (token-weighted over the shares, the same on every process)."""
    if processes.world == 1 or len(val_blocks) < processes.world:
        return block_quality(model, val_blocks, val_teacher, batch_size, device)
    rows = list(range(len(val_blocks)))[processes.rank::processes.world]
    q = block_quality(model, val_blocks[rows], val_teacher.rows(rows) if val_teacher is not None else None,
                      batch_size, device)
    shares = processes.gather({k: q[k] for k in ("nll", "tokens", "agreement") if k in q})
    tokens = sum(p["tokens"] for p in shares)
    nll = sum(p["nll"] * p["tokens"] for p in shares) / max(1, tokens)
    out = {"perplexity": math.exp(min(nll, 700.0)), "nll": nll, "tokens": tokens}
    if val_teacher is not None:
        out["agreement"] = sum(p["agreement"] * p["tokens"] for p in shares) / max(1, tokens)
    return out
