"""The Playground's engine: a finished run's variants answer one text side by side.

Variants load lazily into a small least-recently-used cache bounded by their weight bytes (`ModelCache`), so
switching texts is instant and a long session does not grow without bound. Classification runs give class
probabilities; causal-LM runs give greedy continuations (see lm_generate). Times are one forward pass (ms) on CPU
with the threads in force, measured here in the app's process: a quick feel, not the measurement contract (that is
bench.json).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import torch

from distill_core.models import loading as models

from distill_core.runs import store

from distill_core.models import students
from distill_core.core.errors import DistillLabError
from distill_core.core.run_files import read_json

VARIANTS = ("teacher", "teacher-int8", "student", "student-int8", "control")
DEFAULT_CACHE_BYTES = 1536 * 2**20  # fp32 MiniLM teacher ~87 MiB; SmolLM2 teacher ~540 MiB


@dataclass
class LoadedVariant:
    model: torch.nn.Module
    tokenizer: object
    labels: list[str]  # class names in logit order (empty for causal LMs)
    weight_bytes: int
    task: str


@dataclass
class Answer:
    """One variant's answer to one text. `probs` in `labels` order; `ms`: wall time of the forward pass."""

    variant: str
    labels: list[str]
    probs: list[float]
    ms: float
    logits: list[float]

    @property
    def top(self) -> str:
        return self.labels[max(range(len(self.probs)), key=self.probs.__getitem__)] if self.probs else ""


class ModelCache:
    """Least-recently-used models, evicted once their weights exceed `max_bytes` (one model is always kept)."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES):
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, LoadedVariant] = OrderedDict()
        self._lock = threading.Lock()  # Streamlit reruns may overlap across browser sessions

    def get(self, key: tuple, load) -> LoadedVariant:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        item = load()
        with self._lock:
            self._items[key] = item
            while len(self._items) > 1 and self.total_bytes() > self.max_bytes:
                self._items.popitem(last=False)
        return item

    def total_bytes(self) -> int:
        return sum(item.weight_bytes for item in self._items.values())

    def keys(self) -> list[tuple]:
        return list(self._items)


def _refs(record: store.RunRecord) -> dict[str, tuple[str, bool]]:
    if not (record.folder / "results.json").exists():
        raise DistillLabError(f"run {record.id} has no results yet (status: {record.status})", "run")
    from distill_core.tasks.causal_lm.generate import variant_refs  # the same for both tasks: the prepared teacher, student/, control/

    return variant_refs(record.folder)


def run_variants(run_id: str) -> dict[str, tuple[str, bool]]:
    """Variant -> (model folder or reference, quantize to int8) for a run with results; raises DistillLabError."""
    return _refs(store.get_run(run_id))


def run_task(run_id: str) -> str:
    return (store.get_run(run_id).config or {}).get("task", "classification")


def _load(run_id: str, variant: str) -> LoadedVariant:
    record = store.get_run(run_id)
    refs = _refs(record)
    if variant not in refs:
        raise DistillLabError(f"run {run_id} has no {variant!r}; it has: {', '.join(refs)}", "variant")
    ref, quantize = refs[variant]
    config = record.config or {}
    trust = bool((config.get("teacher") or {}).get("trust_remote_code")) and variant.startswith("teacher")
    task = config.get("task", "classification")
    if task == "causal-lm":
        from distill_core.tasks.causal_lm import generate as lm_generate

        model, tokenizer = lm_generate.load_variant_model(ref, trust)
        labels = []
    else:
        label_names = read_json(record.folder, "results.json")["label_names"]
        model = models.load_classifier(ref, label_names, trust)
        tokenizer = models.load_tokenizer(ref, trust)
        order = models.label_order(model, label_names)
        labels = [label_names[order.index(i)] if i in order else str(i) for i in range(model.config.num_labels)]
    if quantize:
        from distill_core.models.quantize import quantize_int8

        model, _ = quantize_int8(model, device="cpu")
    model.eval()
    return LoadedVariant(model, tokenizer, labels, students.weight_bytes(model), task)


_CACHE = ModelCache()


def loaded(run_id: str, variant: str, cache: ModelCache | None = None) -> LoadedVariant:
    """The variant's model, from the cache or loaded now (seconds the first time)."""
    return (cache or _CACHE).get((run_id, variant), lambda: _load(run_id, variant))


def classify(run_id: str, variant: str, text: str, max_length: int = 128, cache: ModelCache | None = None) -> Answer:
    """Class probabilities of one text from one variant, with the forward time in ms."""
    if not text.strip():
        raise DistillLabError("is empty; type a sentence to classify", "text")
    item = loaded(run_id, variant, cache)
    enc = item.tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.inference_mode():
        started = time.perf_counter()
        logits = item.model(**{k: v for k, v in enc.items() if k in ("input_ids", "attention_mask")}).logits[0]
        ms = (time.perf_counter() - started) * 1000
    probs = torch.softmax(logits.float(), -1).tolist()
    return Answer(variant, item.labels, probs, ms, logits.float().tolist())


def teacher_logits(run_id: str, text: str, max_length: int = 128, cache: ModelCache | None = None
                   ) -> tuple[list[str], list[float]]:
    """(labels, raw logits) of the run's fp32 teacher for one text: the Learn page's real soft targets."""
    answer = classify(run_id, "teacher", text, max_length, cache)
    return answer.labels, answer.logits


def example_texts(run_id: str, n: int = 6) -> list[str]:
    """A few held-out texts to pick from (the test split of the built-in reviews, else none)."""
    source = ((store.get_run(run_id).config or {}).get("data") or {}).get("source", "reviews")
    if source != "reviews":
        return []
    from distill_core.tasks.classification.data import reviews_test_texts

    picks = [t for t in reviews_test_texts() if 40 <= len(t) <= 240]
    return picks[:: max(1, len(picks) // n)][:n]
