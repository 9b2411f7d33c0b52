"""Measure every variant of a causal-LM run: prefill latency, decode speed, memory, size and held-out quality.

The classification harness's contract (bench.py), for generation: each variant (teacher, teacher-int8, student,
student-int8, control) is loaded in a freshly spawned process of its own with its threads set first (int8 variants
are made there with quantize.quantize_int8); memory is the peak RSS over loading, quantizing and one warm-up, minus
the baseline taken after the libraries are imported. Then all variants are timed in interleaved rounds
(measure/rounds.py; bench_session.py is the process's side), at batch 1:

- prefill: a sample is the mean ms of forward passes over the prompt's tokens (KV cache on); p50 over rounds with
  its 95% interval.
- decode: a sample is one greedy generation of exactly `max_new_tokens` tokens; its ms per token after the first.
  Decode speed = 1000 / the median ms per token, with the interval.
- quality: perplexity, agreement and KL(teacher || variant) on the run's held-out blocks (heldout.safetensors,
  written by the runner with the teacher's top-k for them); retention against the teacher's measured perplexity.

Results go to `<run_dir>/bench.json`, variants in the classification shape (status, size, memory, quality, machine;
`latency` empty) plus `prefill`, `decode` and `sample_text`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from distill_core.core.device import resolve_device, timing_threads
from distill_core.core.errors import DistillLabError
from distill_core.core.progress import ProgressEvent
from distill_core.core.run_files import read_run
from distill_core.measure import comparisons, processes, rounds
from distill_core.measure.conditions import conditions_text, machine_conditions
from distill_core.measure.records import (
    BenchConfig,
    TimingStats,
    check_request,
    fmt_cell,
    variant_columns,
    variant_rows,
    write_bench,
)
from distill_core.measure.stats import median_interval
from distill_core.measure.timing import percentile, time_stats
from distill_core.tasks.causal_lm import NAME as TASK
from distill_core.tasks.causal_lm import repetition
from distill_core.tasks.causal_lm.bench_config import LMBenchConfig
from distill_core.tasks.causal_lm.bench_session import DECODE, PREFILL, open_session
from distill_core.tasks.causal_lm.generate import LM_VARIANTS
from distill_core.tasks.causal_lm.heldout import HELDOUT_FILE

# What every measuring process imports (measure/processes.process_context).
PRELOAD = ("distill_core.tasks.causal_lm.bench_session", "transformers.modeling_utils",
           "transformers.models.auto.modeling_auto", "transformers.quantizers.auto",
           "transformers.models.llama.modeling_llama", "torchao")
INT8_VARIANTS = ("teacher-int8", "student-int8")  # the variants a run's own results.json has no quality for
INT8_QUALITY_COLUMNS = ("perplexity", "agreement", "kl_from_teacher", "retention")


@dataclass
class PrefillRecord(TimingStats):
    """Forward passes over the prompt at batch 1 (ms per pass): p50 over rounds with its 95% interval."""

    prompt_tokens: int
    tokens_per_s: float  # prompt tokens / p50
    p50_low_ms: float | None = None
    p50_high_ms: float | None = None
    samples_ms: list[float] | None = None  # one per round (each the mean of `passes_per_sample` passes)
    passes_per_sample: int | None = None

    @classmethod
    def from_rounds(cls, prompt_tokens: int, samples_ms: list[float], passes: int = 1) -> "PrefillRecord":
        samples_ms = [x for x in samples_ms if math.isfinite(x)]
        p50, low, high = median_interval(samples_ms)
        stats = time_stats(samples_ms) | {"p50_ms": p50, "iterations": passes * len(samples_ms)}
        return cls(prompt_tokens=prompt_tokens, **stats, tokens_per_s=prompt_tokens / p50 * 1e3 if p50 else 0.0,
                   p50_low_ms=low, p50_high_ms=high, samples_ms=list(samples_ms), passes_per_sample=passes)


@dataclass
class DecodeRecord:
    """Greedy decoding at batch 1 with the KV cache: one generation of `new_tokens` tokens per round."""

    new_tokens: int
    runs: int  # generations timed (one per round)
    tokens_per_s: float  # 1000 / median ms per token after the first
    tokens_per_s_low: float  # its 95% interval (from the ms per token interval)
    tokens_per_s_high: float
    ms_per_token_p50: float  # median over runs of each run's ms per token after the first
    ms_per_token_low: float
    ms_per_token_high: float
    ms_per_token_p90: float
    ms_per_token_p99: float
    samples_ms: list[float] = field(default_factory=list)  # ms per token, one per round

    @classmethod
    def from_rounds(cls, new_tokens: int, ms_per_token: list[float]) -> "DecodeRecord":
        samples = [x for x in ms_per_token if math.isfinite(x) and x > 0] or [math.nan]
        p50, low, high = median_interval(samples)
        return cls(new_tokens=new_tokens, runs=len(samples), tokens_per_s=1e3 / p50, tokens_per_s_low=1e3 / high,
                   tokens_per_s_high=1e3 / low, ms_per_token_p50=p50, ms_per_token_low=low, ms_per_token_high=high,
                   ms_per_token_p90=percentile(samples, 90), ms_per_token_p99=percentile(samples, 99),
                   samples_ms=samples)


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
    sample_repetition: float | None = None  # its share of repeated 4-grams (generate.repeated_ngram_share)
    heldout_repetition: dict | None = None  # repetition.HeldOutRepetition: continuations of held-out starts

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------------------------
# A whole run


def _variant_of(name: str, ref: str, report: dict, samples: dict | None, wall: float, per_round: int = 1) -> dict:
    """LMVariantResult (as a dict) of one variant from its process's report and its samples per key."""
    if "error" in report or not samples:
        return LMVariantResult(name=name, ref=ref, status="error", error=report.get("error", "not timed"),
                               wall_seconds=wall).to_dict()
    keep = {k: report[k] for k in ("device", "threads", "load_seconds", "quantization", "memory", "size", "quality",
                                   "machine", "sample_text", "sample_repetition")} | \
        {"heldout_repetition": report.get("heldout_repetition")}
    return LMVariantResult(name=name, ref=ref, status="ok", wall_seconds=wall, **keep,
                           prefill=asdict(PrefillRecord.from_rounds(report["prompt_tokens"], samples[PREFILL],
                                                                    report["prefill_passes"] * per_round)),
                           decode=asdict(DecodeRecord.from_rounds(report["new_tokens"], samples[DECODE]))).to_dict()


