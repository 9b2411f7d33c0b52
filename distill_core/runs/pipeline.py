"""One distillation run end to end: teacher -> student and control -> quality on the test split -> saved folder.

Layout of a run folder: config.json, preflight.json (costs), student/ and control/ (save_pretrained folders with
tokenizer), history.json (loss and validation curves per phase), results.json (quality per variant).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from distill_core.tasks.classification import train as distill
from distill_core.training.loop import steps_for_epochs

from distill_core.tasks.classification import evaluate

from distill_core.models import loading as models

from distill_core.models import students

from distill_core.tasks.classification import teacher_cache
from distill_core.core.atomic import replacing, write_json
from distill_core.core.config import RunConfig, validate
from distill_core.tasks.classification.data import Splits, encode, load_splits
from distill_core.core.progress import ProgressEvent, ProgressFn, StopFn
from distill_core.core.errors import DistillLabError, RunCancelled
from distill_core.tasks.classification.teacher import PreparedTeacher, prepare_teacher


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise DistillLabError("'cuda' was asked for but no CUDA GPU is visible; allowed here: auto | cpu", "device")
    return device


def set_threads(threads: int) -> int:
    """Set torch's intra-op threads (0: all cores) and return the number in force."""
    torch.set_num_threads(threads or os.cpu_count() or 1)
    return torch.get_num_threads()


