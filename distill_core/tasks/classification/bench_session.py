"""One classification variant inside its measuring process (measure/rounds.py starts it): load, memory, size,
quality where the run does not already have it, then one timing sample per request.

Settings: "real" draws a fixed, seeded sample of the test split (the same for every variant) at its real token
lengths, cut into batches of similar length as `evaluate.predict_logits` batches it, so each batch pays the padding
that batched inference here really pays; "fixed" repeats real tokens to exactly `fixed_length` tokens per input.
A setting's *cycle* is a fixed list of its batches (at most `cycle_batches` and `cycle_inputs` inputs, one batch
at least: the middle batch of equal length strata); one sample is the mean time per pass over `reps` whole cycles,
`reps` chosen at warm-up so a sample lasts about `sample_ms`. Every variant times the same cycles.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from distill_core.core.device import resolve_device
from distill_core.measure.flops import flops_at, flops_curve
from distill_core.measure.memory import RssSampler
from distill_core.measure.records import BenchConfig, MemoryRecord, SizeRecord
from distill_core.measure.timing import PassTimer, reference_timer_ms

SETTINGS = ("real", "fixed")


@dataclass
class VariantSpec:
    """What one measuring process loads."""

    name: str
    ref: str  # fp32 model folder, preset key or hub id
    labels: list[str]
    quantize: bool  # make it int8 after loading
    max_length: int  # truncation of the real texts (the run's max_length)
    trust_remote_code: bool = False
    quality: bool = True  # compute its test-split logits (False: the run's results.json has its quality)
    # The variant's test logits in the teacher-output cache (teacher_cache): read there when present, else computed and
    # stored. For the teacher (the run cached them) and teacher-int8 (its logits depend only on the teacher, the int8
    # method and the library versions: every run and seed of one teacher shares them).
    teacher_cache_key: str | None = None


def real_batches(ids: list[list[int]], batch_size: int) -> list[list[list[int]]]:
    """The sample cut into batches of similar length (sorted, as evaluate.predict_logits batches); a sample smaller
    than one batch is repeated to fill it."""
    from distill_core.tasks.classification.data import sorted_batches

    if len(ids) < batch_size:
        ids = (ids * math.ceil(batch_size / len(ids)))[:batch_size]
    batches = [[ids[i] for i in b] for b in sorted_batches([len(x) for x in ids], batch_size)]
    full = [b for b in batches if len(b) == batch_size]
    return full or batches


def fixed_batch(ids: list[list[int]], batch_size: int, length: int) -> list[list[int]]:
    """`batch_size` inputs of exactly `length` tokens: the sample's real tokens, repeated to that length."""
    rows = []
    for i in range(batch_size):
        seq = ids[i % len(ids)]
        rows.append((seq * math.ceil(length / len(seq)))[:length])
    return rows


