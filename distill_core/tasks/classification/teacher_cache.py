"""Teacher outputs computed once per (teacher, texts, max length, hidden layers) fingerprint and reused.

Stored as one safetensors file per fingerprint under the data folder: `logits` (examples, classes) float32 and,
when a hidden-state loss is on, `hidden.<layer>` (examples, width) float32 mean-pooled hidden states. Per-token
hidden states would cost hundreds of MB for the reviews; pooled ones cost a few MB. A file that fails to load or
has the wrong shape is treated as a miss and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from distill_core.core.atomic import replacing
from distill_core.core.home import cache_dir
from distill_core.training.parallel import SINGLE, Processes


@dataclass
class TeacherOutputs:
    logits: torch.Tensor  # (examples, classes)
    hidden: dict[int, torch.Tensor]  # teacher block -> (examples, width)
    hit: bool  # True when read from the cache


def fingerprint(teacher_fp: str, texts: list[str], max_length: int, hidden_layers: list[int]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([teacher_fp, max_length, sorted(hidden_layers)]).encode())
    h.update(json.dumps(texts).encode())
    return h.hexdigest()[:20]


def cache_path(key: str) -> Path:
    return cache_dir("teacher-outputs") / f"{key}.safetensors"


def load(key: str, examples: int, hidden_layers: list[int]) -> TeacherOutputs | None:
    """The cached outputs, or None on a miss or an unreadable / inconsistent file."""
    path = cache_path(key)
    if not path.exists():
        return None
    try:
        tensors = load_file(str(path))
        logits = tensors["logits"]
        hidden = {layer: tensors[f"hidden.{layer}"] for layer in hidden_layers}
    except Exception:  # corrupt or truncated file: rebuild it
        return None
    if logits.shape[0] != examples or any(h.shape[0] != examples for h in hidden.values()):
        return None
    return TeacherOutputs(logits, hidden, hit=True)


def store(key: str, outputs: TeacherOutputs) -> None:
    """Write atomically: a temp file, then rename."""
    path = cache_path(key)
    tensors = {"logits": outputs.logits.contiguous()}
    tensors.update({f"hidden.{layer}": h.contiguous() for layer, h in outputs.hidden.items()})
    with replacing(path) as tmp:
        save_file(tensors, str(tmp))


def teacher_outputs(teacher_fp: str, teacher, ids: list[list[int]], texts: list[str], max_length: int, pad_id: int,
                    hidden_layers: list[int] | None = None, device: str = "cpu", batch_size: int = 64,
                    compute=None, processes: Processes = SINGLE) -> TeacherOutputs:
    """Cached teacher logits (and pooled hidden states) for `texts`, computing and storing them on a miss.

    `compute(teacher, ids, pad_id, batch_size, device, hidden_layers)` defaults to evaluate.predict_logits.
    Several `processes` each compute a share of the texts; every one gets all the outputs, the main one stores them."""
    from distill_core.tasks.classification import evaluate

    layers = sorted(hidden_layers or [])
    key = fingerprint(teacher_fp, texts, max_length, layers)
    cached = load(key, len(texts), layers)
    if not processes.any(cached is None):  # a miss anywhere is a miss everywhere
        return cached
    compute = compute or evaluate.predict_logits
    widths: list[int] = []

    def rows(indices: list[int]) -> torch.Tensor:
        """(rows, classes + hidden widths): the logits and the pooled hidden states side by side."""
        result = compute(teacher, [ids[i] for i in indices], pad_id, batch_size=batch_size, device=device,
                         hidden_layers=layers or None)
        logits, hidden = (result if layers else (result, {}))
        parts = [logits.float()] + [hidden[layer].float() for layer in layers]
        widths[:] = [p.shape[1] for p in parts]
        return torch.cat(parts, dim=1)

    parts = torch.split(processes.rows(len(texts), rows), widths, dim=1)
    outputs = TeacherOutputs(parts[0].contiguous(), {layer: p.contiguous() for layer, p in zip(layers, parts[1:])},
                             hit=False)
    if processes.is_main:
        store(key, outputs)
    return outputs


def concat(parts: list[TeacherOutputs]) -> TeacherOutputs:
    """Outputs of several text lists, stacked in order; a hit only when every part was."""
    layers = parts[0].hidden.keys()
    return TeacherOutputs(torch.cat([p.logits for p in parts]),
                          {layer: torch.cat([p.hidden[layer] for p in parts]) for layer in layers},
                          hit=all(p.hit for p in parts))
