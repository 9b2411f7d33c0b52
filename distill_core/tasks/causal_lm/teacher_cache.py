"""The causal-LM teacher cache: per token, the teacher's top-k next-token log-probabilities and the tail's log-mass.

Full-vocabulary logits do not fit (SmolLM2: 49,152 floats per token, 24 MB per 128-token block), so the teacher's
k most likely next tokens are kept per position, with the probability left over as one tail bucket. One
safetensors file per fingerprint (teacher weights, the exact blocks, block size, k) under cache/lm-teacher-outputs/:

    logprobs  (blocks, block_size - 1, k) float16   log p_teacher of its top-k tokens, largest first (T = 1)
    indices   (blocks, block_size - 1, k) int32     their token ids
    tail      (blocks, block_size - 1)    float32   log(1 - sum of those k probabilities)
    target    (blocks, block_size - 1)    float32   log p_teacher of the true next token (the teacher's perplexity)

That is 6k + 8 bytes per token (392 for k = 64). Position t predicts token t + 1 of its block. A file that fails
to load or has the wrong shape is a miss and is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from distill_core.core.atomic import replacing
from distill_core.core.home import cache_dir
from distill_core.training.parallel import SINGLE, Processes
from distill_core.tasks.causal_lm.losses import log1mexp


@dataclass
class TopK:
    """The teacher's top-k next-token distribution per position. Shapes as in the module docstring."""

    logprobs: torch.Tensor
    indices: torch.Tensor
    tail: torch.Tensor
    target: torch.Tensor
    hit: bool = False  # read from the cache

    def __len__(self) -> int:
        return self.logprobs.shape[0]

    def rows(self, index) -> "TopK":
        """The blocks at `index` (a slice, list or tensor of block indices)."""
        return TopK(self.logprobs[index], self.indices[index], self.tail[index], self.target[index], self.hit)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.logprobs, self.indices, self.tail, self.target))


def fingerprint(teacher_fp: str, blocks: torch.Tensor, k: int) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([teacher_fp, list(blocks.shape), k]).encode())
    h.update(blocks.numpy().tobytes())
    return h.hexdigest()[:20]


def cache_path(key: str) -> Path:
    return cache_dir("lm-teacher-outputs") / f"{key}.safetensors"


def topk_of_logits(logits: torch.Tensor, targets: torch.Tensor, k: int) -> TopK:
    """TopK of next-token logits (..., vocab) with the true next tokens `targets` (...)."""
    logprobs = F.log_softmax(logits.float(), dim=-1)
    values, indices = logprobs.topk(min(k, logprobs.shape[-1]), dim=-1)
    tail = log1mexp(torch.logsumexp(values, dim=-1))
    target = logprobs.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)
    return TopK(values.half(), indices.int(), tail, target)


@torch.inference_mode()
def compute(teacher, blocks: torch.Tensor, k: int, batch_size: int = 8, device: str = "cpu",
            on_batch=None, should_stop=None) -> TopK | None:
    """Run the teacher over `blocks` (n, L) and keep its top-k per position; None when `should_stop()` says so.
    `on_batch(done, total)` reports progress in blocks."""
    teacher.eval()
    parts = []
    for start in range(0, len(blocks), batch_size):
        if should_stop is not None and should_stop():
            return None
        batch = blocks[start:start + batch_size].to(device)
        logits = teacher(input_ids=batch).logits[:, :-1]
        parts.append(topk_of_logits(logits, batch[:, 1:], k))
        if on_batch is not None:
            on_batch(min(start + batch_size, len(blocks)), len(blocks))
    return TopK(*(torch.cat([getattr(p, name).cpu() for p in parts]) for name in
                  ("logprobs", "indices", "tail", "target")))


def load(key: str, blocks: int, positions: int, k: int) -> TopK | None:
    """The cached TopK, or None on a miss or an unreadable / inconsistent file."""
    path = cache_path(key)
    if not path.exists():
        return None
    try:
        t = load_file(str(path))
        out = TopK(t["logprobs"], t["indices"], t["tail"], t["target"], hit=True)
    except Exception:  # corrupt or truncated file: rebuild it
        return None
    if out.logprobs.shape != (blocks, positions, k) or out.indices.shape != out.logprobs.shape \
            or out.tail.shape != (blocks, positions) or out.target.shape != out.tail.shape:
        return None
    return out


def store(key: str, topk: TopK) -> None:
    """Write atomically: a temp file, then rename."""
    path = cache_path(key)
    with replacing(path) as tmp:
        save_file({"logprobs": topk.logprobs.contiguous(), "indices": topk.indices.contiguous(),
                   "tail": topk.tail.contiguous(), "target": topk.target.contiguous()}, str(tmp))


def teacher_topk(teacher_fp: str, teacher, blocks: torch.Tensor, k: int, device: str = "cpu", batch_size: int = 8,
                 on_batch=None, should_stop=None, processes: Processes = SINGLE) -> TopK | None:
    """Cached top-k teacher outputs for `blocks`, computed and stored on a miss (None if cancelled meanwhile).
    Several `processes` each compute a share of the blocks (a cancel is then seen after them); every one gets all
    the outputs, the main one stores them."""
    k = min(k, int(teacher.config.vocab_size))
    key = fingerprint(teacher_fp, blocks, k)
    cached = load(key, len(blocks), blocks.shape[1] - 1, k)
    if not processes.any(cached is None):  # a miss anywhere is a miss everywhere
        return cached
    if processes.world == 1:
        result = compute(teacher, blocks, k, batch_size, device, on_batch, should_stop)
    else:
        fields = processes.rows(len(blocks), lambda rows: _fields(compute(teacher, blocks[rows], k, batch_size,
                                                                           device, on_batch)))
        result = None if should_stop is not None and should_stop() else TopK(*fields)
    if result is not None and processes.is_main:
        store(key, result)
    return result


def _fields(topk: TopK) -> tuple[torch.Tensor, ...]:
    return topk.logprobs, topk.indices, topk.tail, topk.target
