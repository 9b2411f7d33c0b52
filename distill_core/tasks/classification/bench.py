"""Measure every variant of a classification run on one harness: latency, throughput, memory, size, FLOPs, quality.

Implements DESIGN.md's measurement contract. Each variant (teacher, teacher-int8, student, student-int8, control)
is loaded in a freshly spawned process of its own (bench_session.py: threads set first, the fp32 folder loaded and
quantized there for the int8 variants, memory and size recorded over loading and warm-up); then all of them are
timed in interleaved rounds (measure/rounds.py), so machine noise falls on every variant alike, and each latency
gets a 95% interval and each speedup a paired interval (measure/comparisons.py). A variant that fails returns an
error entry; the others are still measured.

Quality: the run's results.json already holds the teacher's, the student's and the control's on the same test
split; only the int8 variants are evaluated here (against the teacher's cached test logits where the run left them).
Results go to `<run_dir>/bench.json` ("task": "classification").
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from distill_core.core.device import resolve_device, timing_threads
from distill_core.core.errors import DistillLabError
from distill_core.core.progress import ProgressEvent
from distill_core.core.run_files import read_run
from distill_core.core.variants import RUNTIMES, order_key, runtime_of, variant_for
from distill_core.measure import comparisons, processes, rounds
from distill_core.measure.conditions import machine_conditions
from distill_core.measure.records import (
    VARIANTS,
    BenchConfig,
    BenchResult,
    LatencyRecord,
    MemoryRecord,
    SizeRecord,
    VariantResult,
    check_request,
    write_bench,
)
from distill_core.tasks.classification import NAME as TASK
from distill_core.tasks.classification.bench_session import (  # noqa: F401 (the harness's parts, for callers)
    SETTINGS,
    VariantSpec,
    fixed_batch,
    open_session,
    open_timing_session,
    real_batches,
)
from distill_core.tasks.classification.bench_table import bench_columns, format_bench_table  # noqa: F401

RUN_QUALITY = ("teacher", "student", "control")  # variants whose quality the run itself measured
# What every measuring process imports (measure/processes.process_context): the session, transformers' model and
# quantizer code, the usual architectures, torchao.
PRELOAD = ("distill_core.tasks.classification.bench_session", "transformers.modeling_utils",
           "transformers.models.auto.modeling_auto", "transformers.quantizers.auto",
           "transformers.models.bert.modeling_bert", "torchao")


def variant_specs(run_dir: Path, results: dict, run_config: dict,
                  runtimes: tuple[str, ...] = ("pytorch",)) -> list[VariantSpec]:
    """The variants of a finished run on each of `runtimes`, in ALL_VARIANTS order: the prepared teacher and the
    run's student/ and control/ folders, fp32 and int8 (the control: fp32 only)."""
    labels = list(results["label_names"])
    teacher = run_config.get("teacher", {})
    trust = bool(teacher.get("trust_remote_code", False))
    max_length = int(run_config.get("max_length", 128))
    teacher_ref = results["teacher"]["model_ref"]
    folders = {"teacher": teacher_ref, "teacher-int8": teacher_ref, "student": str(run_dir / "student"),
               "student-int8": str(run_dir / "student"), "control": str(run_dir / "control")}
    specs = [VariantSpec(variant_for(base, runtime), folders[base], labels, base.endswith("-int8"), max_length,
                         trust if base.startswith("teacher") else False, runtime=runtime)
             for base in VARIANTS for runtime in runtimes]
    return sorted(specs, key=lambda s: order_key(s.name))


def export_onnx(specs: list[VariantSpec], emit) -> dict[str, str]:
    """Make the ONNX files (fp32 and int8) of every folder an ONNX Runtime spec needs, unless they are there and
    current; {folder: why it failed} for those that could not be exported (their variants become error entries)."""
    from distill_core.measure.flops import flops_curve
    from distill_core.models import loading as models
    from distill_core.models import onnx_export

    failures = {}
    refs = {(s.ref, s.trust_remote_code): s.labels for s in specs if s.runtime == "onnxruntime"}
    for i, ((ref, trust), labels) in enumerate(refs.items()):
        if onnx_export.read_export(ref) is not None:
            continue
        emit(ProgressEvent("bench", i, len(refs), i / max(1, len(refs)), message=f"exporting {ref} to ONNX"))
        try:
            model = models.load_classifier(ref, labels, trust)
            onnx_export.export_classifier(ref, model=model, extra={"flops_curve": flops_curve(model, 128)})
        except DistillLabError as exc:
            failures[ref] = str(exc)
    return failures


