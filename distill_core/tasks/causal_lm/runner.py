"""One causal-LM distillation run end to end: teacher -> top-k cache -> student and control -> held-out quality ->
measurement. `runner.run_experiment` calls `run_lm_experiment` when config.task is "causal-lm".

Run folder (the same layout as classification): config.json; preflight.json (teacher / student costs per block of
max_length tokens); student/ and control/ (save_pretrained folders with tokenizer); history.json ({"student": [...],
"control": [...]}: step, loss, lr, and val_perplexity at evaluations); results.json (below); bench.json (lm_bench).

results.json "quality": {"split": "held-out", "metric": "perplexity", "higher_is_better": false,
"variants": {teacher / student / control: {perplexity, nll, tokens, agreement, kl_from_teacher, retention}},
"distillation_gain": control ppl - student ppl}. retention = teacher ppl / variant ppl (1.0 = the teacher's).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from distill_core.tasks.causal_lm import evaluate as lm_evaluate

from distill_core.tasks.causal_lm import teacher as lm_teacher

from distill_core.tasks.causal_lm import teacher_cache as lm_teacher_cache

from distill_core.models import students
from distill_core.core.config import RunConfig, validate
from distill_core.core.progress import ProgressEvent, ProgressFn, StopFn
from distill_core.training.loop import steps_for_epochs
from distill_core.core.errors import DistillLabError, RunCancelled
from distill_core.tasks.causal_lm.data import load_lm_data
from distill_core.tasks.causal_lm.train import LMTrainResult, LMTrainSpec, train_lm

INFERENCE_BATCH = 8  # blocks per teacher / evaluation forward pass: larger matmuls than a small training batch


def _check_block_size(config: RunConfig, model) -> None:
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and config.max_length > limit:
        raise DistillLabError(f"{config.max_length} is above the model's limit of {limit} tokens per block",
                              "max_length")


def costs(teacher, student, description: str, block_size: int) -> dict:
    """The pre-flight record: parameters, weight bytes and FLOPs per block of `block_size` tokens, both models."""
    record = {"teacher": students.model_cost(teacher, block_size).to_dict(),
              "student": students.model_cost(student, block_size).to_dict(),
              "student_description": description}
    record["flops_ratio"] = record["teacher"]["flops_per_input"] / max(1, record["student"]["flops_per_input"])
    return record


def preflight(config: RunConfig) -> dict:
    """The pre-flight record (as in preflight.json) without training: loads the teacher (converting a preset once),
    builds the student, checks the vocabulary. Raises DistillLabError for an incompatible pair."""
    validate(config)
    teacher = lm_teacher.load_causal_lm(config.teacher.model, config.teacher.trust_remote_code)
    tokenizer = lm_teacher.load_tokenizer(config.teacher.model, config.teacher.trust_remote_code)
    student, _, description = lm_teacher.build_student(config.student, teacher, tokenizer,
                                                       config.teacher.trust_remote_code)
    _check_block_size(config, teacher)
    return costs(teacher, student, description, config.max_length)


def _stop_if_asked(should_stop: StopFn | None, where: str) -> None:
    if should_stop is not None and should_stop():
        raise RunCancelled(f"cancelled {where}")


def _train_spec(config: RunConfig, train_blocks: int, alpha: float) -> LMTrainSpec:
    b = config.budget
    if b.unit == "steps":
        steps, minutes = int(b.value), None
    elif b.unit == "epochs":
        steps, minutes = steps_for_epochs(train_blocks, config.batch_size, b.value), None
    else:
        steps, minutes = None, b.value
    return LMTrainSpec(steps=steps, minutes=minutes, batch_size=config.batch_size,
                       learning_rate=config.learning_rate, alpha=alpha, temperature=config.loss.temperature,
                       divergence=config.lm.divergence, beta=config.lm.beta, eval_every=b.eval_every,
                       seed=config.seed)


def _train_summary(result: LMTrainResult) -> dict:
    return {"steps": result.steps, "seconds": result.seconds, "examples": result.examples,
            "tokens": result.tokens, "tokens_per_s": result.tokens_per_s, "best_step": result.best_step,
            "best_val_perplexity": result.best_val_perplexity, "stopped": result.stopped}


def _topk(config: RunConfig, fp: str, teacher, blocks: torch.Tensor, device: str, emit, should_stop, what: str,
          offset: int, total: int):
    """The teacher's TopK of `blocks`; progress counts blocks over all three sets (`offset` done of `total`)."""
    def on_batch(done, _):
        emit(ProgressEvent("teacher-outputs", offset + done, total, (offset + done) / total))

    emit(ProgressEvent("teacher-outputs", offset, total, offset / total,
                       message=f"teacher top-{config.lm.top_k} on the {what}"))
    topk = lm_teacher_cache.teacher_topk(fp, teacher, blocks, config.lm.top_k, device, INFERENCE_BATCH,
                                         on_batch, should_stop)
    if topk is None:
        raise RunCancelled(f"cancelled while the teacher labelled the {what}")
    return topk


