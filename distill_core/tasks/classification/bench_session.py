"""One classification variant inside its measuring process (measure/rounds.py starts it): load, memory, size,
quality where the run does not already have it, then one timing sample per request.

Settings: "real" draws a fixed, seeded sample of the test split (the same for every variant) at its real token
lengths, cut into batches of similar length as `evaluate.predict_logits` batches it, so each batch pays the padding
that batched inference here really pays; "fixed" repeats real tokens to exactly `fixed_length` tokens per input.
A setting's *cycle* is a fixed list of its batches (at most `cycle_batches` and `cycle_inputs` inputs, one batch
at least: the middle batch of equal length strata); one sample times `reps` whole cycles,
`reps` chosen at warm-up (`warm`, in the process that times) so a sample lasts about `sample_ms`. Every variant
times the same cycles. A sample is robust to a single interrupted pass: per batch, the median of its `reps` passes
(see `sample`). The timing process opens a variant with `timing_only` (open_timing_session): it loads the model and
cuts the same cycles, but skips what its own process measured (memory, the memory peak's pass, FLOPs, size).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from distill_core.core.device import resolve_device, timing_threads
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
    # stored. For the teacher (the run cached them), teacher-int8 and the teacher on ONNX Runtime (their logits depend
    # only on the teacher, the int8 method or the ONNX files' making, and the library versions: every run and seed of
    # one teacher shares them).
    teacher_cache_key: str | None = None
    runtime: str = "pytorch"  # core.variants.RUNTIMES: eager PyTorch, or ONNX Runtime on the folder's ONNX files


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

    if spec.runtime == "onnxruntime":
        import onnxruntime  # noqa: F401 (its library, not the session, is the baseline)

        models.load_config(spec.ref, spec.trust_remote_code)  # transformers' tokenizer code
        return

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


@dataclass
class LoadedVariant:
    """A variant ready to time, whatever runs it: `forward(batch)` runs one batch made by `batch(rows, pad_id)`."""

    forward: object  # (batch) -> None
    batch: object  # (list of token-id lists, pad id) -> a batch in the runtime's own form
    logits: object  # (list of token-id lists, pad id) -> (examples, classes) logits in the model's label order
    tokenizer: object
    order: list[int]  # the model's logit column for each of the spec's labels
    curve: list[float]  # FLOPs curve of the fp32 model
    parameters: int
    weight_bytes: int  # what the runtime holds: the state dict (PyTorch) or the .onnx file (ONNX Runtime)
    int8_elements: int
    positions: int | None  # the model's position limit
    quantization: dict | None
    threads: int | None = None  # the runtime's own thread count, when it is not torch's


def _load_torch(spec: VariantSpec, cfg: BenchConfig, device: str, flops: bool = True) -> LoadedVariant:
    """The save_pretrained folder on eager PyTorch (int8: quantize.quantize_int8 of it, made here); `flops` False
    leaves the FLOPs curve empty (the timing process does not need it)."""
    from distill_core.models import loading as models
    from distill_core.models import quantize, students
    from distill_core.tasks.classification import evaluate
    from distill_core.tasks.classification.data import pad_batch

    model = models.load_classifier(spec.ref, spec.labels, spec.trust_remote_code)
    tokenizer = models.load_tokenizer(spec.ref, spec.trust_remote_code)
    positions = getattr(model.config, "max_position_embeddings", None)
    curve = flops_curve(model, min(cfg.fixed_length, positions or cfg.fixed_length)) if flops else []  # int8: same
    parameters = sum(p.numel() for p in model.parameters())
    model.to(device)
    qrecord = None
    if spec.quantize:
        model, qrecord = quantize.quantize_int8(model, cfg.quantization, device)

    def forward(batch) -> None:
        model(input_ids=batch[0], attention_mask=batch[1])

    def batch(rows, pad_id):
        return tuple(t.to(device) for t in pad_batch(rows, pad_id))

    def logits(ids, pad_id):
        return evaluate.predict_logits(model, ids, pad_id, device=device)

    return LoadedVariant(forward, batch, logits, tokenizer, models.label_order(model, spec.labels), curve, parameters,
                         students.weight_bytes(model), quantize.int8_elements(model), positions,
                         qrecord.to_dict() if qrecord else None)


def _load_onnx(spec: VariantSpec, cfg: BenchConfig) -> LoadedVariant:
    """The variant's ONNX file (made beforehand by onnx_export.export_classifier) in an ONNX Runtime CPU session."""
    import numpy as np

    from distill_core.core.errors import DistillLabError
    from distill_core.models import loading as models
    from distill_core.models import onnx_export
    from distill_core.tasks.classification.data import pad_batch, sorted_batches

    record = onnx_export.read_export(spec.ref)
    if record is None:
        raise DistillLabError(f"no ONNX files of {spec.ref} (their export failed or the model changed since)",
                              "runtimes")
    path = onnx_export.onnx_dir(spec.ref) / (onnx_export.INT8_FILE if spec.quantize else onnx_export.FP32_FILE)
    threads = timing_threads(cfg.threads)
    session = onnx_export.ort_session(path, threads)
    tokenizer = models.load_tokenizer(spec.ref, spec.trust_remote_code)
    config = models.load_config(spec.ref, spec.trust_remote_code)
    order = ([record.labels.index(name) for name in spec.labels] if all(n in record.labels for n in spec.labels)
             else list(range(len(spec.labels))))

    def forward(batch) -> None:
        session.run(["logits"], batch)

    def batch(rows, pad_id):
        ids, mask = pad_batch(rows, pad_id)
        return {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}

    def logits(ids, pad_id):
        out = np.zeros((len(ids), len(record.labels)), dtype=np.float32)
        for index in sorted_batches([len(x) for x in ids], 64):
            out[index] = session.run(["logits"], batch([ids[i] for i in index], pad_id))[0]
        return torch.from_numpy(out)

    quantization = None
    if spec.quantize:
        quantization = {"method": record.int8_method, "library": "onnxruntime",
                        "library_version": record.onnxruntime_version, "quantized_layers": record.int8_layers,
                        "int8_elements": record.int8_elements, "fp32_weight_bytes": record.fp32_bytes,
                        "weight_bytes": record.int8_bytes, "seconds": record.quantize_seconds, "requested": "auto",
                        "note": "int8 weights for MatMul/Gemm and the embedding lookups; activations per batch"}
    return LoadedVariant(forward, batch, logits, tokenizer, order, list(record.extra["flops_curve"]),
                         record.parameters, path.stat().st_size, record.int8_elements if spec.quantize else 0,
                         getattr(config, "max_position_embeddings", None), quantization, threads)


