"""The Playground's engine: a finished run's variants answer one input side by side.

Variants load lazily into a small least-recently-used cache bounded by their weight bytes (`ModelCache`), so
switching inputs is instant and a long session does not grow without bound. How a variant is loaded and how it
answers is its task's (`Task.load_variant`, and per `Task.playground`: "classes" gives class probabilities through
`Task.classify`, "continuation" greedy text through `Task.continue_text`). Times are wall times (ms) on CPU with the
threads in force, measured here in the app's process: a quick feel, not the measurement contract (that is
bench.json).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import torch

from distill_core.core.errors import DistillLabError
from distill_core.core.variants import VARIANTS  # noqa: F401 (the page lists them)
from distill_core.core.variants import order_key, runtime_of, variant_for, variant_refs
from distill_core.models import onnx_export, students
from distill_core.runs import store
from distill_core.tasks.base import Task
from distill_core.views.tables import task_of

DEFAULT_CACHE_BYTES = 1536 * 2**20  # fp32 MiniLM teacher ~87 MiB; SmolLM2 teacher ~540 MiB


@dataclass
class LoadedVariant:
    model: torch.nn.Module
    tokenizer: object
    labels: list[str]  # class names in logit order (empty for tasks without classes)
    weight_bytes: int
    task: str  # the run's task name


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
    """The run's eager variants, and each of them on ONNX Runtime where its ONNX files are there (made when the run
    is measured with that runtime), in ALL_VARIANTS order."""
    if not (record.folder / "results.json").exists():
        raise DistillLabError(f"run {record.id} has no results yet (status: {record.status})", "run")
    refs = variant_refs(record.folder)
    on_onnx = "onnxruntime" in task_of(record.config).runtimes
    onnx = {variant_for(v, "onnxruntime"): ref for v, ref in refs.items()
            if on_onnx and onnx_export.read_export(ref[0]) is not None}
    return dict(sorted((refs | onnx).items(), key=lambda item: order_key(item[0])))


def run_variants(run_id: str) -> dict[str, tuple[str, bool]]:
    """Variant -> (model folder or reference, quantize to int8) for a run with results; raises DistillLabError."""
    return _refs(store.get_run(run_id))


def run_task(run_id: str) -> Task:
    """The run's task (its config's; the default for configs from before tasks). ConfigError for an unknown one."""
    return task_of(store.get_run(run_id).config)


def _load(run_id: str, variant: str) -> LoadedVariant:
    record = store.get_run(run_id)
    refs = _refs(record)
    if variant not in refs:
        raise DistillLabError(f"run {run_id} has no {variant!r}; it has: {', '.join(refs)}", "variant")
    ref, quantize = refs[variant]
    config = record.config or {}
    trust = bool((config.get("teacher") or {}).get("trust_remote_code")) and variant.startswith("teacher")
    task = task_of(config)
    if runtime_of(variant) == "onnxruntime":
        from distill_core.models import loading as models

        model = onnx_export.OnnxClassifier(ref, quantize)
        return LoadedVariant(model, models.load_tokenizer(ref, trust), list(model.record.labels), model.weight_bytes,
                             task.name)
    model, tokenizer, labels = task.load_variant(record.folder, ref, trust)
    if quantize:
        from distill_core.models.quantize import quantize_int8

        model, _ = quantize_int8(model, device="cpu")
    model.eval()
    return LoadedVariant(model, tokenizer, labels, students.weight_bytes(model), task.name)


_CACHE = ModelCache()


def loaded(run_id: str, variant: str, cache: ModelCache | None = None) -> LoadedVariant:
    """The variant's model, from the cache or loaded now (seconds the first time)."""
    return (cache or _CACHE).get((run_id, variant), lambda: _load(run_id, variant))


def _task_answering(run_id: str, kind: str) -> Task:
    task = run_task(run_id)
    if task.playground != kind:
        raise DistillLabError(f"run {run_id} is a {task.title or task.name} run: its variants do not answer with "
                              f"{'classes' if kind == 'classes' else 'text'}", "run")
    return task


def classify(run_id: str, variant: str, text: str, max_length: int = 128, cache: ModelCache | None = None) -> Answer:
    """Class probabilities of one text from one variant ("classes" tasks), with the forward time in ms; texts
    longer than `max_length` tokens are truncated."""
    if not text.strip():
        raise DistillLabError("is empty; type a sentence to classify", "text")
    task = _task_answering(run_id, "classes")
    item = loaded(run_id, variant, cache)
    logits, ms = task.classify(item.model, item.tokenizer, text, max_length)
    probs = torch.softmax(torch.tensor(logits, dtype=torch.float32), -1).tolist()
    return Answer(variant, item.labels, probs, ms, logits)


def continue_text(run_id: str, variant: str, prompt: str, max_new_tokens: int = 32,
                  cache: ModelCache | None = None):
    """A greedy continuation of `prompt` by one variant ("continuation" tasks), batch 1: `text` (without the
    prompt), `prefill_ms` (ms to the first new token), `decode_tokens_per_s`."""
    if not prompt.strip():
        raise DistillLabError("is empty; type the start of a text", "prompt")
    task = _task_answering(run_id, "continuation")
    item = loaded(run_id, variant, cache)
    return task.continue_text(item.model, item.tokenizer, prompt, max_new_tokens)


def teacher_logits(run_id: str, text: str, max_length: int = 128, cache: ModelCache | None = None
                   ) -> tuple[list[str], list[float]]:
    """(labels, raw logits) of the run's fp32 teacher for one text: the Learn page's real soft targets."""
    answer = classify(run_id, "teacher", text, max_length, cache)
    return answer.labels, answer.logits


def example_texts(run_id: str, n: int = 6) -> list[str]:
    """Up to `n` held-out inputs of the run's data to pick from (the task's `example_inputs`; [] when none)."""
    config = store.get_run(run_id).config or {}
    return task_of(config).example_inputs(config, n)