def start_run_folder(config: RunConfig, run_dir: str | Path) -> tuple[Path, str, int]:
    """The start of every run (both tasks): make the folder, save config.json, pick the device, set the threads,
    seed torch. Returns (run folder, device, threads in force). `config` is already validated."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", config.to_dict())
    device = resolve_device(config.device)
    threads = set_threads(config.threads)
    torch.manual_seed(config.seed)
    return run_dir, device, threads


@dataclass
class StudentPlan:
    model: torch.nn.Module
    tokenizer: object
    layer_map: dict[int, int]  # student block -> teacher block, for the hidden-state term
    description: str
    pretrained_embeddings: bool  # embeddings copied from a trained model (then freezing them is safe)


def build_student(config: RunConfig, teacher_model, teacher_tokenizer, labels: list[str]) -> StudentPlan:
    """The untrained student described by `config.student`, from the prepared teacher (or its base)."""
    s = config.student
    n_teacher = getattr(teacher_model.config, models.num_layers_attr(teacher_model.config))
    if s.kind == "keep-layers":
        layers = students.kept_layers(s, n_teacher)
        source = teacher_model
        if s.init_from == "base" and config.teacher.finetune_epochs > 0:
            source = models.load_classifier(config.teacher.model, labels, config.teacher.trust_remote_code)
        model = students.keep_layers(source, layers)
        plan = StudentPlan(model, teacher_tokenizer, dict(enumerate(layers)),
                           f"keeps teacher layers {layers} of 0..{n_teacher - 1} (from the {s.init_from})", True)
    elif s.kind == "shrink":
        model = students.shrink(teacher_model.config, s, labels)
        layers = students.evenly_spaced_layers(n_teacher, min(s.num_layers, n_teacher))
        plan = StudentPlan(model, teacher_tokenizer, dict(enumerate(layers)),
                           f"fresh {s.num_layers}-layer model, width {model.config.hidden_size}", False)
    else:
        model = models.load_classifier(s.model, labels, config.teacher.trust_remote_code)
        tokenizer = models.load_tokenizer(s.model, config.teacher.trust_remote_code)
        n_student = getattr(model.config, models.num_layers_attr(model.config))
        layers = students.evenly_spaced_layers(n_teacher, min(n_student, n_teacher))
        plan = StudentPlan(model, tokenizer, dict(enumerate(layers)), f"model {s.model}", True)
    if config.loss.layer_map is not None:
        n_student = getattr(plan.model.config, models.num_layers_attr(plan.model.config))
        if len(config.loss.layer_map) != n_student:
            raise DistillLabError(f"has {len(config.loss.layer_map)} entries; the student has {n_student} layers, "
                                  "give one teacher layer per student layer", "loss.layer_map")
        bad = [i for i in config.loss.layer_map if i >= n_teacher]
        if bad:
            raise DistillLabError(f"teacher layers {bad} do not exist; allowed 0 to {n_teacher - 1}",
                                  "loss.layer_map")
        plan.layer_map = dict(enumerate(config.loss.layer_map))
    return plan


def _check_max_length(config: RunConfig, model) -> None:
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and config.max_length > limit:
        raise DistillLabError(f"{config.max_length} is above the model's limit of {limit} tokens", "max_length")


def _mean_length(ids: list[list[int]]) -> int:
    return max(2, int(round(float(np.mean([len(x) for x in ids]))))) if ids else 2


def run_experiment(config: RunConfig, run_dir: str | Path, on_progress: ProgressFn | None = None,
                   should_stop: StopFn | None = None) -> dict:
    """Run the whole experiment into `run_dir` and return the results dict (also written to results.json).

    Raises DistillLabError subclasses for user-fixable problems (RunCancelled when `should_stop` says so).
    A causal-LM config (task "causal-lm") runs lm_runner.run_lm_experiment, which writes the same layout."""
    validate(config)
    if config.task == "causal-lm":
        from distill_core.tasks.causal_lm.runner import run_lm_experiment

        return run_lm_experiment(config, run_dir, on_progress, should_stop)
    run_dir, device, threads = start_run_folder(config, run_dir)
    emit = on_progress or (lambda event: None)
    started = time.monotonic()
    timings: dict[str, float] = {}

    emit(ProgressEvent("data", 0, None, 0.0, message="loading data"))
    splits = load_splits(config.data, config.seed)
    if len(splits.train) < config.batch_size:
        raise DistillLabError(f"{config.batch_size} is larger than the {len(splits.train)} training rows; "
                              "lower batch_size or add data", "batch_size")

    t0 = time.monotonic()
    emit(ProgressEvent("data", 0, None, 0.5, message="preparing the teacher"))
    prepared = prepare_teacher(config, splits, device, emit, should_stop)
    timings["teacher_prepare_s"] = time.monotonic() - t0
    _stop_if_asked(should_stop, "after preparing the teacher")
    emit(ProgressEvent("data", 0, None, 0.8, message="loading the teacher and building the student"))
    teacher = models.load_classifier(prepared.model_ref, splits.label_names, config.teacher.trust_remote_code)
    teacher_tok = models.load_tokenizer(prepared.model_ref, config.teacher.trust_remote_code)
    _check_max_length(config, teacher)
    teacher.to(device)
    order = models.label_order(teacher, splits.label_names)

    plan = build_student(config, teacher, teacher_tok, splits.label_names)
    _check_max_length(config, plan.model)
    use_transfer = config.loss.alpha > 0 and len(splits.transfer) > 0
    pool_texts = splits.train.texts + (splits.transfer.texts if use_transfer else [])
    pool_labels = np.array(splits.train.labels + ([-1] * len(splits.transfer) if use_transfer else []))
    teacher_ids = encode(teacher_tok, pool_texts, config.max_length)
    student_ids = teacher_ids if plan.tokenizer is teacher_tok else encode(plan.tokenizer, pool_texts,
                                                                           config.max_length)
    seq_len = _mean_length(teacher_ids)
    preflight = {"teacher": students.model_cost(teacher, seq_len).to_dict(),
                 "student": students.model_cost(plan.model, seq_len).to_dict(),
                 "student_description": plan.description}
    preflight["flops_ratio"] = preflight["teacher"]["flops_per_input"] / max(1, preflight["student"]["flops_per_input"])
    write_json(run_dir / "preflight.json", preflight)
    emit(ProgressEvent("preflight", 1, 1, 1.0, message=preflight_summary(preflight)))

    hidden_on = config.loss.hidden_weight > 0 and config.loss.alpha > 0
    hidden_layers = sorted(set(plan.layer_map.values())) if hidden_on else []
    t0 = time.monotonic()
    _stop_if_asked(should_stop, "before the teacher labels the training data")
    emit(ProgressEvent("teacher-outputs", 0, len(pool_texts), 0.0, message="teacher labels the training data"))
    # Train split and transfer text are cached apart, so adding or changing transfer text reuses the train part.
    n_train = len(splits.train)
    outputs = teacher_cache.concat([
        teacher_cache.teacher_outputs(prepared.fingerprint, teacher, teacher_ids[lo:hi], pool_texts[lo:hi],
                                      config.max_length, teacher_tok.pad_token_id, hidden_layers, device)
        for lo, hi in ((0, n_train), (n_train, len(pool_texts))) if hi > lo])
    teacher_logits = outputs.logits[:, order]
    timings["teacher_outputs_s"] = time.monotonic() - t0

    val_ids = encode(plan.tokenizer, splits.validation.texts, config.max_length)
    val_labels = np.array(splits.validation.labels)
    n_labeled = len(splits.train)
    if config.budget.unit == "steps":
        steps, minutes = int(config.budget.value), None
    elif config.budget.unit == "epochs":
        steps, minutes = steps_for_epochs(len(pool_texts), config.batch_size, config.budget.value), None
    else:
        steps, minutes = None, config.budget.value
    if config.freeze_embeddings and plan.pretrained_embeddings:
        plan.model.get_input_embeddings().weight.requires_grad_(False)
    init_state = {k: v.clone() for k, v in plan.model.state_dict().items()}

    spec = distill.TrainSpec(steps=steps, minutes=minutes, batch_size=config.batch_size,
                             learning_rate=config.learning_rate, temperature=config.loss.temperature,
                             alpha=config.loss.alpha, hidden_weight=config.loss.hidden_weight if hidden_on else 0.0,
                             hidden_loss=config.loss.hidden_loss, layer_map=plan.layer_map,
                             eval_every=config.budget.eval_every, seed=config.seed)
    history = {"teacher-finetune": prepared.info.get("history", [])}
    t0 = time.monotonic()
    student_result = distill.train(plan.model, "student", student_ids, pool_labels, plan.tokenizer.pad_token_id, spec,
                                   val_ids, val_labels, teacher_logits, outputs.hidden, device, emit, should_stop)
    timings["student_train_s"] = time.monotonic() - t0
    history["student"] = student_result.history
    save_model(plan.model, plan.tokenizer, run_dir / "student")
    write_json(run_dir / "history.json", history)
    if student_result.stopped == "cancelled":
        if not student_result.steps:
            raise RunCancelled("cancelled before the student's first training step")
        raise RunCancelled(f"cancelled at step {student_result.steps}; the partly trained student is saved")

    control_model, control_result = None, None
    if config.control:
        # Same architecture, init, data and number of steps; hard labels only, so the teacher's effect is measured.
        control_model = plan.model
        control_model.load_state_dict(init_state)
        control_spec = distill.TrainSpec(**{**spec.__dict__, "alpha": 0.0, "hidden_weight": 0.0,
                                            "steps": student_result.steps, "minutes": None})
        t0 = time.monotonic()
        labeled_ids = student_ids[:n_labeled]
        control_result = distill.train(control_model, "control", labeled_ids, pool_labels[:n_labeled],
                                       plan.tokenizer.pad_token_id, control_spec, val_ids, val_labels, None, None,
                                       device, emit, should_stop)
        timings["control_train_s"] = time.monotonic() - t0
        history["control"] = control_result.history
        save_model(control_model, plan.tokenizer, run_dir / "control")
        write_json(run_dir / "history.json", history)
        if control_result.stopped == "cancelled":
            raise RunCancelled(f"cancelled while training the control at step {control_result.steps}")

    _stop_if_asked(should_stop, "before the final evaluation; the trained student and control are saved")
    emit(ProgressEvent("evaluate", 0, None, 0.0, message="quality on the test split"))
    t0 = time.monotonic()
    quality = evaluate_on_test(config, splits, prepared, teacher, teacher_tok, order, run_dir, plan.tokenizer, device)
    timings["evaluate_s"] = time.monotonic() - t0
    timings["total_s"] = time.monotonic() - started
    results = {
        "config": config.to_dict(),
        "teacher": prepared.to_dict() | {"history": None},
        "label_names": splits.label_names,
        "data": {"train": len(splits.train), "validation": len(splits.validation), "test": len(splits.test),
                 "transfer": len(splits.transfer) if use_transfer else 0, "fingerprint": splits.fingerprint()},
        "preflight": preflight,
        "quality": quality,
        "training": {
            "student": _train_summary(student_result),
            "control": _train_summary(control_result) if control_result else None,
        },
        "timings": timings,
        "device": device,
        "threads": threads,
        "teacher_outputs_cached": outputs.hit,
    }
    write_json(run_dir / "results.json", results)
    if config.measure:
        from distill_core.measure import bench

        _stop_if_asked(should_stop, "before measuring the variants; training and quality results are saved")
        t0 = time.monotonic()
        bench.measure_run(run_dir, bench.BenchConfig(threads=config.threads, device=config.device),
                          on_progress=emit, should_stop=should_stop)
        timings["measure_s"] = time.monotonic() - t0
        write_json(run_dir / "results.json", results)
    emit(ProgressEvent("done", 1, 1, 1.0, metrics=_headline(quality)))
    return results


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


def _stop_if_asked(should_stop: StopFn | None, where: str) -> None:
    if should_stop is not None and should_stop():
        raise RunCancelled(f"cancelled {where}")


def _train_summary(result: distill.TrainResult) -> dict:
    return {"steps": result.steps, "seconds": result.seconds, "examples": result.examples,
            "examples_per_s": result.examples_per_s, "best_step": result.best_step,
            "best_val_accuracy": result.best_val_accuracy, "stopped": result.stopped}


def _headline(quality: dict) -> dict:
    return {f"{variant}_accuracy": q["accuracy"] for variant, q in quality["variants"].items()}


def save_model(model, tokenizer, folder: Path) -> None:
    """save_pretrained (safetensors) plus tokenizer, all or nothing (atomic.replacing)."""
    with replacing(folder) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)


def evaluate_on_test(config: RunConfig, splits: Splits, prepared: PreparedTeacher, teacher, teacher_tok, order,
                     run_dir: Path, student_tok, device: str) -> dict:
    """Quality of teacher, student and control on the test split (never seen in training or validation)."""
    labels = torch.as_tensor(splits.test.labels)
    test_ids = encode(teacher_tok, splits.test.texts, config.max_length)
    teacher_logits = teacher_cache.teacher_outputs(prepared.fingerprint, teacher, test_ids, splits.test.texts,
                                                   config.max_length, teacher_tok.pad_token_id,
                                                   device=device).logits[:, order]
    student_ids = test_ids if student_tok is teacher_tok else encode(student_tok, splits.test.texts, config.max_length)
    variants = {"teacher": evaluate.quality_report(teacher_logits, labels, teacher_logits)}
    for name in ("student", "control"):
        folder = run_dir / name
        if not folder.exists():
            continue
        model = models.load_classifier(str(folder), splits.label_names).to(device)
        logits = evaluate.predict_logits(model, student_ids, student_tok.pad_token_id, device=device)
        variants[name] = evaluate.quality_report(logits, labels, teacher_logits)
    t_acc = variants["teacher"]["accuracy"]
    for q in variants.values():
        q["retention"] = evaluate.retention(q["accuracy"], t_acc)
    gain = None
    if "control" in variants:
        gain = evaluate.distillation_gain(variants["student"]["accuracy"], variants["control"]["accuracy"])
    return {"split": "test", "metric": "accuracy", "variants": variants, "distillation_gain": gain}