class VariantSession:
    """A loaded variant: `report` (name, size, memory, quantization, machine, logits...) and `sample(key)` (ms)."""

    timing_fields = ("passes",)  # passes per sample by key, from the process that times (rounds.py)

    def __init__(self, spec: VariantSpec, cfg: BenchConfig, texts: list[str], sample: list[int],
                 peak_gflops: float | None = None, timing_only: bool = False):
        from distill_core.measure import machine
        from distill_core.tasks.classification.data import encode

        self.cfg, self.peak_gflops = cfg, peak_gflops
        onnx = spec.runtime == "onnxruntime"
        self.device = device = "cpu" if onnx else resolve_device(cfg.device, "bench.device")
        import_model_code(spec)
        sampler = None if timing_only else RssSampler(cfg.memory_interval_ms).start()  # memory: its own process
        started = time.perf_counter()
        self.loaded = loaded = _load_onnx(spec, cfg) if onnx else _load_torch(spec, cfg, device, not timing_only)
        load_seconds = time.perf_counter() - started
        self.curve = loaded.curve
        fixed_length = min(cfg.fixed_length, loaded.positions or cfg.fixed_length)

        tokenizer = loaded.tokenizer
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        sample_ids = encode(tokenizer, [texts[i] for i in sample], spec.max_length)
        self.cycles: dict[str, tuple[str, int, list]] = {}  # key -> (setting, batch size, [batch])
        self.shapes: dict[str, list[tuple[int, float]]] = {}  # key -> [(padded length, real tokens per input)]
        for setting in SETTINGS:
            if setting not in cfg.settings:
                continue
            for batch_size in cfg.batch_sizes:
                limit = max(1, min(cfg.cycle_batches, cfg.cycle_inputs // batch_size))
                rows = ([fixed_batch(sample_ids, batch_size, fixed_length)] if setting == "fixed"
                        else cycle_of(real_batches(sample_ids, batch_size), limit))
                key = setting_key(setting, batch_size)
                self.cycles[key] = (setting, batch_size, [loaded.batch(r, pad_id) for r in rows])
                self.shapes[key] = [(max(len(x) for x in r), float(np.mean([len(x) for x in r]))) for r in rows]
        self.keys = list(self.cycles)
        self.timer = PassTimer(device)
        self.reps: dict[str, int] = {}  # cycles per sample by key, set by `warm`
        self._quality = (spec, texts, pad_id) if spec.quality else None
        if timing_only:
            self.report = {"name": spec.name, "passes": {}}
            return
        timer_ms = {}
        with torch.inference_mode():
            for key, (setting, _, batches) in self.cycles.items():  # the longest batch: the memory peak
                lengths = [shape[0] for shape in self.shapes[key]]
                loaded.forward(batches[int(np.argmax(lengths))])
                if cfg.reference_timer and setting == "fixed":
                    timer_ms[key] = reference_timer_ms(lambda b=batches[0]: loaded.forward(b),
                                                       timing_threads(cfg.threads), 1.0)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        sampler.stop()
        memory = MemoryRecord(**sampler.record(device))
        size = SizeRecord(parameters=loaded.parameters, weight_bytes=loaded.weight_bytes,
                          int8_elements=loaded.int8_elements,
                          flops_per_input_fixed=int(round(flops_at(self.curve, fixed_length))),
                          flops_per_input_real=float(np.mean([flops_at(self.curve, len(x)) for x in sample_ids])),
                          fixed_length=fixed_length, flops_curve=self.curve)
        self.report = {"name": spec.name, "ref": spec.ref, "runtime": spec.runtime, "device": device,
                       "threads": loaded.threads or torch.get_num_threads(), "load_seconds": load_seconds,
                       "quantization": loaded.quantization, "memory": memory.to_dict(), "size": size.to_dict(),
                       "machine": machine.machine_record(device).to_dict(), "logits": None,
                       "cycles": {key: self.cycle_record(key) for key in self.keys}, "passes": {},
                       "timer_ms": timer_ms}

    def warm(self, key: str) -> float:
        """Before the rounds, in the process that times: `warmup_iterations` untimed passes of `key`'s cycle, then one
        timed pass over it; sets `reps` so a sample lasts about `sample_ms` and the report's passes per sample.
        Returns ms per forward pass of the timed cycle."""
        batches = self.cycles[key][2]
        with torch.inference_mode():
            for i in range(self.cfg.warmup_iterations):
                self.loaded.forward(batches[i % len(batches)])
            pass_ms = self._cycle_ms(batches, 1)
        self.reps[key] = max(1, math.ceil(self.cfg.sample_ms / max(pass_ms * len(batches), 1e-3)))
        self.report["passes"][key] = self.reps[key] * len(batches)
        return pass_ms

    def finish(self) -> dict:
        """{"logits": test-split logits (as lists) or None}: after the timing, with all threads."""
        if self._quality is None:
            return {"logits": None}
        spec, texts, pad_id = self._quality
        return {"logits": _test_logits(spec, self.loaded, texts, pad_id)}

    def _cycle_ms(self, batches: list, reps: int) -> float:
        """Mean ms per pass over `reps` passes of the whole cycle."""
        total = 0.0
        for _ in range(reps):
            for b in batches:
                total += self.timer.time(lambda b=b: self.loaded.forward(b))
        return total / (reps * len(batches))

    def cycle_record(self, key: str) -> dict:
        """What a sample of `key` covers: mean padded and real tokens per input, FLOPs per input (its passes: the
        report's "passes", known after `warm`)."""
        setting, batch_size, _ = self.cycles[key]
        shapes = self.shapes[key]
        return {"setting": setting, "batch_size": batch_size,
                "padded_tokens": float(np.mean([padded for padded, _ in shapes])),
                "real_tokens": float(np.mean([real for _, real in shapes])),
                "flops_per_input": float(np.mean([flops_at(self.curve, padded) for padded, _ in shapes]))}

    def sample(self, key: str) -> float:
        """One timing sample of setting `key` (ms per forward pass): the cycle passed `reps` times, each batch's
        median over its `reps` passes, averaged over the cycle's batches. The median drops the odd pass the host
        interrupted (a 2.6 ms pass that read 12 ms) and the first pass after another model ran, on cold caches;
        with one or two reps it is their mean."""
        if key not in self.reps:
            self.warm(key)
        batches = self.cycles[key][2]
        times = [[0.0] * self.reps[key] for _ in batches]
        with torch.inference_mode():
            for rep in range(self.reps[key]):
                for i, b in enumerate(batches):
                    times[i][rep] = self.timer.time(lambda b=b: self.loaded.forward(b))
        return float(np.mean([np.median(t) for t in times]))


def _test_logits(spec: VariantSpec, loaded: LoadedVariant, texts, pad_id) -> list | None:
    """The variant's logits on the test split (splits' label order), as lists; from the teacher-output cache when
    `spec.teacher_cache_key` is there, and stored there after computing."""
    from distill_core.tasks.classification import teacher_cache
    from distill_core.tasks.classification.data import encode

    if spec.teacher_cache_key:
        cached = teacher_cache.load(spec.teacher_cache_key, len(texts), [])
        if cached is not None:
            return cached.logits[:, loaded.order].tolist()
    logits = loaded.logits(encode(loaded.tokenizer, texts, spec.max_length), pad_id)  # the model's label order
    if spec.teacher_cache_key:
        teacher_cache.store(spec.teacher_cache_key, teacher_cache.TeacherOutputs(logits.float(), {}, hit=False))
    return logits[:, loaded.order].tolist()


def open_session(spec: dict, cfg: dict, texts: list[str], sample: list[int], peak_gflops) -> VariantSession:
    """rounds.time_interleaved's setup, in the measuring process."""
    return VariantSession(VariantSpec(**spec), BenchConfig.from_dict(cfg), texts, sample, peak_gflops)


def open_timing_session(spec: dict, cfg: dict, texts: list[str], sample: list[int], peak_gflops) -> VariantSession:
    """The same variant in rounds.time_interleaved's timing process: timing only (VariantSession's timing_only)."""
    return VariantSession(VariantSpec(**spec), BenchConfig.from_dict(cfg), texts, sample, peak_gflops, True)
