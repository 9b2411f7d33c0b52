"""One distillation run end to end, for every task: the folder, the teacher and the student (the task prepares
them), the teacher's targets, the student, the control with the same init, data and steps, quality, measurement.

Layout of a run folder: config.json, preflight.json (costs), student/ and control/ (save_pretrained folders with
tokenizer), history.json (loss and validation curves per phase), results.json (quality per variant, with "task"),
bench.json (measurement), plus whatever the task keeps there.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from distill_core.core.atomic import replacing, write_json
from distill_core.core.config import RunConfig, validate
from distill_core.core.device import resolve_device, set_threads
from distill_core.core.errors import RunCancelled
from distill_core.core.progress import ProgressEvent, ProgressFn, StopFn
from distill_core.measure import quality as quality_math
from distill_core.measure.records import BenchConfig
from distill_core.tasks import get_task
from distill_core.tasks.base import RunContext, Trained


def start_run_folder(config: RunConfig, run_dir: str | Path) -> tuple[Path, str, int]:
    """The start of every run: make the folder, save config.json, pick the device, set the threads, seed torch.
    Returns (run folder, device, threads in force). `config` is already validated."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", config.to_dict())
    device = resolve_device(config.device)
    threads = set_threads(config.threads)
    torch.manual_seed(config.seed)
    return run_dir, device, threads


def save_model(model, tokenizer, folder: Path) -> None:
    """save_pretrained (safetensors) plus tokenizer, all or nothing (atomic.replacing)."""
    with replacing(folder) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)


def preflight_summary(preflight: dict) -> str:
    """One line per model: parameters, weight size, FLOPs per input (at the data's mean length)."""
    lines = [f"student: {preflight['student_description']}"]
    for role in ("teacher", "student"):
        c = preflight[role]
        lines.append(f"{role:>8}: {c['parameters'] / 1e6:6.1f}M params, {c['weight_bytes'] / 2**20:6.1f} MiB weights, "
                     f"{c['flops_per_input'] / 1e9:6.2f} GFLOPs per input of {c['seq_len']} tokens, "
                     f"{c['layers']} layers x {c['hidden_size']} wide")
    lines.append(f"the student needs {preflight['flops_ratio']:.1f}x fewer FLOPs per input")
    return "\n".join(lines)


def quality_summary(spec, variants: dict[str, dict]) -> dict:
    """results.json "quality": every variant's report plus its retention of the teacher's metric, and the
    distillation gain (student vs control, positive when the teacher helped)."""
    metric, higher = spec.metric, spec.higher_is_better
    teacher_value = variants["teacher"][metric]
    for report in variants.values():
        report["retention"] = quality_math.retention(report[metric], teacher_value, higher)
    gain = None
    if "control" in variants and "student" in variants:
        gain = quality_math.distillation_gain(variants["student"][metric], variants["control"][metric], higher)
    return {"split": spec.split, "metric": metric, "higher_is_better": higher, "variants": variants,
            "distillation_gain": gain}


def _train_and_save(task, ctx: RunContext, prepared, targets, phase: str, steps: int | None,
                    history: dict) -> Trained:
    with ctx.timed(f"{phase}_train_s"):
        trained = task.train(ctx, prepared, targets, phase, steps)
    history[phase] = trained.history
    save_model(prepared.student, prepared.tokenizer, ctx.run_dir / phase)
    write_json(ctx.run_dir / "history.json", history)
    if trained.stopped == "cancelled":
        if phase == "control":
            raise RunCancelled(f"cancelled while training the control at step {trained.steps}")
        if not trained.steps:
            raise RunCancelled("cancelled before the student's first training step")
        raise RunCancelled(f"cancelled at step {trained.steps}; the partly trained student is saved")
    return trained


def run_experiment(config: RunConfig, run_dir: str | Path, on_progress: ProgressFn | None = None,
                   should_stop: StopFn | None = None) -> dict:
    """Run the whole experiment into `run_dir` and return the results dict (also written to results.json).

    Raises DistillLabError subclasses for user-fixable problems (RunCancelled when `should_stop` says so)."""
    validate(config)
    task = get_task(config.task)
    run_dir, device, threads = start_run_folder(config, run_dir)
    ctx = RunContext(config, run_dir, device, threads, on_progress or (lambda event: None), should_stop)
    started = time.monotonic()

    prepared = task.prepare(ctx)
    write_json(run_dir / "preflight.json", prepared.preflight)
    ctx.emit(ProgressEvent("preflight", 1, 1, 1.0, message=preflight_summary(prepared.preflight)))

    ctx.stop_if_asked("before the teacher labels the training data")
    with ctx.timed("teacher_outputs_s"):
        targets = task.teacher_targets(ctx, prepared)
    if prepared.freeze_embeddings:
        prepared.student.get_input_embeddings().weight.requires_grad_(False)
    init_state = {k: v.clone() for k, v in prepared.student.state_dict().items()}

    history = dict(prepared.history)
    student = _train_and_save(task, ctx, prepared, targets, "student", None, history)
    where = f"{task.quality.metric} on the {task.quality.split} split"
    ctx.progress("evaluate", f"student {where}")
    variants = {"teacher": task.teacher_quality(ctx, prepared, targets)}
    with ctx.timed("evaluate_s"):
        variants["student"] = task.evaluate(ctx, prepared, targets)
    control = None
    if config.control:
        # Same architecture, init, data and number of steps; hard targets only, so the teacher's effect is measured.
        prepared.student.load_state_dict(init_state)
        control = _train_and_save(task, ctx, prepared, targets, "control", student.steps, history)
        ctx.stop_if_asked("before the final evaluation; the trained student and control are saved")
        ctx.progress("evaluate", f"control {where}", 0.5)
        with ctx.timed("evaluate_s"):
            variants["control"] = task.evaluate(ctx, prepared, targets)
    del init_state

    quality = quality_summary(task.quality, variants)
    ctx.timings["total_s"] = time.monotonic() - started
    results = {"task": task.name, "config": config.to_dict(), **task.results_extra(ctx, prepared, targets),
               "preflight": prepared.preflight, "quality": quality,
               "training": {"student": student.summary, "control": control.summary if control else None},
               "timings": ctx.timings, "device": device, "threads": threads, "teacher_outputs_cached": targets.cached}
    write_json(run_dir / "results.json", results)
    del prepared, targets
    if config.measure:
        ctx.stop_if_asked("before measuring the variants; training and quality results are saved")
        with ctx.timed("measure_s"):
            task.measure(run_dir, BenchConfig(threads=config.threads, device=config.device), on_progress=ctx.emit,
                         should_stop=should_stop, after_run=True)
        ctx.timings["total_s"] = time.monotonic() - started
        write_json(run_dir / "results.json", results)
    metric = task.quality.metric
    ctx.emit(ProgressEvent("done", 1, 1, 1.0, metrics={f"{v}_{metric}": q[metric] for v, q in variants.items()}))
    return results
