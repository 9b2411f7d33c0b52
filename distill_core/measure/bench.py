"""Measure every variant of a run on one harness: latency, throughput, memory, size, FLOPs and quality.

Implements DESIGN.md's measurement contract. Each variant (teacher, teacher-int8, student, student-int8, control) is
measured in a freshly spawned process: threads set first, the fp32 folder loaded (and quantized there for the int8
variants), one pass over the longest batch of every setting plus warm-up, then each setting timed until at least
`min_iterations` passes and `min_seconds` seconds, over whole passes of its batches. A variant that fails returns an
error entry; the others are still measured. Results go to `<run_dir>/bench.json`.

Settings: "real" draws a fixed, seeded sample of the test split (the same for every variant) at its real token
lengths; batches group the sample by length, as `evaluate.predict_logits` does, so each batch pays the padding that
batched inference here really pays. "fixed" repeats real tokens to exactly `fixed_length` tokens per input.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue as queue_mod
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from distill_core.core.atomic import write_json
from distill_core.core.progress import ProgressEvent
from distill_core.core.errors import DistillLabError
from distill_core.core.run_files import read_json

VARIANTS = ("teacher", "teacher-int8", "student", "student-int8", "control")
SETTINGS = ("real", "fixed")


@dataclass
class BenchConfig:
    """How to measure. Defaults keep the five variants of the reviews preset under 2 minutes on a 2-core CPU."""

    batch_sizes: list[int] = field(default_factory=lambda: [1, 32])  # batch 1 for latency; the largest: throughput
    fixed_length: int = 128  # tokens per input in the "fixed" setting (capped by the model's positions)
    sample_size: int = 128  # test inputs in the seeded "real" sample, the same for every variant
    warmup_iterations: int = 2  # untimed passes per setting, after one pass over its longest batch
    min_iterations: int = 10  # timed forward passes per setting, at least
    min_seconds: float = 1.0  # timed seconds per setting, at least
    max_seconds: float = 15.0  # stop a setting after this many seconds even short of the two minimums
    threads: int = 0  # torch intra-op threads in each measuring process (0: all cores)
    device: str = "auto"  # auto | cpu | cuda
    quantization: str = "auto"  # int8 method: auto | one of quantize.METHODS
    quality: bool = True  # evaluate every variant on the whole test split
    memory_interval_ms: float = 5.0  # psutil RSS sampling period while loading and warming up
    variant_timeout_s: float = 600.0  # a measuring process still busy after this is stopped (error entry)
    reference_timer: bool = False  # also time the fixed setting with torch.utils.benchmark.Timer (a cross-check)
    matmul_size: int = 2048  # n of the n x n x n fp32 matmul that measures the machine's peak (cached per machine)
    seed: int = 0  # draws the "real" sample

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "BenchConfig":
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


# ---------------------------------------------------------------------------------------------------------------
# Statistics


def percentile(samples, q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between closest ranks (numpy's default)."""
    if len(samples) == 0:
        raise ValueError("no samples")
    return float(np.percentile(np.asarray(samples, dtype=float), q))


def relative_spread(samples) -> float:
    """(p90 - p10) / p50: the width of the middle 80% of samples as a fraction of the median."""
    p50 = percentile(samples, 50)
    return (percentile(samples, 90) - percentile(samples, 10)) / p50 if p50 else float("inf")


def time_stats(samples_ms) -> dict:
    """The TimingStats fields of timed passes: their count, p50/p90/p99/mean/min (ms) and relative spread."""
    return dict(iterations=len(samples_ms), p50_ms=percentile(samples_ms, 50), p90_ms=percentile(samples_ms, 90),
                p99_ms=percentile(samples_ms, 99), mean_ms=float(np.mean(samples_ms)),
                min_ms=float(np.min(samples_ms)), spread=relative_spread(samples_ms))


# ---------------------------------------------------------------------------------------------------------------
# Result records


@dataclass
class TimingStats:
    """What every timing record holds (time_stats): timed passes and their distribution in ms."""

    iterations: int  # timed passes
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    spread: float  # (p90 - p10) / p50