def measure_lm_run(run_dir: str | Path, cfg: LMBenchConfig | None = None, variants: list[str] | None = None,
                   on_progress=None, should_stop=None, write: bool = True) -> dict:
    """Measure the variants of a finished causal-LM run, one spawned process each, and write bench.json (returns
    its dict). Raises RunCancelled when `should_stop()` says so (checked before and between rounds)."""
    from distill_core.core.variants import variant_refs
    from distill_core.measure import machine
    from distill_core.tasks.causal_lm import evaluate as lm_evaluate

    cfg = cfg or LMBenchConfig()
    cfg = replace(cfg, threads=timing_threads(cfg.threads))
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
    before = machine_conditions()  # before the fork server starts importing
    processes.start_early(PRELOAD)
    emit(ProgressEvent("bench", 0, None, 0.0, message="this machine's matmul peak (cached after once)"))
    peak = machine.matmul_peak(device, cfg.threads, n=cfg.matmul_size)  # cfg.threads: resolved above
    jobs = [(name, open_session, (name, ref, int8, trust and name.startswith("teacher"), cfg.to_dict(), prompt,
                                  max_new_tokens, block_size, str(heldout) if heldout.exists() else None))
            for name, (ref, int8) in refs.items()]
    timed, conditions = rounds.measure_in_rounds(jobs, cfg.threads, rounds.RoundsPlan.of(cfg), PRELOAD, emit,
                                                 should_stop, before)
    wall = timed.wall_seconds
    measured = {name: _variant_of(name, ref, timed.reports[name], timed.samples.get(name), wall,
                                  timed.samples_per_round)
                for name, (ref, _) in refs.items()}
    emit(ProgressEvent("bench", len(refs), None, 1.0, message="measured"))
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
            "comparisons": comparisons.compare_pairs(timed.samples), "conditions": conditions,
            "repetition": repetition.compare_with_teacher({n: v.get("heldout_repetition")
                                                           for n, v in measured.items()}),
            "quality": {"split": "held-out", "metric": "perplexity", "higher_is_better": False,
                        "distillation_gain": lm_evaluate.perplexity_gain(qualities)} if qualities else None}
    run_gain = (results.get("quality") or {}).get("gain")
    if data["quality"] is not None and run_gain:  # the run's gain over its seeds, not the first seed's difference
        data["quality"].update(distillation_gain=run_gain["mean"], seeds=len(run_gain["per_seed"]))
    if write:
        write_bench(run_dir, data)
    return data


