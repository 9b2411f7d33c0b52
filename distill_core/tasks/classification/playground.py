"""The Playground's classification engine: a variant of a finished run loaded with its class names, one text's logits
with the forward pass timed, and held-out texts to try. Times are one forward pass (ms) on CPU with the threads in
force: a quick feel, not the measurement contract (that is bench.json).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from distill_core.core.run_files import read_json
from distill_core.models import loading as models


def load_variant(run_dir: Path, ref: str, trust_remote_code: bool) -> tuple[torch.nn.Module, object, list[str]]:
    """(fp32 classifier in eval mode, tokenizer, class names in logit order) of one variant of the run in `run_dir`
    (its results.json holds the label names)."""
    label_names = read_json(run_dir, "results.json")["label_names"]
    model = models.load_classifier(ref, label_names, trust_remote_code)
    tokenizer = models.load_tokenizer(ref, trust_remote_code)
    order = models.label_order(model, label_names)
    labels = [label_names[order.index(i)] if i in order else str(i) for i in range(model.config.num_labels)]
    return model.eval(), tokenizer, labels


@torch.inference_mode()
def classify(model, tokenizer, text: str, max_length: int) -> tuple[list[float], float]:
    """One text's raw logits (fp32 list, the model's label order) and the forward pass's wall time in ms; the text
    is truncated to `max_length` tokens."""
    enc = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
    started = time.perf_counter()
    logits = model(**{k: v for k, v in enc.items() if k in ("input_ids", "attention_mask")}).logits[0]
    ms = (time.perf_counter() - started) * 1000
    return logits.float().tolist(), ms


def example_inputs(config: dict, n: int = 6) -> list[str]:
    """Up to `n` held-out texts of a built-in source's test split, spread over it: reviews of 40-240 characters,
    course titles of 20 or more; [] for other data sources (their test texts are the user's)."""
    from distill_core.tasks.classification.data import builtin_test_texts

    source = ((config or {}).get("data") or {}).get("source", "reviews")
    shortest = 40 if source == "reviews" else 20
    picks = [t for t in builtin_test_texts(source) if shortest <= len(t) <= 240]
    return picks[:: max(1, len(picks) // n)][:n]