@dataclass
class LatencyRecord(TimingStats):
    """One setting (input kind x batch size) of one variant. Times are per forward pass of the whole batch."""

    setting: str  # "real" | "fixed"
    batch_size: int
    seconds: float  # sum of the timed passes (s)
    padded_tokens: float  # mean tokens per input as computed (padding included)
    throughput: float  # inputs per second: batch * iterations / seconds
    tokens_per_s: float  # real (unpadded) tokens per second
    flops_per_input: float  # forward FLOPs per input at the padded length (int8: the fp32 model's count)
    gflops_per_s: float  # achieved: FLOPs executed / seconds / 1e9
    peak_fraction: float | None = None  # gflops_per_s / this machine's fp32 matmul peak
    timer_p50_ms: float | None = None  # torch.utils.benchmark.Timer median on the same input (fixed setting)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LatencyRecord":
        return cls(**data)

    @classmethod
    def from_samples(cls, setting: str, batch_size: int, samples_ms: list[float], padded_tokens: float,
                     real_tokens: float, flops_per_input: float, peak_gflops: float | None = None,
                     timer_p50_ms: float | None = None) -> "LatencyRecord":
        """`real_tokens` and `padded_tokens` are means per input over the timed passes."""
        seconds = sum(samples_ms) / 1e3
        inputs = batch_size * len(samples_ms)
        gflops = flops_per_input * inputs / seconds / 1e9 if seconds else 0.0
        return cls(setting=setting, batch_size=batch_size, seconds=seconds,
                   **time_stats(samples_ms), padded_tokens=padded_tokens, throughput=inputs / seconds if seconds else 0.0,
                   tokens_per_s=real_tokens * inputs / seconds if seconds else 0.0,
                   flops_per_input=flops_per_input, gflops_per_s=gflops,
                   peak_fraction=gflops / peak_gflops if peak_gflops else None, timer_p50_ms=timer_p50_ms)


@dataclass
class MemoryRecord:
    """Resident memory of the measuring process while loading and running the variant (bytes)."""

    baseline_rss_bytes: int  # before loading (torch and transformers already imported)
    peak_rss_bytes: int  # highest seen while loading, quantizing, warming up and timing
    delta_rss_bytes: int  # peak - baseline: what the variant costs
    samples: int  # psutil samples taken (the kernel's max RSS also counts, for spikes between samples)
    cuda_peak_allocated_bytes: int | None = None  # torch.cuda.max_memory_allocated, on GPU

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "MemoryRecord":
        return cls(**data)


@dataclass
class SizeRecord:
    """What the variant is: its parameters, weight bytes and forward FLOPs."""

    parameters: int  # of the fp32 model (quantizing changes the storage, not the count)
    weight_bytes: int  # state-dict payload as measured: int8 data + scales for int8 variants (students.weight_bytes)
    int8_elements: int  # int8 numbers among the weights (0 for fp32)
    flops_per_input_fixed: int  # forward FLOPs for one input of `fixed_length` tokens
    flops_per_input_real: float  # the same at each sample input's real length, averaged
    fixed_length: int
    flops_curve: list[float]  # FLOPs(L) = c0 + c1 L + c2 L^2, fitted exactly to counts at three lengths

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SizeRecord":
        return cls(**data)


@dataclass
class VariantResult:
    """Everything measured for one variant, or why it could not be measured."""

    name: str
    ref: str  # the fp32 model folder or reference it was loaded from
    status: str  # "ok" | "error"
    error: str | None = None
    device: str | None = None
    threads: int | None = None  # torch intra-op threads in the measuring process
    load_seconds: float | None = None  # load (+ quantize) wall time (s)
    wall_seconds: float | None = None  # the whole measuring process, spawn to result (s)
    quantization: dict | None = None  # quantize.QuantizationRecord, for int8 variants
    latency: list[LatencyRecord] = field(default_factory=list)
    memory: MemoryRecord | None = None
    size: SizeRecord | None = None
    quality: dict | None = None  # evaluate.quality_report + retention, on the test split
    machine: dict | None = None  # machine.MachineRecord of the measuring process

    def to_dict(self) -> dict:
        data = asdict(self)
        data["latency"] = [r.to_dict() for r in self.latency]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "VariantResult":
        data = dict(data)
        data["latency"] = [LatencyRecord.from_dict(r) for r in data.get("latency") or []]
        data["memory"] = MemoryRecord.from_dict(data["memory"]) if data.get("memory") else None
        data["size"] = SizeRecord.from_dict(data["size"]) if data.get("size") else None
        return cls(**{f.name: data.get(f.name) for f in fields(cls) if f.name in data})

    def find(self, setting: str, batch_size: int) -> LatencyRecord | None:
        return next((r for r in self.latency if r.setting == setting and r.batch_size == batch_size), None)


