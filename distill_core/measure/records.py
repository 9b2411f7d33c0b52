"""What a measurement records and how it is read back: the bench config, per-variant records, `<run_dir>/bench.json`
(written atomically; its "task" key names the task whose harness wrote it) and the helpers tables are built from.

Task-neutral: each task's harness (tasks/<task>/bench.py) fills these records; nothing here names a task's code.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Sequence

from distill_core.core.atomic import write_json
from distill_core.core.config import default_task
from distill_core.core.errors import DistillLabError
from distill_core.core.run_files import read_json
from distill_core.core.variants import ALL_VARIANTS, RUNTIMES, VARIANTS  # noqa: F401 (requests are checked against them)
from distill_core.measure.timing_modes import TIMING_MODES
from distill_core.measure.timing import time_stats


@dataclass
class BenchConfig:
    """How to measure. Defaults measure the five variants of the reviews preset in under a minute on a 2-core CPU."""

    batch_sizes: list[int] = field(default_factory=lambda: [1, 32])  # batch 1 for latency; the largest: throughput
    settings: list[str] = field(default_factory=lambda: ["real"])  # "real" lengths; "fixed" adds fixed_length inputs
    fixed_length: int = 128  # tokens per input in the "fixed" setting (capped by the model's positions)
    sample_size: int = 128  # test inputs in the seeded "real" sample, the same for every variant
    # A timing cycle: at most `cycle_batches` batches and `cycle_inputs` inputs (at least one batch), spread over the
    # sample's lengths. Short cycles make short rounds, and the machine's slow swings (seconds) then hit the variants
    # of one round alike; batch 32 on real lengths is one batch of 32 test inputs near the median length.
    cycle_batches: int = 4
    cycle_inputs: int = 32
    sample_ms: float = 60.0  # one timing sample lasts about this long (whole cycles, at least one)
    min_rounds: int = 10  # interleaved rounds of one sample per variant and setting, at least (measure/rounds.py);
    #                       10 samples: a 98% order-statistic interval for the median, from the 2nd to the 9th
    # Seconds of rounds, at least: the rounds go on past min_rounds while the machine is quick, so a measurement
    # takes about the same time everywhere and a quick machine gets narrower intervals (the workshop run: 11-12
    # rounds of 3.3 s, about 53 s in all on 2 cores).
    timing_seconds: float = 36.0
    max_timing_seconds: float = 45.0  # stop the rounds here even short of min_rounds
    # While a setting has too few rounds on a quiet host to leave the contended ones out (measure/contention.py),
    # time on until the rounds lasted this long in all (s; 0: no wait, the record says "measured under contention").
    quiet_wait_seconds: float = 0.0
    timing: str = "one-process"  # one-process: every variant timed in one process (mirrored order); per-variant
    warmup_iterations: int = 1  # untimed passes per setting before the pass that sizes its samples
    # Tasks that time one variant after another (measure.timing.timed_passes) use these three:
    min_iterations: int = 10  # timed forward passes per setting, at least
    min_seconds: float = 1.0  # timed seconds per setting, at least
    max_seconds: float = 15.0  # stop a setting after this many seconds even short of the two minimums
    threads: int = 0  # torch intra-op threads in each measuring process (0: core.device.timing_threads)
    device: str = "auto"  # auto | cpu | cuda
    quantization: str = "auto"  # int8 method on eager PyTorch: auto | one of quantize.METHODS
    # Runtimes every variant is measured on (core.variants.RUNTIMES): eager PyTorch, and ONNX Runtime fp32 + int8 on
    # ONNX files exported from the same folders (tasks whose harness has no ONNX path measure PyTorch only).
    runtimes: list[str] = field(default_factory=lambda: ["pytorch", "onnxruntime"])
    quality: bool = True  # every variant's quality on the test split (the run's own figures where it has them)
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


def check_request(cfg: BenchConfig, variants: list[str] | None) -> None:
    """Raise DistillLabError (field "variants", "runtimes", "quantization" or "timing") for an unknown variant,
    runtime, int8 method or timing mode, and (the field's name) for a quiet wait, rounds or timing cap out of range."""
    from distill_core.models.quantize import METHODS

    unknown = sorted(set(variants or []) - set(ALL_VARIANTS))
    if unknown:
        raise DistillLabError(f"unknown variant {unknown[0]!r}; allowed: {', '.join(ALL_VARIANTS)}", "variants")
    bad = sorted(set(cfg.runtimes) - set(RUNTIMES)) or ([] if cfg.runtimes else ["(none)"])
    if bad:
        raise DistillLabError(f"unknown runtime {bad[0]!r}; allowed: {', '.join(RUNTIMES)}", "runtimes")
    if cfg.quantization != "auto" and cfg.quantization not in METHODS:
        raise DistillLabError(f"unknown method {cfg.quantization!r}; allowed: auto, {', '.join(METHODS)}",
                              "quantization")
    if cfg.timing not in TIMING_MODES:
        raise DistillLabError(f"unknown timing {cfg.timing!r}; allowed: {', '.join(TIMING_MODES)}", "timing")
    if not 0 <= cfg.quiet_wait_seconds <= 3600:
        raise DistillLabError(f"quiet wait of {cfg.quiet_wait_seconds:g} s; allowed: 0 (no wait) to 3600 seconds",
                              "quiet_wait_seconds")
    if not 1 <= cfg.min_rounds <= 1000:
        raise DistillLabError(f"{cfg.min_rounds} timing rounds; allowed: 1 to 1000", "min_rounds")
    if not 0 < cfg.max_timing_seconds <= 3600:
        raise DistillLabError(f"a timing cap of {cfg.max_timing_seconds:g} s; allowed: more than 0, up to 3600 "
                              "seconds", "max_timing_seconds")


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
    # Interleaved rounds (measure/rounds.py): p50 is then the median of per-round samples (each the mean ms per pass
    # over a fixed cycle of batches), with its 95% interval; p90/p99/spread describe those samples.
    p50_low_ms: float | None = None
    p50_high_ms: float | None = None
    samples_ms: list[float] | None = None  # one per round, in round order
    passes_per_sample: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LatencyRecord":
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    @classmethod
    def from_rounds(cls, cycle: dict, samples_ms: list[float], peak_gflops: float | None = None,
                    timer_p50_ms: float | None = None, per_round: int = 1) -> "LatencyRecord":
        """From per-round values of one setting; `cycle` is what one sample covers (passes, tokens, FLOPs), a
        round's value the mean of `per_round` samples."""
        from distill_core.measure.stats import median_interval

        median, low, high = median_interval(samples_ms)
        batch_size, passes = cycle["batch_size"], cycle["passes"] * per_round
        seconds = sum(samples_ms) * passes / 1e3
        inputs = batch_size * passes * len(samples_ms)
        rate = inputs / seconds if seconds else 0.0
        gflops = cycle["flops_per_input"] * rate / 1e9
        stats = time_stats(samples_ms)
        stats.update(iterations=passes * len(samples_ms), p50_ms=median)
        return cls(setting=cycle["setting"], batch_size=batch_size, seconds=seconds, **stats,
                   padded_tokens=cycle["padded_tokens"], throughput=batch_size / median * 1e3 if median else 0.0,
                   tokens_per_s=cycle["real_tokens"] * rate, flops_per_input=cycle["flops_per_input"],
                   gflops_per_s=gflops, peak_fraction=gflops / peak_gflops if peak_gflops else None,
                   timer_p50_ms=timer_p50_ms, p50_low_ms=low, p50_high_ms=high, samples_ms=list(samples_ms),
                   passes_per_sample=passes)

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
    runtime: str = "pytorch"  # core.variants.RUNTIMES
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
    comparisons: list[dict] = field(default_factory=list)  # paired speed ratios (compare_pairs), interleaved only
    conditions: dict | None = None  # load averages and a speed probe before and after (was the machine steady?)
    task: str = field(default_factory=lambda: default_task())  # the task whose harness measured it (files without
    # one come from before tasks were recorded: the default task's)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["config"] = self.config.to_dict()
        data["variants"] = {name: v.to_dict() for name, v in self.variants.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "BenchResult":
        data = dict(data)
        data.setdefault("task", default_task())
        data["config"] = BenchConfig.from_dict(data["config"])
        data["variants"] = {name: VariantResult.from_dict(v) for name, v in data["variants"].items()}
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


# ---------------------------------------------------------------------------------------------------------------
# bench.json


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
    """The variant's speedup over the teacher at one setting and batch size (default: the largest): the median of
    per-round ratios where the variants were timed in rounds (comparisons.py), else teacher p50 / variant p50; None
    if either is missing."""
    from distill_core.measure import comparisons

    batch_size = batch_size or max(bench["config"]["batch_sizes"])
    record = comparisons.find(bench, "teacher", variant, setting, batch_size)
    if record:
        return record["ratio"]
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


def variant_columns(bench: dict, timing_columns: Callable[[dict], dict], int8_quality: Sequence[str]) -> dict[str, dict]:
    """Compare's measurement columns per variant of a bench.json: {"bench_error": reason} for a variant that could
    not be measured; else threads, what `timing_columns(variant record)` gives (the task's own latencies, in ms or
    per second), peak memory (MiB), weight bytes, parameters, FLOPs per input, and for int8 variants the
    `int8_quality` keys (results.json holds the fp32 variants' quality)."""
    if not isinstance(bench.get("variants"), dict):
        return {}
    out = {}
    for variant, v in bench["variants"].items():
        if not isinstance(v, dict) or v.get("status") != "ok":
            out[variant] = {"bench_error": (v or {}).get("error") if isinstance(v, dict) else "unreadable"}
            continue
        row = {"threads": (bench.get("machine") or {}).get("threads")}  # latencies only compare at equal threads
        row.update(timing_columns(v))
        if v.get("memory"):
            row["peak_memory_mib"] = v["memory"]["delta_rss_bytes"] / 2**20
        if v.get("size"):
            row["weight_bytes"] = v["size"]["weight_bytes"]
            row["parameters"] = v["size"]["parameters"]
            row["flops_per_input"] = v["size"]["flops_per_input_real"]
        if variant.endswith("-int8"):
            row.update({key: (v.get("quality") or {}).get(key) for key in int8_quality})
        out[variant] = row
    return out
