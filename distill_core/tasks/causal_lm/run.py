"""A causal-LM run's steps, called by the shared pipeline (runs/pipeline.py) through CausalLMTask:
teacher -> packed text blocks -> student -> the teacher's top-k cache -> training -> held-out perplexity.

The run folder also holds heldout.safetensors (the evaluation blocks and the teacher's top-k on them), which
measurement and the Playground read.

results.json "quality": {"split": "held-out", "metric": "perplexity", "higher_is_better": false,
"variants": {teacher / student / control: {perplexity, nll, tokens, agreement, kl_from_teacher, retention}},
"distillation_gain": control ppl - student ppl}. retention = teacher ppl / variant ppl (1.0 = the teacher's).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from distill_core.core.errors import DistillLabError, RunCancelled
from distill_core.core.progress import ProgressEvent
from distill_core.models import students
from distill_core.tasks.base import Prepared, RunContext, Targets, Trained
from distill_core.tasks.causal_lm import evaluate as lm_evaluate
from distill_core.tasks.causal_lm import teacher as lm_teacher
from distill_core.tasks.causal_lm import teacher_cache as lm_teacher_cache
from distill_core.tasks.causal_lm.data import LMData, load_lm_data
from distill_core.tasks.causal_lm.heldout import save_heldout
from distill_core.tasks.causal_lm.train import LMTrainSpec, train_lm
from distill_core.training.loop import steps_for_epochs

INFERENCE_BATCH = 8  # blocks per teacher / evaluation forward pass: larger matmuls than a small training batch


@dataclass
class State:
    """What the later steps of one causal-LM run need (Prepared.state)."""

    teacher_ref: str
    fingerprint: str
    teacher: torch.nn.Module | None  # dropped once its top-k is cached
    data: LMData


@dataclass
class TopKSets:
    train: lm_teacher_cache.TopK
    validation: lm_teacher_cache.TopK
    test: lm_teacher_cache.TopK


def check_block_size(config, model) -> None:
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


def preflight(config) -> dict:
    """The pre-flight record (as in preflight.json) without training: loads the teacher (converting a preset once),
    builds the student, checks the vocabulary. Raises DistillLabError for an incompatible pair."""
    teacher = lm_teacher.load_causal_lm(config.teacher.model, config.teacher.trust_remote_code)
    tokenizer = lm_teacher.load_tokenizer(config.teacher.model, config.teacher.trust_remote_code)
    student, _, description = lm_teacher.build_student(config.student, teacher, tokenizer,
                                                       config.teacher.trust_remote_code)
    check_block_size(config, teacher)
    return costs(teacher, student, description, config.max_length)


def prepare(ctx: RunContext) -> Prepared:
    """The teacher (a preset converted once), the text packed into blocks, the student, the pre-flight record."""
    config = ctx.config
    ctx.progress("data", "loading the teacher")
    with ctx.timed("teacher_prepare_s"):
        teacher_ref = ctx.processes.main_first(  # a preset is converted once, by the main process
            lambda: lm_teacher.resolve(config.teacher.model, lambda text: ctx.progress("data", text, 0.1)))
    with ctx.timed("teacher_load_s"):
        teacher = lm_teacher.load_causal_lm(teacher_ref, config.teacher.trust_remote_code)
        tokenizer = lm_teacher.load_tokenizer(teacher_ref, config.teacher.trust_remote_code)
    check_block_size(config, teacher)
    teacher.to(ctx.device)

    ctx.progress("data", "loading and packing the text", 0.5)
    data = load_lm_data(config.data, config.lm, config.max_length, tokenizer, config.data.seed)
    if len(data.train) < config.batch_size:
        raise DistillLabError(f"{config.batch_size} is larger than the {len(data.train)} training blocks; lower "
                              "batch_size or add text", "batch_size")
    ctx.progress("data", "building the student", 0.8)
    student, student_tok, description = lm_teacher.build_student(config.student, teacher, tokenizer,
                                                                 config.teacher.trust_remote_code)
    check_block_size(config, student)
    state = State(teacher_ref, lm_teacher.teacher_fingerprint(teacher_ref), teacher, data)
    # Trained embeddings are shared knowledge; with tied weights this also freezes the LM head (faster steps).
    return Prepared(student, student_tok, costs(teacher, student, description, config.max_length), state,
                    freeze_embeddings=config.freeze_embeddings and (config.student.kind != "shrink"
                                                                    or config.student.init_from != "random"),
                    labeled_inputs=len(data.train))


def seed_student(ctx: RunContext, prepared: Prepared) -> None:
    """A `shrink` student with init_from "random" starts from fresh random weights: draw them again for this seed."""
    if ctx.config.student.kind == "shrink" and ctx.config.student.init_from == "random":
        model = prepared.student
        model.load_state_dict(type(model)(model.config).state_dict())


def _topk(ctx: RunContext, s: State, blocks: torch.Tensor, what: str, offset: int, total: int):
    """The teacher's TopK of `blocks`; progress counts blocks over all three sets (`offset` done of `total`)."""
    def on_batch(done, _):
        ctx.emit(ProgressEvent("teacher-outputs", offset + done, total, (offset + done) / total))

    ctx.emit(ProgressEvent("teacher-outputs", offset, total, offset / total,
                           message=f"teacher top-{ctx.config.lm.top_k} on the {what}"))
    topk = lm_teacher_cache.teacher_topk(s.fingerprint, s.teacher, blocks, ctx.config.lm.top_k, ctx.device,
                                         INFERENCE_BATCH, on_batch, ctx.should_stop, ctx.processes)
    if topk is None:
        raise RunCancelled(f"cancelled while the teacher labelled the {what}")
    return topk