def _onnx_teacher_keys(specs: list[VariantSpec], teacher_fp: str | None) -> dict[str, str]:
    """{variant: teacher-output cache identity} for the teacher's ONNX Runtime variants whose files exist: their test
    logits depend only on the teacher and on how its ONNX files were made (exporter, opset, library versions, int8
    method), so every run and bench of one teacher shares them, as the eager int8 teacher's."""
    from distill_core.models import onnx_export

    out = {}
    for s in specs:
        record = onnx_export.read_export(s.ref) if s.runtime == "onnxruntime" and s.name.startswith("teacher") \
            else None
        if teacher_fp and record is not None:
            made = [record.exporter, record.opset, record.torch_version, record.onnx_version,
                    record.onnxruntime_version, record.int8_method if s.quantize else "fp32", record.labels]
            out[s.name] = f"{teacher_fp}|onnxruntime|{made}"
    return out


def sample_indices(size: int, examples: int, seed: int) -> list[int]:
    """Indices of the seeded "real" sample: `size` distinct test inputs (all of them when fewer)."""
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(examples, size=min(size, examples), replace=False))


def _result_of(name: str, report: dict, samples: dict | None, peak_gflops: float | None,
               wall: float, per_round: int = 1) -> VariantResult:
    if "error" in report:
        return VariantResult(name=name, ref=report.get("ref", ""), status="error", error=report["error"],
                             runtime=runtime_of(name), wall_seconds=wall)
    cycles = {key: dict(cycle, passes=report["passes"].get(key)) for key, cycle in report["cycles"].items()}
    latency = [LatencyRecord.from_rounds(cycle, samples[key], peak_gflops, report["timer_ms"].get(key), per_round)
               for key, cycle in cycles.items() if samples]
    latency.sort(key=lambda r: (SETTINGS.index(r.setting), r.batch_size))
    return VariantResult(name=name, ref=report["ref"], status="ok", runtime=runtime_of(name), device=report["device"],
                         threads=report["threads"], load_seconds=report["load_seconds"], wall_seconds=wall,
                         quantization=report["quantization"], latency=latency,
                         memory=MemoryRecord.from_dict(report["memory"]), size=SizeRecord.from_dict(report["size"]),
                         machine=report["machine"])


def measure_variants(specs: list[VariantSpec], cfg: BenchConfig, texts: list[str], labels: list[int] | None,
                     on_progress=None, peak: dict | None = None, run_quality: dict | None = None,
                     should_stop=None, conditions: dict | None = None) -> tuple[dict, dict | None, list[dict], dict]:
    """Load every spec in its own process, time them in interleaved rounds (measure/rounds.py), add quality when
    `labels` are given.
    `run_quality`: results.json's quality of the run's own variants, reused as they are; `conditions`: the machine's
    load and speed probe taken before anything started (default: now). Returns ({name:
    VariantResult}, quality summary or None, speed comparisons, conditions). Raises RunCancelled when
    `should_stop()` says so (checked before and between rounds)."""
    emit = on_progress or (lambda event: None)
    sample = sample_indices(cfg.sample_size, len(texts), cfg.seed)
    peak_gflops = peak["gflops_per_s"] if peak else None
    jobs = [(s.name, open_session, (asdict(s), cfg.to_dict(), texts, sample, peak_gflops), open_timing_session)
            for s in specs]
    timed, conditions = rounds.measure_in_rounds(jobs, cfg.threads, rounds.RoundsPlan.of(cfg), PRELOAD, emit,
                                                 should_stop, conditions)
    wall = timed.wall_seconds
    results = {s.name: _result_of(s.name, timed.reports[s.name], timed.samples.get(s.name), peak_gflops, wall,
                                  timed.samples_per_round) for s in specs}
    emit(ProgressEvent("bench", len(specs), None, 1.0, message="measured"))
    summary = None
    if cfg.quality and labels is not None:
        summary = _quality(results, timed.reports, labels, run_quality or {})
    return results, summary, comparisons.compare_pairs(timed.samples), conditions


def _quality(results: dict, reports: dict, labels: list[int], run_quality: dict) -> dict | None:
    """Quality of each variant: the run's own figures where it has them, else from the logits measured here."""
    from distill_core.tasks.classification import evaluate

    logits = {name: torch.tensor(r["logits"]) for name, r in reports.items() if r.get("logits") is not None}
    reference = run_quality.get("teacher", {}).get("accuracy")
    if not logits and not run_quality:
        return None
    table = evaluate.quality_table(logits, torch.as_tensor(labels), reference_metric=reference) if logits else {}
    for name, result in results.items():
        if name in run_quality:
            result.quality = dict(run_quality[name], source="run")
        elif name in (table.get("variants") or {}):
            result.quality = table["variants"][name]
    student, control = (results.get(n) for n in ("student", "control"))
    gain = (student.quality["accuracy"] - control.quality["accuracy"]
            if student and control and student.quality and control.quality else None)
    return {"split": "test", "metric": "accuracy", "distillation_gain": gain}


