"""Measure every variant of a causal-LM run: prefill latency, decode speed, memory, size and held-out quality.

The classification harness's contract (bench.py), for generation: each variant (teacher, teacher-int8, student,
student-int8, control) is measured in a freshly spawned process with its threads set first; int8 variants are made
there with quantize.quantize_int8. Memory is the peak RSS over loading, quantizing and one warm-up of each
measurement, minus the baseline taken after the libraries are imported. Then, at batch 1:

- prefill: one forward pass over the prompt's tokens (KV cache on), timed until at least `prefill_iterations`
  passes and `min_seconds` (or `max_seconds`); p50 / p90 / p99 ms.
- decode: `decode_runs` greedy generations of exactly `max_new_tokens` tokens (lm_generate.continue_text); decode
  speed is the median over runs of (tokens after the first) / (their seconds); per-token gaps give p50 / p90 ms.
- quality: perplexity, agreement and KL(teacher || variant) on the run's held-out blocks (heldout.safetensors,
  written by the runner with the teacher's top-k for them); retention against the teacher's measured perplexity.

Results go to `<run_dir>/bench.json`, variants in the classification shape (status, size, memory, quality, machine;
`latency` empty) plus `prefill`, `decode` and `sample_text`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from distill_core.core.device import resolve_device
from distill_core.core.errors import DistillLabError, RunCancelled
from distill_core.core.progress import ProgressEvent
from distill_core.core.run_files import read_run
from distill_core.measure.flops import flops_at, flops_curve
from distill_core.measure.isolation import run_in_fresh_process
from distill_core.measure.memory import RssSampler, kernel_peak_rss
from distill_core.measure.records import (
    BenchConfig,
    MemoryRecord,
    SizeRecord,
    TimingStats,
    check_request,
    fmt_cell,
    variant_columns,
    variant_rows,
    write_bench,
)
from distill_core.measure.timing import PassTimer, percentile, time_stats, timed_passes
from distill_core.tasks.causal_lm import NAME as TASK
from distill_core.tasks.causal_lm.generate import LM_VARIANTS, continue_text, encode_prompt
from distill_core.tasks.causal_lm.heldout import HELDOUT_FILE, load_heldout  # noqa: F401 (measure_lm_variant reads it)

INT8_VARIANTS = ("teacher-int8", "student-int8")  # the variants a run's own results.json has no quality for
INT8_QUALITY_COLUMNS = ("perplexity", "agreement", "kl_from_teacher", "retention")


@dataclass
class LMBenchConfig:
    """How to measure a causal-LM run's variants. Prompt and token count default to the run's `lm` settings."""

    prompt: str | None = None  # None: the run's lm.prompt
    max_new_tokens: int | None = None  # None: the run's lm.max_new_tokens
    decode_runs: int = 3  # timed greedy generations per variant (after one warm-up)
    prefill_iterations: int = 10  # timed prompt passes, at least
    min_seconds: float = 1.0  # timed prefill seconds, at least
    max_seconds: float = 10.0  # stop timing prefill after this many seconds even short of the minimums
    threads: int = 0  # torch intra-op threads in each measuring process (0: all cores)
    device: str = "auto"  # auto | cpu | cuda
    quantization: str = "auto"  # int8 method: auto | one of quantize.METHODS
    quality: bool = True  # perplexity, agreement and KL on the run's held-out blocks
    quality_variants: list[str] | None = None  # measure quality only for these (None: all); the others take the
    #                                           run's results.json figures (the same blocks, the same code)
    memory_interval_ms: float = 5.0  # psutil RSS sampling period while loading and warming up
    variant_timeout_s: float = 600.0  # a measuring process still busy after this is stopped (error entry)
    matmul_size: int = 2048  # n of the fp32 matmul that measures the machine's peak (cached per machine)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LMBenchConfig":
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass
class PrefillRecord(TimingStats):
    """One forward pass over the prompt at batch 1 (ms per pass)."""

    prompt_tokens: int
    tokens_per_s: float  # prompt tokens / p50

    @classmethod
    def from_samples(cls, prompt_tokens: int, samples_ms: list[float]) -> "PrefillRecord":
        stats = time_stats(samples_ms)
        p50 = stats["p50_ms"]
        return cls(prompt_tokens=prompt_tokens, **stats,
                   tokens_per_s=prompt_tokens / p50 * 1e3 if p50 else 0.0)


@dataclass
class DecodeRecord:
    """Greedy decoding at batch 1 with the KV cache: `runs` generations of `new_tokens` tokens each."""

    new_tokens: int
    runs: int
    tokens_per_s: float  # median over runs of (new_tokens - 1) / seconds after the first token
    tokens_per_s_runs: list[float]
    ms_per_token_p50: float  # over every gap between consecutive tokens of every run
    ms_per_token_p90: float
    ms_per_token_p99: float
    prefill_ms_p50: float  # call to first token inside generate (prefill + generate's own set-up)

    @classmethod
    def from_runs(cls, runs: list) -> "DecodeRecord":
        gaps = [g for r in runs for g in r.token_ms] or [math.nan]
        speeds = [r.decode_tokens_per_s for r in runs]
        return cls(new_tokens=runs[0].new_tokens, runs=len(runs), tokens_per_s=float(np.median(speeds)),
                   tokens_per_s_runs=speeds, ms_per_token_p50=percentile(gaps, 50),
                   ms_per_token_p90=percentile(gaps, 90), ms_per_token_p99=percentile(gaps, 99),
                   prefill_ms_p50=float(np.median([r.prefill_ms for r in runs])))


@dataclass
class LMVariantResult:
    """Everything measured for one causal-LM variant, or why it could not be measured."""

    name: str
    ref: str
    status: str  # "ok" | "error"
    error: str | None = None
    device: str | None = None
    threads: int | None = None
    load_seconds: float | None = None  # load (+ quantize) wall time (s), libraries already imported
    wall_seconds: float | None = None  # the whole measuring process, spawn to result (s)
    quantization: dict | None = None
    latency: list = field(default_factory=list)  # empty: the classification batch records do not apply
    memory: dict | None = None  # measure.records.MemoryRecord
    size: dict | None = None  # measure.records.SizeRecord (FLOPs per block of block_size tokens)
    quality: dict | None = None  # lm_evaluate.block_quality + retention
    machine: dict | None = None
    prefill: dict | None = None  # PrefillRecord
    decode: dict | None = None  # DecodeRecord
    sample_text: str | None = None  # the greedy continuation of the prompt

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------------------------
# Inside the measuring process


def _import_model_code(ref: str, trust_remote_code: bool, quantize: bool) -> None:
    """Import the libraries and model class first, so the baseline RSS already holds their code."""
    from transformers import AutoModelForCausalLM

    from distill_core.tasks.causal_lm import teacher as lm_teacher

    config = lm_teacher.load_teacher_config(ref, trust_remote_code)
    try:
        AutoModelForCausalLM._model_mapping[type(config)]  # imports the modeling module
    except Exception:
        pass
    if quantize:
        from distill_core.models.quantize import import_torchao

        try:
            import_torchao()
        except ImportError:
            pass


def measure_lm_variant(name: str, ref: str, quantize: bool, trust_remote_code: bool, cfg: dict, prompt: str,
                       max_new_tokens: int, block_size: int, heldout: str | None) -> dict:
    """Measure one variant in this (fresh) process; returns LMVariantResult as a dict."""
    from distill_core.measure import machine
    from distill_core.models import quantize as quantize_mod
    from distill_core.models import students
    from distill_core.tasks.causal_lm import evaluate as lm_evaluate
    from distill_core.tasks.causal_lm import teacher as lm_teacher

    c = LMBenchConfig.from_dict(cfg)
    device = resolve_device(c.device, "bench.device")
    threads = torch.get_num_threads()
    _import_model_code(ref, trust_remote_code, quantize)
    kernel_before = kernel_peak_rss()
    sampler = RssSampler(c.memory_interval_ms).start()
    started = time.perf_counter()
    model = lm_teacher.load_causal_lm(ref, trust_remote_code)
    tokenizer = lm_teacher.load_tokenizer(ref, trust_remote_code)
    load_seconds = time.perf_counter() - started
    length = min(block_size, getattr(model.config, "max_position_embeddings", None) or block_size)
    curve = flops_curve(model, length)  # on the fp32 model: int8 does the same multiply-adds
    parameters = sum(p.numel() for p in model.parameters())
    started = time.perf_counter()
    model.to(device)
    qrecord = None
    if quantize:
        model, qrecord = quantize_mod.quantize_int8(model, c.quantization, device)
    load_seconds += time.perf_counter() - started

    ids = encode_prompt(tokenizer, prompt).to(device)
    timer = PassTimer(device)
    with torch.inference_mode():
        prefill = lambda: model(input_ids=ids, use_cache=True)  # noqa: E731
        prefill()  # warm-up, inside the memory window
        first = continue_text(model, tokenizer, prompt, max_new_tokens, stop_at_eos=False)
        sampler.stop()
        timing = BenchConfig(min_iterations=c.prefill_iterations, min_seconds=c.min_seconds,
                             max_seconds=c.max_seconds)
        prefill_samples = timed_passes([prefill], timer, timing)
    runs = [continue_text(model, tokenizer, prompt, max_new_tokens, stop_at_eos=False) for _ in range(c.decode_runs)]
    kernel_peak = kernel_peak_rss()
    peak = sampler.peak
    if kernel_peak is not None and kernel_before is not None and kernel_peak > kernel_before:
        peak = max(peak, kernel_peak)
    memory = MemoryRecord(baseline_rss_bytes=sampler.baseline, peak_rss_bytes=peak,
                          delta_rss_bytes=peak - sampler.baseline, samples=sampler.samples,
                          cuda_peak_allocated_bytes=(torch.cuda.max_memory_allocated()
                                                     if device.startswith("cuda") else None))
    flops = flops_at(curve, length)
    size = SizeRecord(parameters=parameters, weight_bytes=students.weight_bytes(model),
                      int8_elements=quantize_mod.int8_elements(model), flops_per_input_fixed=int(round(flops)),
                      flops_per_input_real=flops, fixed_length=length, flops_curve=curve)
    quality = None
    if c.quality and heldout and (c.quality_variants is None or name in c.quality_variants):
        blocks, topk = load_heldout(heldout)
        quality = lm_evaluate.block_quality(model, blocks, topk, device=device)
        quality.pop("block_nll")  # per-block: the run's paired tests use them, a measurement does not
    return LMVariantResult(
        name=name, ref=ref, status="ok", device=device, threads=threads, load_seconds=load_seconds,
        quantization=qrecord.to_dict() if qrecord else None, memory=memory.to_dict(), size=size.to_dict(),
        quality=quality, machine=machine.machine_record(device).to_dict(),
        prefill=asdict(PrefillRecord.from_samples(ids.shape[1], prefill_samples)),
        decode=asdict(DecodeRecord.from_runs(runs)), sample_text=first.text).to_dict()


# ---------------------------------------------------------------------------------------------------------------
# A whole run


def measure_lm_run(run_dir: str | Path, cfg: LMBenchConfig | None = None, variants: list[str] | None = None,
                   on_progress=None, should_stop=None, write: bool = True) -> dict:
    """Measure the variants of a finished causal-LM run, one spawned process each, and write bench.json (returns
    its dict). Raises RunCancelled when `should_stop()` says so (checked between variants)."""
    from distill_core.core.variants import variant_refs
    from distill_core.measure import machine
    from distill_core.tasks.causal_lm import evaluate as lm_evaluate

    cfg = cfg or LMBenchConfig()
    unknown = sorted(set(variants or []) - set(LM_VARIANTS))
    if unknown:
        raise DistillLabError(f"unknown variant {unknown[0]!r}; allowed: {', '.join(LM_VARIANTS)}", "variants")
    run_dir = Path(run_dir)
    results, run_config = read_run(run_dir)
    lm = run_config.get("lm") or {}
    prompt = cfg.prompt or lm.get("prompt") or "The"
    max_new_tokens = cfg.max_new_tokens or int(lm.get("max_new_tokens") or 32)
    block_size = int(run_config.get("max_length", 128))
    trust = bool((run_config.get("teacher") or {}).get("trust_remote_code", False))
    heldout = run_dir / HELDOUT_FILE
    refs = {k: v for k, v in variant_refs(run_dir).items() if variants is None or k in variants}
    emit = on_progress or (lambda event: None)
    device = resolve_device(cfg.device, "bench.device")
    started = time.perf_counter()
    emit(ProgressEvent("bench", 0, len(refs), 0.0, message="this machine's matmul peak (cached after once)"))
    peak = machine.matmul_peak(device, cfg.threads or os.cpu_count() or 1, n=cfg.matmul_size)
    measured: dict[str, dict] = {}
    for i, (name, (ref, int8)) in enumerate(refs.items()):
        if should_stop and should_stop():
            raise RunCancelled(f"cancelled while measuring (before {name}); bench.json was not written")
        emit(ProgressEvent("bench", i, len(refs), i / len(refs), message=f"measuring {name}"))
        args = (name, ref, int8, trust and name.startswith("teacher"), cfg.to_dict(), prompt, max_new_tokens,
                block_size, str(heldout) if heldout.exists() else None)
        payload, wall = run_in_fresh_process(measure_lm_variant, args, cfg.threads, cfg.variant_timeout_s,
                                             f"distill-lab-bench-{name}")
        if payload.get("status") != "ok":
            measured[name] = LMVariantResult(name=name, ref=ref, status="error", error=payload.get("error"),
                                             wall_seconds=wall).to_dict()
        else:
            measured[name] = payload | {"wall_seconds": wall}
    emit(ProgressEvent("bench", len(refs), len(refs), 1.0, message="measured"))
    from_results = ((results.get("quality") or {}).get("variants") or {})
    for name, v in measured.items():
        if cfg.quality and v.get("status") == "ok" and not v.get("quality") and name in from_results:
            v["quality"] = {k: x for k, x in from_results[name].items() if k != "retention"} | \
                {"source": "results.json"}
    qualities = {n: v["quality"] for n, v in measured.items() if v.get("quality")}
    teacher_ppl = (qualities.get("teacher") or {}).get("perplexity") or \
        (((results.get("quality") or {}).get("variants") or {}).get("teacher") or {}).get("perplexity")
    lm_evaluate.add_retention(qualities, teacher_ppl)
    first_ok = next((v for v in measured.values() if v.get("machine")), None)
    data = {"task": TASK, "run_dir": str(run_dir), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "wall_seconds": time.perf_counter() - started, "config": cfg.to_dict(),
            "prompt": prompt, "max_new_tokens": max_new_tokens,
            "machine": first_ok["machine"] if first_ok else machine.machine_record(device).to_dict(),
            "matmul_peak": peak, "run_config": run_config, "variants": measured,
            "quality": {"split": "held-out", "metric": "perplexity", "higher_is_better": False,
                        "distillation_gain": lm_evaluate.perplexity_gain(qualities)} if qualities else None}
    if write:
        write_bench(run_dir, data)
    return data


def measure_run(run_dir: str | Path, cfg: BenchConfig | None = None, variants: list[str] | None = None,
                on_progress=None, should_stop=None, write: bool = True, after_run: bool = False) -> dict:
    """The task's measuring entry point (the same signature as every task's): measure_lm_run with an LMBenchConfig
    made of the BenchConfig settings that apply here (threads, device, quantization, quality, min_seconds,
    variant_timeout_s, matmul_size; prompt and token count: the run's). `after_run`: called at the end of a run,
    whose results.json already holds the fp32 variants' held-out quality, so only the int8 variants' is measured."""
    cfg = cfg or BenchConfig()
    check_request(cfg, variants)
    lm_cfg = LMBenchConfig(threads=cfg.threads, device=cfg.device, quantization=cfg.quantization, quality=cfg.quality,
                           min_seconds=cfg.min_seconds, variant_timeout_s=cfg.variant_timeout_s,
                           matmul_size=cfg.matmul_size,
                           quality_variants=list(INT8_VARIANTS) if after_run else None)
    return measure_lm_run(Path(run_dir), lm_cfg, variants, on_progress, should_stop, write)


# ---------------------------------------------------------------------------------------------------------------
# Reading results


def bench_columns(bench: dict) -> dict[str, dict]:
    """Compare's measurement columns per variant from a causal-LM bench.json: prefill p50 (ms, batch 1), decode
    tokens/s, and the shared ones (records.variant_columns; FLOPs per block of max_length tokens)."""
    return variant_columns(bench, _generation_columns, INT8_QUALITY_COLUMNS)


def _generation_columns(v: dict) -> dict:
    row = {}
    if v.get("prefill"):
        row["prefill_ms"] = v["prefill"]["p50_ms"]
    if v.get("decode"):
        row["decode_tokens_per_s"] = v["decode"]["tokens_per_s"]
    return row


def decode_speedup(data: dict, variant: str) -> float | None:
    """Variant decode tokens/s over the teacher's, or None when either is missing."""
    def speed(name):
        v = data["variants"].get(name) or {}
        return (v.get("decode") or {}).get("tokens_per_s") if v.get("status") == "ok" else None

    t, v = speed("teacher"), speed(variant)
    return v / t if t and v else None


def format_bench_table(data: dict) -> str:
    """bench.json of a causal-LM run as text: quality, size, memory, prefill and decode per variant."""
    def row(name: str, v: dict) -> str:
        q, s, m = v.get("quality") or {}, v["size"], v["memory"]
        ratio = decode_speedup(data, name)
        return (f"{name:<13} {fmt_cell(q.get('perplexity'), '.2f', 8)} {fmt_cell(q.get('retention'), '.3f', 9)} "
                f"{fmt_cell(q.get('agreement'), '.3f', 6)} {fmt_cell(q.get('kl_from_teacher'), '.4f', 8)} "
                f"{s['weight_bytes'] / 1e6:>8.1f} {s['parameters'] / 1e6:>8.2f} "
                f"{m['delta_rss_bytes'] / 1e6:>8.0f} {v['prefill']['p50_ms']:>10.1f} "
                f"{v['decode']['tokens_per_s']:>12.1f} {(f'{ratio:.2f}x' if ratio else '-'):>7}")

    lines, errors = variant_rows(
        data["variants"], f"{'variant':<13} {'ppl':>8} {'retention':>9} {'agree':>6} {'KL(t||v)':>8} {'size MB':>8} "
        f"{'params M':>8} {'peak MB':>8} {'prefill ms':>10} {'decode tok/s':>12} {'speedup':>7}", row)
    gain = (data.get("quality") or {}).get("distillation_gain")
    mach = data.get("machine") or {}
    lines.append("")
    if gain is not None:
        lines.append(f"distillation gain (control - student perplexity): {gain:+.2f}")
    first = next((v for v in data["variants"].values() if v["status"] == "ok"), None)
    if first:
        lines.append(f"prefill: one forward pass over the {first['prefill']['prompt_tokens']}-token prompt, batch 1, "
                     f"p50; decode: {data['max_new_tokens']} greedy tokens, batch 1, median of "
                     f"{first['decode']['runs']} runs; speedup = decode tok/s over the teacher's; peak MB = peak "
                     "RSS - baseline")
    lines.append(f"machine: {mach.get('cpu_model')}, threads {mach.get('threads')} of {mach.get('logical_cores')} "
                 f"cores; torch {mach.get('torch')}, transformers {mach.get('transformers')}; measured in "
                 f"{data['wall_seconds']:.0f} s")
    for name, v in data["variants"].items():
        if v["status"] == "ok" and v.get("sample_text") is not None:
            lines.append(f"{name:>13}: {data['prompt']}|{v['sample_text'][:160]!r}")
    lines += [f"error: {e}" for e in errors]
    return "\n".join(lines)