def cycle_of(batches: list, limit: int) -> list:
    """At most `limit` of `batches` (sorted by length): the middle one of each of `limit` equal strata, spread over the
    lengths; one batch: the one whose padded length is nearest the mean padded length of all."""
    if len(batches) <= limit:
        return batches
    if limit == 1:  # the batch whose padded length is nearest the mean of all: the length mix in one batch
        mean = np.mean([len(max(b, key=len)) for b in batches])
        return [min(batches, key=lambda b: abs(len(max(b, key=len)) - mean))]
    n = len(batches)
    picks = sorted({min(n - 1, int((2 * i + 1) * n // (2 * limit))) for i in range(limit)})
    return [batches[i] for i in picks]


def setting_key(setting: str, batch_size: int) -> str:
    return f"{setting}/{batch_size}"


def import_model_code(spec: VariantSpec) -> None:
    """Import the libraries and model class the variant needs, so the baseline RSS already holds their code and
    only the variant's own memory counts. Raises DistillLabError when the reference cannot be read."""
    from distill_core.models import loading as models

    config = models.load_config(spec.ref, spec.trust_remote_code)  # also quiets transformers' logs

    from transformers import AutoModelForSequenceClassification
    from transformers.quantizers import auto as _quantizers  # noqa: F401 (imports torchao when it is installed)
    try:
        AutoModelForSequenceClassification._model_mapping[type(config)]  # imports the modeling module
    except Exception:  # remote code or an unusual config: loading reports any real problem
        pass
    if spec.quantize:
        from distill_core.models.quantize import import_torchao

        try:
            import_torchao()
        except ImportError:
            pass  # quantize_int8 falls back and records why


class VariantSession:
    """A loaded variant: `report` (name, size, memory, quantization, machine, logits...) and `sample(key)` (ms)."""

    def __init__(self, spec: VariantSpec, cfg: BenchConfig, texts: list[str], sample: list[int],
                 peak_gflops: float | None = None):
        from distill_core.measure import machine
        from distill_core.models import loading as models
        from distill_core.models import quantize, students
        from distill_core.tasks.classification.data import encode, pad_batch

        self.cfg, self.peak_gflops = cfg, peak_gflops
        self.device = device = resolve_device(cfg.device, "bench.device")
        import_model_code(spec)
        sampler = RssSampler(cfg.memory_interval_ms).start()
        started = time.perf_counter()
        model = models.load_classifier(spec.ref, spec.labels, spec.trust_remote_code)
        tokenizer = models.load_tokenizer(spec.ref, spec.trust_remote_code)
        order = models.label_order(model, spec.labels)
        load_seconds = time.perf_counter() - started
        positions = getattr(model.config, "max_position_embeddings", None) or cfg.fixed_length
        fixed_length = min(cfg.fixed_length, positions)
        self.curve = flops_curve(model, fixed_length)  # on the fp32 model: int8 does the same multiply-adds
        parameters = sum(p.numel() for p in model.parameters())
        started = time.perf_counter()
        model.to(device)
        qrecord = None
        if spec.quantize:
            model, qrecord = quantize.quantize_int8(model, cfg.quantization, device)
        load_seconds += time.perf_counter() - started
        self.model = model

        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        sample_ids = encode(tokenizer, [texts[i] for i in sample], spec.max_length)
        self.cycles: dict[str, tuple[str, int, list]] = {}  # key -> (setting, batch size, [(input_ids, mask)])
        for setting in SETTINGS:
            if setting not in cfg.settings:
                continue
            for batch_size in cfg.batch_sizes:
                limit = max(1, min(cfg.cycle_batches, cfg.cycle_inputs // batch_size))
                rows = ([fixed_batch(sample_ids, batch_size, fixed_length)] if setting == "fixed"
                        else cycle_of(real_batches(sample_ids, batch_size), limit))
                batches = [tuple(t.to(device) for t in pad_batch(r, pad_id)) for r in rows]
                self.cycles[setting_key(setting, batch_size)] = (setting, batch_size, batches)
        self.keys = list(self.cycles)
        self.timer = PassTimer(device)
        self.reps: dict[str, int] = {}
        timer_ms = {}
        with torch.inference_mode():
            for key, (setting, _, batches) in self.cycles.items():  # the longest batch first: the memory peak
                self._forward(max(batches, key=lambda b: b[0].numel()))
                for i in range(cfg.warmup_iterations):
                    self._forward(batches[i % len(batches)])
                cycle_ms = self._cycle_ms(batches, 1)
                self.reps[key] = max(1, math.ceil(cfg.sample_ms / max(cycle_ms, 1e-3)))
                if cfg.reference_timer and setting == "fixed":
                    timer_ms[key] = reference_timer_ms(lambda b=batches[0]: self._forward(b),
                                                       cfg.threads or os.cpu_count() or 1, 1.0)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        sampler.stop()
        memory = MemoryRecord(**sampler.record(device))
        size = SizeRecord(parameters=parameters, weight_bytes=students.weight_bytes(model),
                          int8_elements=quantize.int8_elements(model),
                          flops_per_input_fixed=int(round(flops_at(self.curve, fixed_length))),
                          flops_per_input_real=float(np.mean([flops_at(self.curve, len(x)) for x in sample_ids])),
                          fixed_length=fixed_length, flops_curve=self.curve)
        self._quality = (spec, tokenizer, texts, order, pad_id) if spec.quality else None
        self.report = {"name": spec.name, "ref": spec.ref, "device": device, "threads": torch.get_num_threads(),
                       "load_seconds": load_seconds, "quantization": qrecord.to_dict() if qrecord else None,
                       "memory": memory.to_dict(), "size": size.to_dict(),
                       "machine": machine.machine_record(device).to_dict(), "logits": None,
                       "cycles": {key: self.cycle_record(key) for key in self.keys}, "timer_ms": timer_ms}

    def finish(self) -> dict:
        """{"logits": test-split logits (as lists) or None}: after the timing, with all threads."""
        if self._quality is None:
            return {"logits": None}
        spec, tokenizer, texts, order, pad_id = self._quality
        return {"logits": _test_logits(spec, self.model, tokenizer, texts, order, pad_id, self.device)}

    def _forward(self, batch) -> None:
        self.model(input_ids=batch[0], attention_mask=batch[1])

    def _cycle_ms(self, batches: list, reps: int) -> float:
        """Mean ms per pass over `reps` passes of the whole cycle."""
        total = 0.0
        for _ in range(reps):
            for b in batches:
                total += self.timer.time(lambda b=b: self._forward(b))
        return total / (reps * len(batches))

    def cycle_record(self, key: str) -> dict:
        """What a sample of `key` covers: passes, mean padded and real tokens per input, FLOPs per input."""
        setting, batch_size, batches = self.cycles[key]
        return {"setting": setting, "batch_size": batch_size, "passes": self.reps[key] * len(batches),
                "padded_tokens": float(np.mean([b[0].shape[1] for b in batches])),
                "real_tokens": float(np.mean([float(b[1].sum()) / b[1].shape[0] for b in batches])),
                "flops_per_input": float(np.mean([flops_at(self.curve, b[0].shape[1]) for b in batches]))}

    def sample(self, key: str) -> float:
        """One timing sample of setting `key`: mean ms per forward pass over its cycle, `reps` times."""
        with torch.inference_mode():
            return self._cycle_ms(self.cycles[key][2], self.reps[key])


def _test_logits(spec: VariantSpec, model, tokenizer, texts, order, pad_id, device) -> list | None:
    """The variant's logits on the test split (splits' label order), as lists; from the teacher-output cache when
    `spec.teacher_cache_key` is there, and stored there after computing."""
    from distill_core.tasks.classification import evaluate, teacher_cache
    from distill_core.tasks.classification.data import encode

    if spec.teacher_cache_key:
        cached = teacher_cache.load(spec.teacher_cache_key, len(texts), [])
        if cached is not None:
            return cached.logits[:, order].tolist()
    test_ids = encode(tokenizer, texts, spec.max_length)
    logits = evaluate.predict_logits(model, test_ids, pad_id, device=device)  # the model's own label order
    if spec.teacher_cache_key:
        teacher_cache.store(spec.teacher_cache_key, teacher_cache.TeacherOutputs(logits.float(), {}, hit=False))
    return logits[:, order].tolist()


def open_session(spec: dict, cfg: dict, texts: list[str], sample: list[int], peak_gflops) -> VariantSession:
    """rounds.time_interleaved's setup, in the measuring process."""
    return VariantSession(VariantSpec(**spec), BenchConfig.from_dict(cfg), texts, sample, peak_gflops)
