"""Measure every variant of a classification run on one harness: latency, throughput, memory, size, FLOPs, quality.

Implements DESIGN.md's measurement contract. Each variant (teacher, teacher-int8, student, student-int8, control) is
measured in a freshly spawned process (measure.isolation): threads set first, the fp32 folder loaded (and quantized
there for the int8 variants), one pass over the longest batch of every setting plus warm-up, then each setting timed
until at least `min_iterations` passes and `min_seconds` seconds, over whole passes of its batches. A variant that
fails returns an error entry; the others are still measured. Results go to `<run_dir>/bench.json` ("task":
"classification").

Settings: "real" draws a fixed, seeded sample of the test split (the same for every variant) at its real token
lengths; batches group the sample by length, as `evaluate.predict_logits` does, so each batch pays the padding that
batched inference here really pays. "fixed" repeats real tokens to exactly `fixed_length` tokens per input.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from distill_core.core.device import resolve_device
from distill_core.core.progress import ProgressEvent
from distill_core.core.run_files import read_run
from distill_core.measure.flops import flops_at, flops_curve
from distill_core.measure.isolation import run_in_fresh_process
from distill_core.measure.memory import RssSampler, kernel_peak_rss
from distill_core.measure.records import (
    VARIANTS,
    BenchConfig,
    BenchResult,
    LatencyRecord,
    MemoryRecord,
    SizeRecord,
    VariantResult,
    check_request,
    fmt_cell,
    latency_of,
    speedup,
    variant_columns,
    variant_rows,
    write_bench,
)
from distill_core.measure.timing import PassTimer, reference_timer_ms, timed_passes
from distill_core.tasks.classification import NAME as TASK

SETTINGS = ("real", "fixed")
INT8_QUALITY_COLUMNS = ("accuracy", "macro_f1", "ece", "agreement", "kl_from_teacher", "retention")


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
    from distill_core.measure import machine
    from distill_core.models import loading as models
    from distill_core.models import quantize, students
    from distill_core.tasks.classification import evaluate
    from distill_core.tasks.classification.data import encode, pad_batch

    device = resolve_device(cfg.device, "bench.device")
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
                timer_ms = reference_timer_ms(forwards[0], threads, cfg.min_seconds)
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
                on_progress=None, should_stop=None, write: bool = True, after_run: bool = False) -> dict:
    """Measure the variants of a finished classification run and write `<run_dir>/bench.json` (atomically);
    returns its dict.

    Meant for `distill-lab bench` and for the end of a run: the runner passes its progress callback (phase "bench")
    and its `should_stop`, after results.json is written. `after_run` changes nothing here (every variant's quality
    is measured on the test split either way)."""
    from distill_core.core import config as config_mod
    from distill_core.measure import machine
    from distill_core.tasks.classification.data import load_splits

    cfg = cfg or BenchConfig()
    check_request(cfg, variants)
    run_dir = Path(run_dir)
    results, run_config = read_run(run_dir)
    specs = [s for s in variant_specs(run_dir, results, run_config) if variants is None or s.name in variants]
    started = time.perf_counter()
    emit = on_progress or (lambda event: None)
    emit(ProgressEvent("bench", 0, len(specs), 0.0, message="loading the test split"))
    run_cfg = config_mod.from_dict(run_config)
    test = load_splits(run_cfg.data, run_cfg.data.seed).test
    device = resolve_device(cfg.device, "bench.device")
    emit(ProgressEvent("bench", 0, len(specs), 0.0, message="this machine's matmul peak (cached after once)"))
    peak = machine.matmul_peak(device, cfg.threads or os.cpu_count() or 1, n=cfg.matmul_size)
    teacher_accuracy = (results.get("quality", {}).get("variants", {}).get("teacher") or {}).get("accuracy")
    measured, quality = measure_variants(specs, cfg, test.texts, test.labels, on_progress, peak, teacher_accuracy,
                                         should_stop)
    first_ok = next((v for v in measured.values() if v.machine), None)
    bench = BenchResult(run_dir=str(run_dir), created=time.strftime("%Y-%m-%dT%H:%M:%S"),
                        wall_seconds=time.perf_counter() - started, config=cfg,
                        machine=first_ok.machine if first_ok else machine.machine_record(device).to_dict(),
                        matmul_peak=peak, run_config=run_config, variants=measured, quality=quality, task=TASK)
    data = bench.to_dict()
    if write:
        write_bench(run_dir, data)
    return data


# ---------------------------------------------------------------------------------------------------------------
# Reading results


def bench_columns(bench: dict) -> dict[str, dict]:
    """Compare's measurement columns per variant from a classification bench.json: latency p50 at batch 1 and the
    larger batch on real lengths (ms), throughput (inputs/s), and the shared ones (records.variant_columns)."""
    return variant_columns(bench, _latency_columns, INT8_QUALITY_COLUMNS)


def _latency_columns(v: dict) -> dict:
    real = sorted((r for r in v.get("latency") or [] if r.get("setting") == "real"), key=lambda r: r["batch_size"])
    if not real:
        return {}
    return {"p50_ms_batch1": real[0]["p50_ms"], f"p50_ms_batch{real[-1]['batch_size']}": real[-1]["p50_ms"],
            "throughput_per_s": real[-1]["throughput"]}


def _quality_row(name: str, v: dict) -> str:
    q, s, m = v.get("quality") or {}, v["size"], v["memory"]
    return (f"{name:<13} {fmt_cell(q.get('accuracy'), '.4f', 8)} {fmt_cell(q.get('macro_f1'), '.4f', 8)} "
            f"{fmt_cell(q.get('retention'), '.3f', 9)} {fmt_cell(q.get('agreement'), '.3f', 9)} "
            f"{fmt_cell(q.get('kl_from_teacher'), '.4f', 8)} {s['weight_bytes'] / 1e6:>8.1f} "
            f"{s['parameters'] / 1e6:>8.2f} {s['flops_per_input_real'] / 1e9:>9.3f} "
            f"{m['delta_rss_bytes'] / 1e6:>8.0f}  {(v.get('quantization') or {}).get('method', '')}")


def format_bench_table(data: dict) -> str:
    """bench.json as text: quality and size per variant, then latency per setting, then the machine."""
    batches = sorted(data["config"]["batch_sizes"])
    small, large = batches[0], batches[-1]
    lines, errors = variant_rows(
        data["variants"], f"{'variant':<13} {'accuracy':>8} {'macro-F1':>8} {'retention':>9} {'agreement':>9} "
        f"{'KL(t||v)':>8} {'size MB':>8} {'params M':>8} {'GFLOPs/in':>9} {'peak MB':>8}  int8 method", _quality_row)
    lines.append("")
    lines.append(f"{'variant':<13} {'setting':<9} {f'b{small} p50/p90/p99 ms':>22} {f'b{large} p50/p90/p99 ms':>24} "
                 f"{'spread':>6} {'inputs/s':>9} {'GFLOP/s':>8} {'%peak':>6} {'speedup':>7}")
    for setting in SETTINGS:
        for name, v in data["variants"].items():
            if v["status"] != "ok":
                continue
            a, b = latency_of(data, name, setting, small), latency_of(data, name, setting, large)
            if not a or not b:
                continue
            tokens = f"{setting} {b['padded_tokens']:.0f}t" if setting == "real" else f"fixed {b['padded_tokens']:.0f}"
            ratio = speedup(data, name, setting, large)
            lines.append(f"{name:<13} {tokens:<9} {a['p50_ms']:>8.1f}/{a['p90_ms']:.1f}/{a['p99_ms']:.1f}".ljust(46)
                         + f"{b['p50_ms']:>10.1f}/{b['p90_ms']:.1f}/{b['p99_ms']:.1f}".ljust(25)
                         + f"{b['spread']:>6.2f} {b['throughput']:>9.1f} {b['gflops_per_s']:>8.1f} "
                         f"{fmt_cell(b['peak_fraction'] * 100 if b['peak_fraction'] is not None else None, '.1f', 6)} "
                         f"{(f'{ratio:.2f}x' if ratio is not None else '-'):>7}")
    mach, peak = data.get("machine") or {}, data.get("matmul_peak") or {}
    gain = (data.get("quality") or {}).get("distillation_gain")
    lines.append("")
    if gain is not None:
        lines.append(f"distillation gain (student - control accuracy): {gain * 100:+.2f} points")
    lines.append(f"latency: batch b{small} and b{large}; spread = (p90 - p10) / p50 (real lengths: it includes the "
                 f"length mix); inputs/s, GFLOP/s and speedup (teacher p50 / variant p50) at b{large}; peak MB = peak "
                 "RSS - baseline; %peak of the fp32 matmul peak (int8 variants can pass 100%)")
    lines.append(f"machine: {mach.get('cpu_model')}, threads {mach.get('threads')} of {mach.get('logical_cores')} "
                 f"cores, GPU {mach.get('gpu') or 'none'}; torch {mach.get('torch')}, transformers "
                 f"{mach.get('transformers')}, torchao {mach.get('torchao') or 'not installed'}; fp32 matmul peak "
                 f"{peak.get('gflops_per_s', float('nan')):.1f} GFLOP/s; measured in {data['wall_seconds']:.0f} s")
    lines += [f"error: {e}" for e in errors]
    return "\n".join(lines)
