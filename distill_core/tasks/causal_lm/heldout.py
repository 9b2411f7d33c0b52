"""A causal-LM run's held-out blocks and the teacher's top-k on them, kept in the run folder (heldout.safetensors)
so measurement and the Playground score variants without running the teacher again."""

from __future__ import annotations

import os
from pathlib import Path

import torch

HELDOUT_FILE = "heldout.safetensors"


def save_heldout(run_dir: Path, blocks: torch.Tensor, topk) -> Path:
    """The run's evaluation blocks and the teacher's top-k for them, so measurement needs no teacher pass."""
    from safetensors.torch import save_file

    path = Path(run_dir) / HELDOUT_FILE
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    save_file({"blocks": blocks.int().contiguous(), "logprobs": topk.logprobs.contiguous(),
               "indices": topk.indices.contiguous(), "tail": topk.tail.contiguous(),
               "target": topk.target.contiguous()}, str(tmp))
    os.replace(tmp, path)
    return path


def load_heldout(path: str | Path):
    """(blocks (n, L) int64, TopK) from heldout.safetensors."""
    from safetensors.torch import load_file

    from distill_core.tasks.causal_lm.teacher_cache import TopK

    t = load_file(str(path))
    return t["blocks"].long(), TopK(t["logprobs"], t["indices"], t["tail"], t["target"], hit=True)