def teacher_targets(ctx: RunContext, prepared: Prepared) -> Targets:
    """The teacher's top-k next-token distributions on the training, validation and evaluation blocks."""
    s: State = prepared.state
    d = s.data
    n_train, n_val = len(d.train), len(d.validation)
    total = n_train + n_val + len(d.test)
    sets = TopKSets(_topk(ctx, s, d.train, "training blocks", 0, total),
                    _topk(ctx, s, d.validation, "validation blocks", n_train, total),
                    _topk(ctx, s, d.test, "evaluation blocks", n_train + n_val, total))
    if ctx.processes.is_main:
        save_heldout(ctx.run_dir, d.test, sets.test)  # measurement and the Playground read the held-out blocks here
    s.teacher = None  # the cache holds all the teacher's outputs the run needs
    return Targets(sets, sets.train.hit and sets.validation.hit and sets.test.hit)


def train(ctx: RunContext, prepared: Prepared, targets: Targets, phase: str, steps: int | None) -> Trained:
    """The student with the teacher's top-k (weight loss.alpha) and next-token cross-entropy; the control with
    cross-entropy only, for exactly `steps` steps."""
    config, s, sets = ctx.config, prepared.state, targets.value
    b = config.budget
    if phase == "control":
        budget_steps, minutes = steps, None
    elif b.unit == "steps":
        budget_steps, minutes = int(b.value), None
    elif b.unit == "epochs":
        budget_steps, minutes = steps_for_epochs(len(s.data.train), config.batch_size, b.value), None
    else:
        budget_steps, minutes = None, b.value
    spec = LMTrainSpec(steps=budget_steps, minutes=minutes, batch_size=config.batch_size,
                       learning_rate=config.learning_rate, alpha=config.loss.alpha if phase == "student" else 0.0,
                       temperature=config.loss.temperature, divergence=config.lm.divergence, beta=config.lm.beta,
                       unlikelihood=config.lm.unlikelihood,
                       eval_every=b.eval_every, seed=config.seed)
    result = train_lm(prepared.student, phase, s.data.train, spec, s.data.validation,
                      sets.train if phase == "student" else None, sets.validation, ctx.device, ctx.emit,
                      ctx.should_stop, ctx.processes)
    summary = {"steps": result.steps, "seconds": result.seconds, "examples": result.examples,
               "tokens": result.tokens, "tokens_per_s": result.tokens_per_s, "best_step": result.best_step,
               "best_val_perplexity": result.best_val_perplexity, "stopped": result.stopped}
    return Trained(result.history, result.steps, summary, result.stopped, -result.best_val_perplexity)


def teacher_quality(ctx: RunContext, prepared: Prepared, targets: Targets) -> dict:
    return lm_evaluate.teacher_quality(targets.value.test)


def evaluate_student(ctx: RunContext, prepared: Prepared, targets: Targets) -> dict:
    return lm_evaluate.block_quality(prepared.student, prepared.state.data.test, targets.value.test,
                                     INFERENCE_BATCH, ctx.device)


def results_extra(ctx: RunContext, prepared: Prepared, targets: Targets) -> dict:
    s: State = prepared.state
    sets: TopKSets = targets.value
    return {"teacher": {"model_ref": s.teacher_ref, "fingerprint": s.fingerprint, "finetuned": False,
                        "cached": True, "info": {}, "history": None},
            "label_names": [],
            "data": {"train_blocks": len(s.data.train), "validation_blocks": len(s.data.validation),
                     "eval_blocks": len(s.data.test), "block_size": ctx.config.max_length, "texts": s.data.texts,
                     "fingerprint": s.data.fingerprint()},
            "teacher_cache": {"top_k": int(sets.train.indices.shape[-1]),
                              "bytes": sets.train.nbytes() + sets.validation.nbytes() + sets.test.nbytes()}}