def run_lm_experiment(config: RunConfig, run_dir: str | Path, on_progress: ProgressFn | None = None,
                      should_stop: StopFn | None = None) -> dict:
    """Run a causal-LM experiment into `run_dir`; returns the results dict (also results.json)."""
    from distill_core.core.atomic import write_json
    from distill_core.runs.pipeline import save_model, start_run_folder

    validate(config)
    run_dir, device, threads = start_run_folder(config, run_dir)
    emit = on_progress or (lambda event: None)
    started = time.monotonic()
    timings: dict[str, float] = {}

    t0 = time.monotonic()
    emit(ProgressEvent("data", 0, None, 0.0, message="loading the teacher"))
    teacher_ref = lm_teacher.resolve(config.teacher.model,
                                     lambda text: emit(ProgressEvent("data", 0, None, 0.1, message=text)))
    timings["teacher_prepare_s"] = time.monotonic() - t0
    t0 = time.monotonic()
    teacher = lm_teacher.load_causal_lm(teacher_ref, config.teacher.trust_remote_code)
    tokenizer = lm_teacher.load_tokenizer(teacher_ref, config.teacher.trust_remote_code)
    timings["teacher_load_s"] = time.monotonic() - t0
    _check_block_size(config, teacher)
    teacher.to(device)
    fp = lm_teacher.teacher_fingerprint(teacher_ref)

    emit(ProgressEvent("data", 0, None, 0.5, message="loading and packing the text"))
    data = load_lm_data(config.data, config.lm, config.max_length, tokenizer, config.seed)
    if len(data.train) < config.batch_size:
        raise DistillLabError(f"{config.batch_size} is larger than the {len(data.train)} training blocks; lower "
                              "batch_size or add text", "batch_size")
    emit(ProgressEvent("data", 0, None, 0.8, message="building the student"))
    student, student_tok, description = lm_teacher.build_student(config.student, teacher, tokenizer,
                                                                 config.teacher.trust_remote_code)
    _check_block_size(config, student)
    preflight_record = costs(teacher, student, description, config.max_length)
    write_json(run_dir / "preflight.json", preflight_record)
    from distill_core.runs.pipeline import preflight_summary

    emit(ProgressEvent("preflight", 1, 1, 1.0, message=preflight_summary(preflight_record)))

    _stop_if_asked(should_stop, "before the teacher labels the training text")
    t0 = time.monotonic()
    n_train, n_val = len(data.train), len(data.validation)
    total = n_train + n_val + len(data.test)
    train_topk = _topk(config, fp, teacher, data.train, device, emit, should_stop, "training blocks", 0, total)
    val_topk = _topk(config, fp, teacher, data.validation, device, emit, should_stop, "validation blocks",
                     n_train, total)
    test_topk = _topk(config, fp, teacher, data.test, device, emit, should_stop, "evaluation blocks",
                      n_train + n_val, total)
    timings["teacher_outputs_s"] = time.monotonic() - t0
    cached = train_topk.hit and val_topk.hit and test_topk.hit
    from distill_core.tasks.causal_lm.bench import save_heldout

    save_heldout(run_dir, data.test, test_topk)  # measurement and the Playground read the held-out blocks here
    del teacher  # the cache holds all the teacher's outputs the run needs

    if config.freeze_embeddings and config.student.kind != "shrink":
        # Trained embeddings are shared knowledge; with tied weights this also freezes the LM head (faster steps).
        student.get_input_embeddings().weight.requires_grad_(False)
    init_state = {k: v.clone() for k, v in student.state_dict().items()}
    history: dict[str, list] = {}
    t0 = time.monotonic()
    spec = _train_spec(config, len(data.train), config.loss.alpha)
    student_result = train_lm(student, "student", data.train, spec, data.validation, train_topk, val_topk, device,
                              emit, should_stop)
    timings["student_train_s"] = time.monotonic() - t0
    history["student"] = student_result.history
    save_model(student, student_tok, run_dir / "student")
    write_json(run_dir / "history.json", history)
    if student_result.stopped == "cancelled":
        if not student_result.steps:
            raise RunCancelled("cancelled before the student's first training step")
        raise RunCancelled(f"cancelled at step {student_result.steps}; the partly trained student is saved")

    variants = {"teacher": lm_evaluate.teacher_quality(test_topk)}
    emit(ProgressEvent("evaluate", 0, None, 0.0, message="student perplexity on the held-out blocks"))
    t0 = time.monotonic()
    variants["student"] = lm_evaluate.block_quality(student, data.test, test_topk, INFERENCE_BATCH, device)
    timings["evaluate_s"] = time.monotonic() - t0

    control_result = None
    if config.control:
        # Same architecture, init, data and number of steps; next-token cross-entropy only.
        student.load_state_dict(init_state)
        control_spec = LMTrainSpec(**{**spec.__dict__, "alpha": 0.0, "steps": student_result.steps, "minutes": None})
        t0 = time.monotonic()
        control_result = train_lm(student, "control", data.train, control_spec, data.validation, None, val_topk,
                                  device, emit, should_stop)
        timings["control_train_s"] = time.monotonic() - t0
        history["control"] = control_result.history
        save_model(student, student_tok, run_dir / "control")
        write_json(run_dir / "history.json", history)
        if control_result.stopped == "cancelled":
            raise RunCancelled(f"cancelled while training the control at step {control_result.steps}")
        t0 = time.monotonic()
        emit(ProgressEvent("evaluate", 0, None, 0.5, message="control perplexity on the held-out blocks"))
        variants["control"] = lm_evaluate.block_quality(student, data.test, test_topk, INFERENCE_BATCH, device)
        timings["evaluate_s"] += time.monotonic() - t0
    del student, init_state

    lm_evaluate.add_retention(variants, variants["teacher"]["perplexity"])
    quality = {"split": "held-out", "metric": "perplexity", "higher_is_better": False, "variants": variants,
               "distillation_gain": lm_evaluate.perplexity_gain(variants)}
    timings["total_s"] = time.monotonic() - started
    results = {
        "task": "causal-lm",
        "config": config.to_dict(),
        "teacher": {"model_ref": teacher_ref, "fingerprint": fp, "finetuned": False, "cached": True, "info": {},
                    "history": None},
        "label_names": [],
        "data": {"train_blocks": len(data.train), "validation_blocks": len(data.validation),
                 "eval_blocks": len(data.test), "block_size": config.max_length, "texts": data.texts,
                 "fingerprint": data.fingerprint()},
        "teacher_cache": {"top_k": int(train_topk.indices.shape[-1]),
                          "bytes": train_topk.nbytes() + val_topk.nbytes() + test_topk.nbytes()},
        "preflight": preflight_record,
        "quality": quality,
        "training": {"student": _train_summary(student_result),
                     "control": _train_summary(control_result) if control_result else None},
        "timings": timings,
        "device": device,
        "threads": threads,
        "teacher_outputs_cached": cached,
    }
    write_json(run_dir / "results.json", results)
    if config.measure:
        from distill_core.tasks.causal_lm import bench as lm_bench

        _stop_if_asked(should_stop, "before measuring the variants; training and quality results are saved")
        t0 = time.monotonic()
        # fp32 variants' quality was just measured on the same blocks; only the int8 ones need it.
        cfg = lm_bench.LMBenchConfig(threads=config.threads, device=config.device,
                                     quality_variants=["teacher-int8", "student-int8"])
        lm_bench.measure_lm_run(run_dir, cfg, on_progress=emit, should_stop=should_stop)
        timings["measure_s"] = time.monotonic() - t0
        timings["total_s"] = time.monotonic() - started
        write_json(run_dir / "results.json", results)
    emit(ProgressEvent("done", 1, 1, 1.0, metrics={f"{v}_perplexity": q["perplexity"] for v, q in variants.items()}))
    return results