def measure_run(run_dir: str | Path, cfg: BenchConfig | None = None, variants: list[str] | None = None,
                on_progress=None, should_stop=None, write: bool = True, after_run: bool = False) -> dict:
    """The task's measuring entry point (the same signature as every task's): measure_lm_run with an LMBenchConfig
    made of the BenchConfig settings that apply here (threads, device, quantization, quality, variant_timeout_s,
    matmul_size, rounds, timing seconds and mode; prompt and token count: the run's). Rounds, timing seconds and cap
    left at BenchConfig's defaults take LMBenchConfig's (a generation round is longer than a classification one).
    `after_run`: called at the end
    of a run, whose results.json already holds the fp32 variants' held-out quality, so only the int8 variants' is
    measured."""
    cfg = cfg or BenchConfig()
    check_request(cfg, variants)
    generic, own = BenchConfig(), LMBenchConfig()
    rounds_ = {f: getattr(own if getattr(cfg, f) == getattr(generic, f) else cfg, f)  # a generic default: this task's
               for f in ("min_rounds", "timing_seconds", "max_timing_seconds")}
    lm_cfg = LMBenchConfig(threads=cfg.threads, device=cfg.device, quantization=cfg.quantization, quality=cfg.quality,
                           variant_timeout_s=cfg.variant_timeout_s, **rounds_,
                           matmul_size=cfg.matmul_size, timing=cfg.timing, quiet_wait_seconds=cfg.quiet_wait_seconds,
                           quality_variants=list(INT8_VARIANTS) if after_run else None)
    return measure_lm_run(Path(run_dir), lm_cfg, variants, on_progress, should_stop, write)


# ---------------------------------------------------------------------------------------------------------------
# Reading results


def bench_columns(bench: dict) -> dict[str, dict]:
    """Compare's measurement columns per variant from a causal-LM bench.json: prefill p50 (ms, batch 1), decode
    tokens/s, the held-out starts' mean share of repeated 4-grams (repeated_4grams, 0..1), and the shared ones
    (records.variant_columns; FLOPs per block of max_length tokens)."""
    return variant_columns(bench, _generation_columns, INT8_QUALITY_COLUMNS)


def _generation_columns(v: dict) -> dict:
    row = {}
    if v.get("prefill"):
        row["prefill_ms"] = v["prefill"]["p50_ms"]
        if v["prefill"].get("p50_low_ms") is not None:
            row["prefill_ms_low"], row["prefill_ms_high"] = v["prefill"]["p50_low_ms"], v["prefill"]["p50_high_ms"]
    if v.get("decode"):
        row["decode_tokens_per_s"] = v["decode"]["tokens_per_s"]
        if v["decode"].get("tokens_per_s_low") is not None:
            row["decode_tokens_per_s_low"] = v["decode"]["tokens_per_s_low"]
            row["decode_tokens_per_s_high"] = v["decode"]["tokens_per_s_high"]
    if v.get("heldout_repetition"):
        row["repeated_4grams"] = v["heldout_repetition"]["mean"]
    return row


def decode_speedup(data: dict, variant: str) -> float | None:
    """Variant decode speed over the teacher's: the median of per-round ratios where the variants were timed in rounds,
    else tokens/s over the teacher's; None when either is missing."""
    record = comparisons.find(data, "teacher", variant, "decode", 1)
    if record:
        return record["ratio"]

    def speed(name):
        v = data["variants"].get(name) or {}
        return (v.get("decode") or {}).get("tokens_per_s") if v.get("status") == "ok" else None

    t, v = speed("teacher"), speed(variant)
    return v / t if t and v else None


