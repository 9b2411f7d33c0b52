"""One distillation run end to end, for every task: the folder, the teacher and the student (the task prepares
them), the teacher's targets, the student, the control with the same init, data and steps, quality, measurement.

Layout of a run folder: config.json, preflight.json (costs), student/ and control/ (save_pretrained folders with
tokenizer), history.json (loss and validation curves per phase), results.json (quality per variant, with "task"),
bench.json (measurement), plus whatever the task keeps there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from pathlib import Path

import torch

from distill_core.core.atomic import replacing, write_json
from distill_core.core.config import RunConfig, training_seeds, validate
from distill_core.core.device import (check_processes, resolve_device, resolve_precision, set_threads,
                                      threads_per_process)
from distill_core.core.errors import DistillLabError, RunCancelled
from distill_core.core.progress import ProgressEvent, ProgressFn, StopFn
from distill_core.measure import quality as quality_math
from distill_core.measure import stats
from distill_core.measure.records import BenchConfig
from distill_core.runs import fits, ranks
from distill_core.tasks import get_task
from distill_core.tasks.base import RunContext, Trained
from distill_core.training.parallel import SINGLE, Processes, launched_world


def start_run_folder(config: RunConfig, run_dir: Path) -> tuple[str, int, Processes]:
    """The start of every run: pick the device and precision, join the run's other processes (if any), set the
    threads, seed torch; the main process makes the folder and saves config.json. Returns (device, threads in
    force, processes). `config` is already validated."""
    device = resolve_device(config.device)
    processes = Processes.start(device, resolve_precision(config.precision, device))
    device = processes.device or device
    if processes.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "config.json", config.to_dict())
    threads = set_threads(threads_per_process(config.threads, processes.world))
    torch.manual_seed(config.seed)
    return device, threads, processes


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
    lines += [f"warning: {w}" for w in preflight.get("warnings") or []]
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


def teacher_compute_steps(preflight: dict, labeled_inputs: int, batch_size: int) -> int:
    """Control steps whose training FLOPs (forward + backward: 3x the student's forward, per input) equal the
    teacher's forward passes over the `labeled_inputs` it labeled; FLOPs per input from pre-flight."""
    teacher_flops = preflight["teacher"]["flops_per_input"] * labeled_inputs
    step_flops = 3 * preflight["student"]["flops_per_input"] * batch_size
    return int(math.ceil(teacher_flops / step_flops)) if step_flops > 0 else 0


def _raise_if_cancelled(trained: Trained, phase: str) -> None:
    if trained.stopped == "cancelled":
        if phase == "control":
            raise RunCancelled(f"cancelled while training the control at step {trained.steps}")
        if not trained.steps:
            raise RunCancelled("cancelled before the student's first training step")
        raise RunCancelled(f"cancelled at step {trained.steps}; the partly trained student is saved")


def _wave(task, ctx: RunContext, prepared, targets, init_state: dict, wave: list[fits.Fit], history: dict,
          setup: dict) -> list[fits.FitResult]:
    """Run one group of independent trainings of a phase (fits.run_fits), record their curves and seconds. Later
    seeds are evaluated with their training: one after another that time goes to evaluate_s; at once it overlaps
    the other trainings and stays in the phase's seconds. Raises RunCancelled when the run was asked to stop (a
    first-seed student stopped part way is saved first)."""
    phase = wave[0].phase
    ctx.stop_if_asked(f"before training the {phase}; what was trained before is saved")
    workers = fits.workers_for(ctx, len(wave))
    setup["trainings_at_once"] = max(setup.get("trainings_at_once", 1), workers)
    if workers > 1:
        ctx.emit(ProgressEvent(phase, 0, None, 0.0, message=f"{len(wave)} {phase} trainings, {workers} at once on "
                                                               "one torch thread each"))
    t0 = time.monotonic()
    results = fits.run_fits(task, ctx, prepared, targets, init_state, wave, workers)
    inline_evaluation = sum(r.evaluate_s for r in results) if workers == 1 else 0.0
    ctx.timings[f"{phase}_train_s"] = ctx.timings.get(f"{phase}_train_s", 0.0) + time.monotonic() - t0 - \
        inline_evaluation
    if inline_evaluation:
        ctx.timings["evaluate_s"] = ctx.timings.get("evaluate_s", 0.0) + inline_evaluation
    for r in results:
        history[r.fit.key] = r.trained.history
    cancelled = [r for r in results if r.trained.stopped == "cancelled"]
    partial = results[0] if cancelled and results[0].fit.key == phase else None
    if phase == "student" and partial is not None and partial.trained.steps:
        prepared.student.load_state_dict(partial.state)
        _save_phase(ctx, prepared, phase)
    if ctx.processes.is_main:
        ctx.run_dir.mkdir(parents=True, exist_ok=True)  # a run deleted meanwhile: its worker removes it on exit
        write_json(ctx.run_dir / "history.json", history)
    if cancelled or len(results) < len(wave):
        if cancelled:
            _raise_if_cancelled(cancelled[0].trained, phase)
        raise RunCancelled(f"cancelled before every {phase} training started; what was trained before is saved")
    return results


def _save_phase(ctx: RunContext, prepared, phase: str) -> None:
    if ctx.processes.is_main:
        save_model(prepared.student, prepared.tokenizer, ctx.run_dir / phase)


def _train_phase(task, ctx: RunContext, prepared, targets, phase: str, seeds: list[int], steps_for, history: dict,
                 init_state: dict, tuning: dict, setup: dict) -> dict[int, fits.FitResult]:
    """Train `phase` (student or control) once per seed from the initial weights; {seed: result with its test
    report}. With learning_rate_candidates the first seed trains once per candidate and keeps the best on
    validation (the same candidates and split for both phases: a fair control), recorded in `tuning[phase]`; the
    later seeds reuse the chosen rate. The first seed's weights are saved as the phase's folder (and evaluated
    here; the later seeds with their training). `steps_for(seed)`: the training's steps (None: the task's budget)."""
    config = ctx.config
    candidates = list(config.learning_rate_candidates)
    first, later = seeds[0], seeds[1:]

    def later_fits(lr: float) -> list[fits.Fit]:
        return [fits.Fit(phase, s, lr, steps_for(s), f"{phase}-seed-{s}", evaluate=True) for s in later]

    firsts = [fits.Fit(phase, first, lr, steps_for(first), f"{phase}-lr-{lr:g}" if candidates else phase,
                       keep_state=True) for lr in candidates or [config.learning_rate]]
    results = _wave(task, ctx, prepared, targets, init_state,
                    firsts + ([] if candidates else later_fits(config.learning_rate)), history, setup)
    best = results[0]
    if candidates:
        trials = []
        for r in results[:len(firsts)]:
            if r.trained.validation is None:
                raise DistillLabError("needs a validation score from the task's training; this task gives none",
                                      "learning_rate_candidates")
            trials.append({"learning_rate": r.fit.learning_rate, "validation": r.trained.validation,
                           "steps": r.trained.steps}
                          | ({"validation_loss": r.trained.validation_loss}
                             if r.trained.validation_loss is not None else {}))
        best = max(results[:len(firsts)], key=_selection_key)
        history[phase] = best.trained.history
        tuning[phase] = {"chosen": best.fit.learning_rate, "trials": trials, "seed": first}
        if ctx.processes.is_main:  # the chosen trial's curve under the phase's own key
            write_json(ctx.run_dir / "history.json", history)
    prepared.student.load_state_dict(best.state)
    _save_phase(ctx, prepared, phase)
    ctx.progress("evaluate", f"{phase}: {task.quality.metric} on the {task.quality.split} split (seed {first})")
    with ctx.timed("evaluate_s"):
        best.report = task.evaluate(dataclasses.replace(ctx, config=config.replace(seed=first)), prepared, targets)
    best.state = None
    by_seed = {first: best} | {r.fit.seed: r for r in results[len(firsts):]}
    if candidates and later:
        by_seed |= {r.fit.seed: r for r in _wave(task, ctx, prepared, targets, init_state,
                                                 later_fits(best.fit.learning_rate), history, setup)}
    return by_seed


def _selection_key(result: fits.FitResult) -> tuple[float, float]:
    """How candidate trainings rank: the validation score, then the lower validation loss (a validation accuracy on a
    few hundred examples ties often, and a tie decided by list order flipped a student's rate between thread
    counts); the first of candidates equal on both."""
    loss = result.trained.validation_loss
    return result.trained.validation, -loss if loss is not None else float("-inf")


def _split_examples(report: dict, spec) -> list | None:
    """Remove and return the report's per-example scores (kept out of results.json)."""
    return report.pop(spec.example_scores, None) if spec.example_scores else None


def _split_outputs(report: dict, spec) -> list | None:
    """Remove and return the report's per-example outputs (kept out of results.json; the first seed's are saved
    in test_outputs.json)."""
    return report.pop(spec.example_outputs, None) if spec.example_outputs else None


def _gain(spec, per_seed: list[dict], scores: dict[str, list]) -> dict | None:
    """The gain report over the seeds (stats.gain_report), or None without per-example scores for every seed."""
    if not spec.example_scores or any(s is None for s in scores["student"] + scores["control"]) or \
            not scores["control"]:
        return None
    metrics = [(r["student"][spec.metric], r["control"][spec.metric]) for r in per_seed]
    return stats.gain_report(spec.metric, spec.higher_is_better, [r["seed"] for r in per_seed], scores["student"],
                             scores["control"], spec.link, spec.binary, metrics=metrics).to_dict()


def _write_test_outputs(task, ctx: RunContext, prepared, seed: int, outputs: dict[str, list | None]) -> None:
    """test_outputs.json: the held-out examples with the first seed's teacher, student and control outputs on
    each (where the teacher helped), when the task keeps per-example outputs."""
    kept = {variant: rows for variant, rows in outputs.items() if rows is not None}
    examples = task.test_examples(prepared) if kept else {}
    if ctx.processes.is_main and examples:
        write_json(ctx.run_dir / "test_outputs.json", {"seed": seed, **examples, "outputs": kept})


def run_experiment(config: RunConfig, run_dir: str | Path, on_progress: ProgressFn | None = None,
                   should_stop: StopFn | None = None) -> dict:
    """Run the whole experiment into `run_dir` and return the results dict (also written to results.json).

    With several training seeds the teacher, its outputs and the data are prepared once; student and control are
    trained once per seed from the same initial weights. The first seed's student/ and control/ are saved (the
    ones measured, exported and shown in the Playground); every seed's quality goes into the gain's interval.

    With `config.processes` > 1 this process starts the others (runs/ranks.py) and they train together; every
    process runs this same function, only the main one reports, writes files and measures.

    Raises DistillLabError subclasses for user-fixable problems (RunCancelled when `should_stop` says so)."""
    validate(config)
    run_dir = Path(run_dir)
    task = get_task(config.task)
    started = time.monotonic()
    starts_others = config.processes > 1 and launched_world() == 1
    if starts_others:
        check_processes(config.processes, resolve_device(config.device))
    with ranks.as_main(config, run_dir) if starts_others else contextlib.nullcontext():
        device, threads, processes = start_run_folder(config, run_dir)
        emit = on_progress if on_progress is not None and processes.is_main else (lambda event: None)
        ctx = RunContext(config, run_dir, device, threads, emit, processes.stop_check(should_stop),
                         processes=processes)
        try:
            results = _train_all(task, ctx, started)
        finally:
            processes.close()  # training is over: the main one measures alone, the others end
            if processes.world > 1:
                set_threads(config.threads)
    if not processes.is_main:
        return results
    return _measure(task, dataclasses.replace(ctx, should_stop=should_stop, processes=SINGLE), results, started)


def prepare_teacher(config: RunConfig, work_dir: str | Path, on_progress: ProgressFn | None = None,
                    should_stop: StopFn | None = None) -> dict:
    """The first part of a run alone: the teacher prepared (fine-tuned when the config asks) and its outputs on the
    training and transfer text computed, both into the data folder's caches, so runs that share them (a sweep's
    trials) start from a cache hit. Nothing is trained; `work_dir` gets config.json, preflight.json and prepared.json
    (what this returns). Returns
    {"teacher": the task's teacher record (with "cached"), "teacher_outputs_cached": bool, "seconds": float}."""
    validate(config)
    task = get_task(config.task)
    started = time.monotonic()
    device, threads, processes = start_run_folder(config.replace(processes=1), Path(work_dir))
    ctx = RunContext(config, Path(work_dir), device, threads, on_progress or (lambda event: None),
                     processes.stop_check(should_stop), processes=processes)
    prepared = task.prepare(ctx)
    write_json(Path(work_dir) / "preflight.json", prepared.preflight)
    ctx.stop_if_asked("before the teacher labels the training data")
    targets = task.teacher_targets(ctx, prepared)
    extra = task.results_extra(ctx, prepared, targets)
    info = {"teacher": extra.get("teacher"), "teacher_outputs_cached": targets.cached,
            "seconds": time.monotonic() - started}
    write_json(Path(work_dir) / "prepared.json", info)
    return info


def _train_all(task, ctx: RunContext, started: float) -> dict:
    """Everything up to results.json: the teacher, its targets, student and control per seed, quality."""
    config, run_dir, device, threads = ctx.config, ctx.run_dir, ctx.device, ctx.threads
    main = ctx.processes.is_main
    prepared = task.prepare(ctx)
    if main:
        write_json(run_dir / "preflight.json", prepared.preflight)
    ctx.emit(ProgressEvent("preflight", 1, 1, 1.0, message=preflight_summary(prepared.preflight)))

    ctx.stop_if_asked("before the teacher labels the training data")
    with ctx.timed("teacher_outputs_s"):
        targets = task.teacher_targets(ctx, prepared)
    if prepared.freeze_embeddings:
        prepared.student.get_input_embeddings().weight.requires_grad_(False)
    init_state = {k: v.clone() for k, v in prepared.student.state_dict().items()}

    spec = task.quality
    history = dict(prepared.history)
    seeds = training_seeds(config)
    variants: dict[str, dict] = {}
    scores: dict[str, list] = {"student": [], "control": []}
    outputs: dict[str, list | None] = {}  # variant -> the first seed's per-example outputs (test_outputs.json)
    per_seed: list[dict] = []
    extra_steps = (teacher_compute_steps(prepared.preflight, prepared.labeled_inputs, config.batch_size)
                   if config.control_budget == "teacher-compute" else 0)
    tuning: dict[str, dict] = {}  # phase -> the learning rate it got (learning_rate_candidates)
    setup: dict = {}  # how the trainings ran (trainings_at_once)
    variants["teacher"] = task.teacher_quality(ctx, prepared, targets)  # before any child: they share its outputs
    _split_examples(variants["teacher"], spec)
    outputs["teacher"] = _split_outputs(variants["teacher"], spec)
    # Every student first, then every control (the same architecture, init, data and steps, plus the teacher's
    # compute when asked, and the same learning-rate candidates; hard targets only).
    students = _train_phase(task, ctx, prepared, targets, "student", seeds, lambda seed: None, history, init_state,
                            tuning, setup)
    controls = {}
    if config.control:
        controls = _train_phase(task, ctx, prepared, targets, "control", seeds,
                                lambda seed: students[seed].trained.steps + extra_steps, history, init_state,
                                tuning, setup)
    for seed in seeds:
        row = {"seed": seed, "student": students[seed].report, "student_training": students[seed].trained.summary}
        scores["student"].append(_split_examples(row["student"], spec))
        outputs.setdefault("student", _split_outputs(row["student"], spec))
        if seed in controls:
            row["control"] = controls[seed].report
            row["control_training"] = controls[seed].trained.summary
            scores["control"].append(_split_examples(row["control"], spec))
            outputs.setdefault("control", _split_outputs(row["control"], spec))
        per_seed.append(row)
    first = per_seed[0]
    variants["student"] = first["student"]
    if "control" in first:
        variants["control"] = first["control"]
    warnings = list(prepared.preflight.get("warnings") or []) + task.quality_warnings(variants)
    for line in warnings[len(prepared.preflight.get("warnings") or []):]:
        ctx.emit(ProgressEvent("warning", 1, 1, 1.0, message=line))
    training = {"student": first["student_training"], "control": first.get("control_training"),
                "control_budget": config.control_budget, "control_extra_steps": extra_steps,
                "trainings_at_once": setup.get("trainings_at_once", 1)}
    training["learning_rates"] = {phase: tuning.get(phase, {"chosen": config.learning_rate, "trials": []})
                                  for phase in ("student", "control") if phase != "control" or config.control}
    del init_state

    quality = quality_summary(spec, variants)
    gain = _gain(spec, per_seed, scores)
    if gain is not None:
        quality["gain"] = gain
        quality["distillation_gain"] = gain["mean"]
        if main:
            write_json(run_dir / "example_scores.json", {"seeds": seeds, **scores})
    _write_test_outputs(task, ctx, prepared, seeds[0], outputs)
    training["seeds"] = [{"seed": r["seed"], "student": r["student"][spec.metric],
                          "control": r["control"][spec.metric] if "control" in r else None,
                          "student_steps": r["student_training"]["steps"],
                          "control_steps": r["control_training"]["steps"] if "control" in r else None}
                         for r in per_seed]
    ctx.timings["total_s"] = time.monotonic() - started
    results = {"task": task.name, "config": config.to_dict(), **task.results_extra(ctx, prepared, targets),
               "preflight": prepared.preflight, "quality": quality, "training": training, "warnings": warnings,
               "timings": ctx.timings, "device": device, "threads": threads, "teacher_outputs_cached": targets.cached,
               "processes": ctx.processes.world, "precision": ctx.processes.precision}
    if main:
        write_json(run_dir / "results.json", results)
    return results


def _measure(task, ctx: RunContext, results: dict, started: float) -> dict:
    """Measure the variants (the main process alone) and finish results.json."""
    config, run_dir, should_stop, spec = ctx.config, ctx.run_dir, ctx.should_stop, task.quality
    if config.measure:
        ctx.stop_if_asked("before measuring the variants; training and quality results are saved")
        with ctx.timed("measure_s"):
            task.measure(run_dir, BenchConfig(threads=config.threads, device=config.device,
                                                runtimes=list(config.runtimes)), on_progress=ctx.emit,
                         should_stop=should_stop, after_run=True)
        ctx.timings["total_s"] = time.monotonic() - started
        write_json(run_dir / "results.json", results)
    metric = spec.metric
    variants = results["quality"]["variants"]
    ctx.emit(ProgressEvent("done", 1, 1, 1.0, metrics={f"{v}_{metric}": q[metric] for v, q in variants.items()}))
    return results