@dataclass
class BenchResult:
    """One measurement of a run's variants: the contents of `<run_dir>/bench.json`."""

    run_dir: str
    created: str  # local time, ISO format
    wall_seconds: float  # the whole measurement (s)
    config: BenchConfig
    machine: dict | None  # machine.MachineRecord of the first measuring process that ran
    matmul_peak: dict | None  # machine.matmul_peak()
    run_config: dict | None  # the run's config.json
    variants: dict[str, VariantResult]
    quality: dict | None = None  # {"metric", "split", "distillation_gain"}

    def to_dict(self) -> dict:
        data = asdict(self)
        data["config"] = self.config.to_dict()
        data["variants"] = {name: v.to_dict() for name, v in self.variants.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "BenchResult":
        data = dict(data)
        data["config"] = BenchConfig.from_dict(data["config"])
        data["variants"] = {name: VariantResult.from_dict(v) for name, v in data["variants"].items()}
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


# ---------------------------------------------------------------------------------------------------------------
# Inside the measuring process


@dataclass
class VariantSpec:
    """What one measuring process loads."""

    name: str
    ref: str  # fp32 model folder, preset key or hub id
    labels: list[str]
    quantize: bool  # make it int8 after loading
    max_length: int  # truncation of the real texts (the run's max_length)
    trust_remote_code: bool = False


class RssSampler:
    """Peak resident memory (bytes) of this process, sampled by a thread every `interval_ms`."""

    def __init__(self, interval_ms: float):
        import psutil

        self._proc = psutil.Process()
        self._interval = interval_ms / 1e3
        self._stop = threading.Event()
        self.baseline = self._proc.memory_info().rss  # at construction: before the model loads
        self.peak = self.baseline
        self.samples = 1
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def sample(self) -> None:
        self.peak = max(self.peak, self._proc.memory_info().rss)
        self.samples += 1

    def start(self) -> "RssSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def kernel_peak_rss() -> int | None:
    """The kernel's record of this process's highest RSS so far (bytes), where the platform keeps one."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if os.uname().sysname == "Darwin" else peak * 1024  # Linux reports kB, macOS bytes


def flops_curve(model, max_length: int) -> list[float]:
    """[c0, c1, c2] with FLOPs(L) = c0 + c1 L + c2 L^2 for one input of L tokens: exact for a transformer (linear
    layers grow with L, attention with L^2, the head is constant), solved from torch's counts at three lengths."""
    from distill_core.models.students import count_flops

    lengths = sorted({max(3, max_length // 4), max(4, max_length // 2), max(5, max_length)})
    while len(lengths) < 3:
        lengths.append(lengths[-1] + 1)
    counts = [count_flops(model, length) for length in lengths]
    coeffs = np.linalg.solve(np.vander(np.array(lengths, dtype=float), 3, increasing=True), np.array(counts, float))
    return [float(c) for c in coeffs]


def flops_at(curve: list[float], length: float) -> float:
    return curve[0] + curve[1] * length + curve[2] * length * length


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


class PassTimer:
    """Wall time of one forward pass (ms): perf_counter on CPU, CUDA events (then synchronize) on GPU."""

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")

    def time(self, fn) -> float:
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))
        start_ns = time.perf_counter_ns()
        fn()
        return (time.perf_counter_ns() - start_ns) / 1e6


def timed_passes(forwards: list, timer: PassTimer, cfg: BenchConfig) -> list[float]:
    """Latencies (ms) of passes cycling over `forwards`, until >= min_iterations and >= min_seconds and a whole
    number of cycles, or max_seconds."""
    samples: list[float] = []
    started = time.perf_counter()
    while True:
        samples.append(timer.time(forwards[len(samples) % len(forwards)]))
        elapsed = time.perf_counter() - started
        if elapsed >= cfg.max_seconds:
            return samples
        if len(samples) >= cfg.min_iterations and elapsed >= cfg.min_seconds and len(samples) % len(forwards) == 0:
            return samples


def _reference_timer_ms(forward, threads: int, min_seconds: float) -> float:
    """torch.utils.benchmark.Timer's median (ms) of the same forward pass, same threads."""
    from torch.utils import benchmark

    measurement = benchmark.Timer(stmt="forward()", globals={"forward": forward},
                                  num_threads=threads).blocked_autorange(min_run_time=min_seconds)
    return measurement.median * 1e3


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DistillLabError("'cuda' was asked for but no CUDA GPU is visible; allowed here: auto | cpu",
                              "bench.device")
    return device


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


def measure_variant(spec: VariantSpec, cfg: BenchConfig, texts: list[str], sample: list[int],
                    peak_gflops: float | None = None) -> tuple[VariantResult, list | None]:
    """Measure one variant in this process: (result, test-split logits (examples, classes) as lists or None).

    Call it in a fresh process after setting threads; the memory figures are this process's."""
    from distill_core.tasks.classification import evaluate
    from distill_core.measure import machine
    from distill_core.models import loading as models
    from distill_core.models import quantize
    from distill_core.models import students
    from distill_core.tasks.classification.data import encode, pad_batch

    device = resolve_device(cfg.device)
    threads = torch.get_num_threads()
    import_model_code(spec)
    kernel_peak_before = kernel_peak_rss()
    sampler = RssSampler(cfg.memory_interval_ms).start()
    started = time.perf_counter()
    model = models.load_classifier(spec.ref, spec.labels, spec.trust_remote_code)
    tokenizer = models.load_tokenizer(spec.ref, spec.trust_remote_code)
    order = models.label_order(model, spec.labels)
    load_seconds = time.perf_counter() - started
    positions = getattr(model.config, "max_position_embeddings", None) or cfg.fixed_length
    fixed_length = min(cfg.fixed_length, positions)
    curve = flops_curve(model, fixed_length)  # on the fp32 model: int8 does the same multiply-adds
    parameters = sum(p.numel() for p in model.parameters())
    started = time.perf_counter()
    model.to(device)
    qrecord = None
    if spec.quantize:
        model, qrecord = quantize.quantize_int8(model, cfg.quantization, device)
    load_seconds += time.perf_counter() - started

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    sample_ids = encode(tokenizer, [texts[i] for i in sample], spec.max_length)
    settings = []  # (setting, batch size, [(input_ids, mask)])
    for batch_size in cfg.batch_sizes:
        batches = [pad_batch(rows, pad_id) for rows in real_batches(sample_ids, batch_size)]
        settings.append(("real", batch_size, batches))
        settings.append(("fixed", batch_size, [pad_batch(fixed_batch(sample_ids, batch_size, fixed_length), pad_id)]))
    settings.sort(key=lambda s: (SETTINGS.index(s[0]), s[1]))

    def forward_of(input_ids, mask):
        input_ids, mask = input_ids.to(device), mask.to(device)
        return lambda: model(input_ids=input_ids, attention_mask=mask)

    timer = PassTimer(device)
    latency = []
    with torch.inference_mode():
        for _, _, batches in settings:  # the longest batch first: the memory peak of running
            longest = max(batches, key=lambda b: b[0].numel())
            forward_of(*longest)()
            for i in range(cfg.warmup_iterations):
                forward_of(*batches[i % len(batches)])()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        sampler.stop()
        for setting, batch_size, batches in settings:
            forwards = [forward_of(*b) for b in batches]
            samples = timed_passes(forwards, timer, cfg)
            used = [batches[i % len(batches)] for i in range(len(samples))]
            padded = float(np.mean([b[0].shape[1] for b in used]))
            real = float(np.mean([float(b[1].sum()) / b[1].shape[0] for b in used]))
            flops = float(np.mean([flops_at(curve, b[0].shape[1]) for b in used]))
            timer_ms = None
            if cfg.reference_timer and setting == "fixed":
                timer_ms = _reference_timer_ms(forwards[0], threads, cfg.min_seconds)
            latency.append(LatencyRecord.from_samples(setting, batch_size, samples, padded, real, flops,
                                                      peak_gflops, timer_ms))
    kernel_peak = kernel_peak_rss()
    peak = sampler.peak
    if kernel_peak is not None and kernel_peak_before is not None and kernel_peak > kernel_peak_before:
        peak = max(peak, kernel_peak)  # a spike between samples, after the baseline was taken
    memory = MemoryRecord(baseline_rss_bytes=sampler.baseline, peak_rss_bytes=peak,
                          delta_rss_bytes=peak - sampler.baseline, samples=sampler.samples,
                          cuda_peak_allocated_bytes=(torch.cuda.max_memory_allocated()
                                                     if device.startswith("cuda") else None))
    size = SizeRecord(parameters=parameters, weight_bytes=students.weight_bytes(model),
                      int8_elements=quantize.int8_elements(model),
                      flops_per_input_fixed=int(round(flops_at(curve, fixed_length))),
                      flops_per_input_real=float(np.mean([flops_at(curve, len(x)) for x in sample_ids])),
                      fixed_length=fixed_length, flops_curve=curve)
    logits = None
    if cfg.quality:
        test_ids = encode(tokenizer, texts, spec.max_length)
        logits = evaluate.predict_logits(model, test_ids, pad_id, device=device)[:, order].tolist()
    result = VariantResult(name=spec.name, ref=spec.ref, status="ok", device=device, threads=threads,
                           load_seconds=load_seconds, quantization=qrecord.to_dict() if qrecord else None,
                           latency=latency, memory=memory, size=size,
                           machine=machine.machine_record(device).to_dict())
    return result, logits


def _child_main(spec: dict, cfg: dict, texts: list[str], sample: list[int], peak_gflops) -> dict:
    """What a spawned measuring process returns for one classification variant."""
    result, logits = measure_variant(VariantSpec(**spec), BenchConfig.from_dict(cfg), texts, sample, peak_gflops)
    return {"result": result.to_dict(), "logits": logits}


def _child_entry(target, args: tuple, threads: int, out) -> None:
    """Entry of a spawned measuring process: threads first, then `target(*args)`; always answers on `out`."""
    torch.set_num_threads(threads or os.cpu_count() or 1)
    try:
        out.put(target(*args))
    except DistillLabError as exc:
        out.put({"error": str(exc)})
    except BaseException as exc:  # anything else still becomes an entry the user can read
        out.put({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"})


def run_in_fresh_process(target, args: tuple, threads: int, timeout_s: float, name: str) -> tuple[dict, float]:
    """(payload, wall seconds) of `target(*args)` run in a freshly spawned process with `threads` torch threads
    (0: all cores). `target` is a module-level function returning a picklable dict; a failure (exception, crash,
    timeout) becomes {"error": reason}."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    started = time.perf_counter()
    proc = ctx.Process(target=_child_entry, args=(target, args, threads, out), name=name, daemon=True)
    proc.start()
    payload = None
    while payload is None:
        try:
            payload = out.get(timeout=0.5)
        except queue_mod.Empty:
            if not proc.is_alive():
                try:
                    payload = out.get(timeout=2)
                except queue_mod.Empty:
                    payload = {"error": f"the measuring process died (exit code {proc.exitcode}); "
                                        "out of memory is the usual cause"}
            elif time.perf_counter() - started > timeout_s:
                proc.terminate()
                payload = {"error": f"stopped after {timeout_s:.0f} s (bench.variant_timeout_s)"}
    proc.join(timeout=30)
    if proc.is_alive():
        proc.kill()
    return payload, time.perf_counter() - started


def measure_in_fresh_process(spec: VariantSpec, cfg: BenchConfig, texts: list[str], sample: list[int],
                             peak_gflops: float | None = None) -> tuple[VariantResult, list | None]:
    """Measure one variant in a freshly spawned process; a failure (load error, crash, timeout) becomes an error
    entry. Returns (result, test logits or None)."""
    payload, wall = run_in_fresh_process(_child_main, (asdict(spec), cfg.to_dict(), texts, sample, peak_gflops),
                                         cfg.threads, cfg.variant_timeout_s, f"distill-lab-bench-{spec.name}")
    if "error" in payload:
        return VariantResult(name=spec.name, ref=spec.ref, status="error", error=payload["error"],
                             wall_seconds=wall), None
    result = VariantResult.from_dict(payload["result"])
    result.wall_seconds = wall
    return result, payload["logits"]


# ---------------------------------------------------------------------------------------------------------------
# A whole run


def variant_specs(run_dir: Path, results: dict, run_config: dict) -> list[VariantSpec]:
    """The five variants of a finished run: the prepared teacher and the run's student/ and control/ folders."""
    labels = list(results["label_names"])
    teacher = run_config.get("teacher", {})
    trust = bool(teacher.get("trust_remote_code", False))
    max_length = int(run_config.get("max_length", 128))
    teacher_ref = results["teacher"]["model_ref"]
    folders = {"teacher": teacher_ref, "teacher-int8": teacher_ref, "student": str(run_dir / "student"),
               "student-int8": str(run_dir / "student"), "control": str(run_dir / "control")}
    return [VariantSpec(name, folders[name], labels, name.endswith("-int8"), max_length,
                        trust if name.startswith("teacher") else False) for name in VARIANTS]


def read_run(run_dir: Path) -> tuple[dict, dict]:
    """(results.json, config.json) of a finished run, or a DistillLabError saying what is missing."""
    return read_json(run_dir, "results.json"), read_json(run_dir, "config.json")


def sample_indices(size: int, examples: int, seed: int) -> list[int]:
    """Indices of the seeded "real" sample: `size` distinct test inputs (all of them when fewer)."""
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(examples, size=min(size, examples), replace=False))


def measure_variants(specs: list[VariantSpec], cfg: BenchConfig, texts: list[str], labels: list[int] | None,
                     on_progress=None, peak: dict | None = None, reference_metric: float | None = None,
                     should_stop=None):
    """Measure each spec in its own spawned process, one after another; add quality when `labels` are given.
    Returns ({name: VariantResult}, quality summary or None). Raises RunCancelled when `should_stop()` says so
    (checked between variants)."""
    from distill_core.core.errors import RunCancelled

    emit = on_progress or (lambda event: None)
    sample = sample_indices(cfg.sample_size, len(texts), cfg.seed)
    peak_gflops = peak["gflops_per_s"] if peak else None
    results, logits = {}, {}
    for i, spec in enumerate(specs):
        if should_stop and should_stop():
            raise RunCancelled(f"cancelled while measuring (before {spec.name}); bench.json was not written")
        emit(ProgressEvent("bench", i, len(specs), i / len(specs), message=f"measuring {spec.name}"))
        results[spec.name], variant_logits = measure_in_fresh_process(spec, cfg, texts, sample, peak_gflops)
        if variant_logits is not None:
            logits[spec.name] = torch.tensor(variant_logits)
    emit(ProgressEvent("bench", len(specs), len(specs), 1.0, message="measured"))
    summary = None
    if cfg.quality and labels is not None and logits:
        from distill_core.tasks.classification import evaluate

        table = evaluate.quality_table(logits, torch.as_tensor(labels), reference_metric=reference_metric)
        for name, report in table["variants"].items():
            results[name].quality = report
        summary = {"split": "test", "metric": table["metric"], "distillation_gain": table["distillation_gain"]}
    return results, summary


def measure_run(run_dir: str | Path, cfg: BenchConfig | None = None, variants: list[str] | None = None,
                on_progress=None, should_stop=None, write: bool = True) -> dict:
    """Measure the variants of a finished run and write `<run_dir>/bench.json` (atomically); returns its dict.

    Meant for `distill-lab bench` and for the end of a run: the runner passes its progress callback (phase "bench")
    and its `should_stop`, after results.json is written."""
    from distill_core.core import config as config_mod
    from distill_core.measure import machine
    from distill_core.tasks.classification.data import load_splits

    from distill_core.models.quantize import METHODS

    cfg = cfg or BenchConfig()
    unknown = sorted(set(variants or []) - set(VARIANTS))
    if unknown:
        raise DistillLabError(f"unknown variant {unknown[0]!r}; allowed: {', '.join(VARIANTS)}", "variants")
    if cfg.quantization != "auto" and cfg.quantization not in METHODS:
        raise DistillLabError(f"unknown method {cfg.quantization!r}; allowed: auto, {', '.join(METHODS)}",
                              "quantization")
    run_dir = Path(run_dir)
    results, run_config = read_run(run_dir)
    if run_config.get("task") == "causal-lm":
        from distill_core.tasks.causal_lm import bench as lm_bench

        lm_cfg = lm_bench.LMBenchConfig(threads=cfg.threads, device=cfg.device, quantization=cfg.quantization,
                                        quality=cfg.quality, min_seconds=cfg.min_seconds,
                                        variant_timeout_s=cfg.variant_timeout_s, matmul_size=cfg.matmul_size)
        return lm_bench.measure_lm_run(run_dir, lm_cfg, variants, on_progress, should_stop, write)
    specs = [s for s in variant_specs(run_dir, results, run_config) if variants is None or s.name in variants]
    started = time.perf_counter()
    emit = on_progress or (lambda event: None)
    emit(ProgressEvent("bench", 0, len(specs), 0.0, message="loading the test split"))
    run_cfg = config_mod.from_dict(run_config)
    test = load_splits(run_cfg.data, run_cfg.seed).test
    device = resolve_device(cfg.device)
    emit(ProgressEvent("bench", 0, len(specs), 0.0, message="this machine's matmul peak (cached after once)"))
    peak = machine.matmul_peak(device, cfg.threads or os.cpu_count() or 1, n=cfg.matmul_size)
    teacher_accuracy = (results.get("quality", {}).get("variants", {}).get("teacher") or {}).get("accuracy")
    measured, quality = measure_variants(specs, cfg, test.texts, test.labels, on_progress, peak, teacher_accuracy,
                                         should_stop)
    first_ok = next((v for v in measured.values() if v.machine), None)
    bench = BenchResult(run_dir=str(run_dir), created=time.strftime("%Y-%m-%dT%H:%M:%S"),
                        wall_seconds=time.perf_counter() - started, config=cfg,
                        machine=first_ok.machine if first_ok else machine.machine_record(device).to_dict(),
                        matmul_peak=peak, run_config=run_config, variants=measured, quality=quality)
    data = bench.to_dict()
    if write:
        write_bench(run_dir, data)
    return data


def write_bench(run_dir: Path, data: dict) -> Path:
    """Write bench.json atomically (temp file, then rename)."""
    path = Path(run_dir) / "bench.json"
    write_json(path, data)
    return path


def load_bench(run_dir: str | Path) -> dict | None:
    """The run's bench.json, or None when it has not been measured (DistillLabError when it is damaged)."""
    return read_json(run_dir, "bench.json") if (Path(run_dir) / "bench.json").exists() else None


# ---------------------------------------------------------------------------------------------------------------
# Reading results


def latency_of(bench: dict, variant: str, setting: str, batch_size: int) -> dict | None:
    """The latency record (dict) of one variant / setting / batch size, or None."""
    v = bench["variants"].get(variant) or {}
    return next((r for r in v.get("latency") or [] if r["setting"] == setting and r["batch_size"] == batch_size),
                None)


def speedup(bench: dict, variant: str, setting: str = "real", batch_size: int | None = None) -> float | None:
    """Teacher p50 / variant p50 at one setting and batch size (default: the largest), or None if either is missing."""
    batch_size = batch_size or max(bench["config"]["batch_sizes"])
    teacher, other = latency_of(bench, "teacher", setting, batch_size), latency_of(bench, variant, setting, batch_size)
    return teacher["p50_ms"] / other["p50_ms"] if teacher and other and other["p50_ms"] else None


def fmt_cell(value, spec: str, width: int) -> str:
    """A right-aligned table cell; '-' for a missing (None or NaN) value."""
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    return f"{'-':>{width}}" if missing else f"{value:>{width}{spec}}"


def variant_rows(variants: dict, header: str, row) -> tuple[list[str], list[str]]:
    """Table lines: `header`, then `row(name, record)` per measured variant ("error (below)" for a failed one);
    and the failed variants' errors, to print under the table."""
    lines, errors = [header], []
    for name, v in variants.items():
        if v["status"] != "ok":
            errors.append(f"{name}: {v['error']}")
            lines.append(f"{name:<13} error (below)")
        else:
            lines.append(row(name, v))
    return lines, errors


def _quality_row(name: str, v: dict) -> str:
    q, s, m = v.get("quality") or {}, v["size"], v["memory"]
    return (f"{name:<13} {fmt_cell(q.get('accuracy'), '.4f', 8)} {fmt_cell(q.get('macro_f1'), '.4f', 8)} "
            f"{fmt_cell(q.get('retention'), '.3f', 9)} {fmt_cell(q.get('agreement'), '.3f', 9)} "
            f"{fmt_cell(q.get('kl_from_teacher'), '.4f', 8)} {s['weight_bytes'] / 1e6:>8.1f} "
            f"{s['parameters'] / 1e6:>8.2f} {s['flops_per_input_real'] / 1e9:>9.3f} "
            f"{m['delta_rss_bytes'] / 1e6:>8.0f}  {(v.get('quantization') or {}).get('method', '')}")


def format_bench_table(bench: dict) -> str:
    """bench.json as text: quality and size per variant, then latency per setting, then the machine."""
    batches = sorted(bench["config"]["batch_sizes"])
    small, large = batches[0], batches[-1]
    lines, errors = variant_rows(
        bench["variants"], f"{'variant':<13} {'accuracy':>8} {'macro-F1':>8} {'retention':>9} {'agreement':>9} "
        f"{'KL(t||v)':>8} {'size MB':>8} {'params M':>8} {'GFLOPs/in':>9} {'peak MB':>8}  int8 method", _quality_row)
    lines.append("")
    lines.append(f"{'variant':<13} {'setting':<9} {f'b{small} p50/p90/p99 ms':>22} {f'b{large} p50/p90/p99 ms':>24} "
                 f"{'spread':>6} {'inputs/s':>9} {'GFLOP/s':>8} {'%peak':>6} {'speedup':>7}")
    for setting in SETTINGS:
        for name, v in bench["variants"].items():
            if v["status"] != "ok":
                continue
            a, b = latency_of(bench, name, setting, small), latency_of(bench, name, setting, large)
            if not a or not b:
                continue
            tokens = f"{setting} {b['padded_tokens']:.0f}t" if setting == "real" else f"fixed {b['padded_tokens']:.0f}"
            ratio = speedup(bench, name, setting, large)
            lines.append(f"{name:<13} {tokens:<9} {a['p50_ms']:>8.1f}/{a['p90_ms']:.1f}/{a['p99_ms']:.1f}".ljust(46)
                         + f"{b['p50_ms']:>10.1f}/{b['p90_ms']:.1f}/{b['p99_ms']:.1f}".ljust(25)
                         + f"{b['spread']:>6.2f} {b['throughput']:>9.1f} {b['gflops_per_s']:>8.1f} "
                         f"{fmt_cell(b['peak_fraction'] * 100 if b['peak_fraction'] is not None else None, '.1f', 6)} "
                         f"{(f'{ratio:.2f}x' if ratio is not None else '-'):>7}")
    mach, peak = bench.get("machine") or {}, bench.get("matmul_peak") or {}
    gain = (bench.get("quality") or {}).get("distillation_gain")
    lines.append("")
    if gain is not None:
        lines.append(f"distillation gain (student - control accuracy): {gain * 100:+.2f} points")
    lines.append(f"latency: batch b{small} and b{large}; spread = (p90 - p10) / p50 (real lengths: it includes the "
                 f"length mix); inputs/s, GFLOP/s and speedup (teacher p50 / variant p50) at b{large}; peak MB = peak "
                 "RSS - baseline; %peak of the fp32 matmul peak (int8 variants can pass 100%)")
    lines.append(f"machine: {mach.get('cpu_model')}, threads {mach.get('threads')} of {mach.get('logical_cores')} "
                 f"cores, GPU {mach.get('gpu') or 'none'}; torch {mach.get('torch')}, transformers "
                 f"{mach.get('transformers')}, torchao {mach.get('torchao') or 'not installed'}; fp32 matmul peak "
                 f"{peak.get('gflops_per_s', float('nan')):.1f} GFLOP/s; measured in {bench['wall_seconds']:.0f} s")
    lines += [f"error: {e}" for e in errors]
    return "\n".join(lines)


def resolve_run_dir(ref: str) -> Path:
    """A run's folder from a path, a run id (the data folder's runs/<id>) or a unique id prefix the store knows."""
    from distill_core.core.home import data_home

    path = Path(ref).expanduser()
    if path.is_dir():
        return path
    candidate = data_home() / "runs" / ref
    if "/" not in ref and candidate.is_dir():
        return candidate
    try:
        from distill_core.runs import store

        return store.get_run(ref).folder
    except Exception:
        raise DistillLabError(f"{ref!r} is neither a run folder nor a run id in {data_home() / 'runs'}",
                              "run") from None