def measure_run(run_dir: str | Path, cfg: BenchConfig | None = None, variants: list[str] | None = None,
                on_progress=None, should_stop=None, write: bool = True, after_run: bool = False) -> dict:
    """Measure the variants of a finished classification run and write `<run_dir>/bench.json` (atomically);
    returns its dict.

    Meant for `distill-lab bench` and for the end of a run: the runner passes its progress callback (phase "bench")
    and its `should_stop`, after results.json is written. Either way the run's own quality figures are reused;
    `after_run` changes nothing else."""
    from distill_core.core import config as config_mod
    from distill_core.measure import machine
    from distill_core.tasks.classification import teacher_cache
    from distill_core.tasks.classification.data import load_splits

    cfg = cfg or BenchConfig()
    cfg = replace(cfg, threads=timing_threads(cfg.threads))
    check_request(cfg, variants)
    unknown = [s for s in cfg.settings if s not in SETTINGS] or ([] if cfg.settings else ["(none)"])
    if unknown:
        raise DistillLabError(f"unknown setting {unknown[0]!r}; allowed: {', '.join(SETTINGS)}", "settings")
    run_dir = Path(run_dir)
    results, run_config = read_run(run_dir)
    run_cfg = config_mod.from_dict(run_config)
    started = time.perf_counter()
    before = machine_conditions()
    processes.start_early(PRELOAD)
    emit = on_progress or (lambda event: None)
    emit(ProgressEvent("bench", 0, None, 0.0, message="loading the test split"))
    test = load_splits(run_cfg.data, run_cfg.data.seed).test
    run_quality = {k: v for k, v in ((results.get("quality") or {}).get("variants") or {}).items()
                   if k in RUN_QUALITY}
    device = resolve_device(cfg.device, "bench.device")
    teacher_fp = (results.get("teacher") or {}).get("fingerprint")
    int8_fp = f"{teacher_fp}|int8|{cfg.quantization}|{device}|torch {torch.__version__}"
    keys = {"teacher": teacher_fp, "teacher-int8": int8_fp} if teacher_fp else {}
    runtimes = tuple(r for r in RUNTIMES if r in cfg.runtimes)
    specs = [s for s in variant_specs(run_dir, results, run_config, runtimes) if variants is None or s.name in variants]
    if variants and not specs:
        raise DistillLabError(f"none of {', '.join(variants)} is measured on the runtimes asked for "
                              f"({', '.join(runtimes)})", "runtimes")
    failed_exports = export_onnx(specs, emit)
    keys |= _onnx_teacher_keys(specs, teacher_fp)
    needs_int8_quality = cfg.quality and any(s.quantize for s in specs)
    for s in specs:
        s.quality = cfg.quality and (s.name not in run_quality or (s.name == "teacher" and needs_int8_quality))
        s.teacher_cache_key = (teacher_cache.fingerprint(keys[s.name], test.texts, run_cfg.max_length, [])
                               if s.name in keys else None)
    emit(ProgressEvent("bench", 0, None, 0.0, message="this machine's matmul peak (cached after once)"))
    peak = machine.matmul_peak(device, cfg.threads, n=cfg.matmul_size)  # cfg.threads: resolved above
    to_time = [s for s in specs if s.ref not in failed_exports or s.runtime == "pytorch"]
    measured, quality, pairs, conditions = measure_variants(to_time, cfg, test.texts, test.labels, on_progress, peak,
                                                            run_quality, should_stop, before)
    for s in specs:
        if s not in to_time:
            measured[s.name] = VariantResult(name=s.name, ref=s.ref, status="error", runtime=s.runtime,
                                             error=failed_exports[s.ref])
    measured = {name: measured[name] for name in sorted(measured, key=order_key)}
    run_gain = (results.get("quality") or {}).get("gain")
    if quality is not None and run_gain:  # the run's gain over its seeds, not the first seed's difference
        quality.update(distillation_gain=run_gain["mean"], seeds=len(run_gain["per_seed"]))
    first_ok = next((v for v in measured.values() if v.machine), None)
    bench = BenchResult(run_dir=str(run_dir), created=time.strftime("%Y-%m-%dT%H:%M:%S"),
                        wall_seconds=time.perf_counter() - started, config=cfg,
                        machine=first_ok.machine if first_ok else machine.machine_record(device).to_dict(),
                        matmul_peak=peak, run_config=run_config, variants=measured, quality=quality,
                        comparisons=pairs, conditions=conditions, task=TASK)
    data = bench.to_dict()
    if write:
        write_bench(run_dir, data)
    return data