def format_bench_table(data: dict) -> str:
    """bench.json of a causal-LM run as text: quality, size, memory, prefill and decode per variant."""
    def row(name: str, v: dict) -> str:
        q, s, m = v.get("quality") or {}, v["size"], v["memory"]
        p, d = v["prefill"], v["decode"]
        prefill = f"{p['p50_ms']:.1f}" + (f" ({p['p50_low_ms']:.1f}-{p['p50_high_ms']:.1f})"
                                          if p.get("p50_low_ms") is not None else "")
        decode = f"{d['tokens_per_s']:.1f}" + (f" ({d['tokens_per_s_low']:.1f}-{d['tokens_per_s_high']:.1f})"
                                               if d.get("tokens_per_s_low") is not None else "")
        record = comparisons.find(data, "teacher", name, "decode", 1)
        ratio = decode_speedup(data, name)
        speed = "-" if name == "teacher" else comparisons.speed_text(record) if record else \
            (f"{ratio:.2f}x" if ratio else "-")
        return (f"{name:<13} {fmt_cell(q.get('perplexity'), '.2f', 8)} {fmt_cell(q.get('retention'), '.3f', 9)} "
                f"{fmt_cell(q.get('agreement'), '.3f', 6)} {fmt_cell(q.get('kl_from_teacher'), '.4f', 8)} "
                f"{s['weight_bytes'] / 1e6:>8.1f} {s['parameters'] / 1e6:>8.2f} "
                f"{m['delta_rss_bytes'] / 1e6:>8.0f} {prefill:>20} {decode:>20}  {speed}")

    lines, errors = variant_rows(
        data["variants"], f"{'variant':<13} {'ppl':>8} {'retention':>9} {'agree':>6} {'KL(t||v)':>8} {'size MB':>8} "
        f"{'params M':>8} {'peak MB':>8} {'prefill ms (95% CI)':>20} {'decode tok/s (CI)':>20}  decode speedup "
        "(95% CI)", row)
    gain = (data.get("quality") or {}).get("distillation_gain")
    mach = data.get("machine") or {}
    lines.append("")
    if gain is not None:
        seeds = (data.get("quality") or {}).get("seeds") or 1
        over = f", mean of {seeds} seeds" if seeds > 1 else ""
        lines.append(f"distillation gain (control - student perplexity{over}): {gain:+.2f}")
    first = next((v for v in data["variants"].values() if v["status"] == "ok"), None)
    if first:
        lines.append(f"prefill: forward passes over the {first['prefill']['prompt_tokens']}-token prompt, batch 1, "
                     f"p50 over rounds; decode: {data['max_new_tokens']} greedy tokens, batch 1, one generation per "
                     f"round, {first['decode']['runs']} rounds; speedup = the median of per-round decode ratios over "
                     "the teacher (\"no measurable difference\" when its 95% interval holds 1.0); peak MB = peak "
                     "RSS - baseline")
    lines.append(f"machine: {mach.get('cpu_model')}, threads {mach.get('threads')} of {mach.get('logical_cores')} "
                 f"cores; torch {mach.get('torch')}, transformers {mach.get('transformers')}; measured in "
                 f"{data['wall_seconds']:.0f} s")
    if how := conditions_text(data.get("conditions")):
        lines.append(f"conditions: {how}")
    for name, v in data["variants"].items():
        if v["status"] == "ok" and v.get("sample_text") is not None:
            rep = v.get("sample_repetition")
            rep_text = f" (repeated 4-grams {rep:.0%})" if rep is not None else ""
            lines.append(f"{name:>13}: {data['prompt']}|{v['sample_text'][:160]!r}{rep_text}")
    lines += repetition_lines(data)
    lines += [f"error: {e}" for e in errors]
    return "\n".join(lines)


def repetition_lines(data: dict) -> list[str]:
    """The held-out starts' repeated 4-grams per variant, and each variant against the teacher, as text lines."""
    reps = {n: v["heldout_repetition"] for n, v in data["variants"].items() if v.get("heldout_repetition")}
    if not reps:
        return []
    first = next(iter(reps.values()))
    lines = [f"greedy continuations of {first['prompts']} held-out starts ({first['prompt_tokens']} tokens, "
             f"{first['new_tokens']} new): mean share of repeated 4-grams"]
    against = data.get("repetition") or {}
    for name, rep in reps.items():
        row = f"{name:>13}: {rep['mean']:.0%}"
        if name in against:
            c = against[name]
            row += (f"; minus the teacher's {c['difference']:+.0%} (95% interval {c['low']:+.0%} to "
                    f"{c['high']:+.0%}): {c['verdict']}")
        lines.append(row)
    return lines
