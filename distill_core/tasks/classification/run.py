"""A classification run's steps, called by the shared pipeline (runs/pipeline.py) through ClassificationTask:
data and teacher -> student plan -> the teacher's logits (cached) -> training -> quality on the test split.

results.json "quality": {"split": "test", "metric": "accuracy", "higher_is_better": true, "variants": {teacher /
student / control: accuracy, macro_f1, ece, agreement, kl_from_teacher, retention}, "distillation_gain": points}.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from distill_core.core.errors import DistillLabError
from distill_core.core.progress import ProgressEvent
from distill_core.models import loading as models
from distill_core.models import students, vocab
from distill_core.tasks.base import Prepared, RunContext, Targets, Trained
from distill_core.tasks.classification import evaluate, teacher_cache
from distill_core.tasks.classification import train as distill
from distill_core.tasks.classification.data import Splits, encode, load_splits
from distill_core.tasks.classification.teacher import PreparedTeacher, prepare_teacher
from distill_core.tasks.classification.teacher_check import check_teacher
from distill_core.training.loop import steps_for_epochs


@dataclass
class StudentPlan:
    model: torch.nn.Module
    tokenizer: object
    layer_map: dict[int, int]  # student block -> teacher block, for the hidden-state term
    description: str
    pretrained_embeddings: bool  # embeddings copied from a trained model (then freezing them is safe)


@dataclass
class State:
    """What the later steps of one classification run need (Prepared.state)."""

    splits: Splits
    prepared: PreparedTeacher
    teacher: torch.nn.Module
    teacher_tok: object
    order: list[int]  # the teacher's logit columns in the splits' label order
    plan: StudentPlan
    pool_labels: np.ndarray  # train labels (-1 beyond data.student_labels), then -1 per transfer text (soft term only)
    student_ids: list[list[int]]  # train + transfer texts in the student's tokens
    teacher_ids: list[list[int]]
    pool_texts: list[str]
    use_transfer: bool
    val_ids: list[list[int]]  # validation texts in the student's tokens
    test_ids: list[list[int]]  # test texts in the student's tokens
    n_labeled: int  # the first n_labeled pool rows carry labels: the control's training data
    test_teacher_logits: torch.Tensor | None = None  # (test, classes), filled once by the first evaluation


def build_student(config, teacher_model, teacher_tokenizer, labels: list[str]) -> StudentPlan:
    """The student described by `config.student`, from the prepared teacher (or its base)."""
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
        layers = students.source_layers(s, n_teacher)
        if s.init_from == "random":
            model = students.shrink(teacher_model.config, s, labels)
        else:
            source = teacher_model
            if s.init_from == "base" and config.teacher.finetune_epochs > 0:
                source = models.load_classifier(config.teacher.model, labels, config.teacher.trust_remote_code)
            model = students.shrink_from(source, s, labels)
        plan = StudentPlan(model, teacher_tokenizer, dict(enumerate(layers)),
                           students.shrink_description(s, model.config.hidden_size), s.init_from != "random")
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


def check_max_length(config, model) -> None:
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and config.max_length > limit:
        raise DistillLabError(f"{config.max_length} is above the model's limit of {limit} tokens", "max_length")


def _mean_length(ids: list[list[int]]) -> int:
    return max(2, int(round(float(np.mean([len(x) for x in ids]))))) if ids else 2


def _trim_vocabulary(ctx: RunContext, plan: StudentPlan, texts: list[str],
                     sample: list[str]) -> vocab.TrimRecord:
    """Cut the plan's student and tokenizer (in place) to the tokens of `texts` (train + transfer); the control is
    trained from the same plan, so it shares the trimmed vocabulary. `sample` (validation texts) only measures it."""
    ctx.progress("data", "trimming the student's vocabulary to the training texts' tokens", 0.9)
    plan.model, plan.tokenizer, trim = vocab.trim_vocabulary(plan.model, plan.tokenizer, texts, sample)
    plan.description += f"; vocabulary trimmed to {trim.tokens_after:,} of {trim.tokens_before:,} tokens"
    return trim


def prepare(ctx: RunContext) -> Prepared:
    """Splits, the prepared (fine-tuned, cached) teacher, the student plan and the pre-flight record."""
    config = ctx.config
    ctx.progress("data", "loading data")
    splits = load_splits(config.data, config.data.seed)
    if len(splits.train) < config.batch_size:
        raise DistillLabError(f"{config.batch_size} is larger than the {len(splits.train)} training rows; "
                              "lower batch_size or add data", "batch_size")
    n_labeled, unlabeled_train = labeled_rows(config, len(splits.train))
    use_transfer = config.loss.alpha > 0 and (len(splits.transfer) > 0 or unlabeled_train > 0)
    n_pool_train = n_labeled + (unlabeled_train if use_transfer else 0)
    # What the run will ask the teacher-output cache for (the train part of the pool; the validation split for the
    # pre-flight check): a fine-tune labels them while its frozen blocks' outputs are at hand.
    label = (([] if _hidden_term_on(config) else splits.train.texts[:n_pool_train]), splits.validation.texts)
    ctx.progress("data", "preparing the teacher", 0.5)
    with ctx.timed("teacher_prepare_s"):
        prepared = prepare_teacher(config, splits, ctx.device, ctx.emit, ctx.should_stop, ctx.processes, label)
    ctx.stop_if_asked("after preparing the teacher")
    ctx.progress("data", "loading the teacher and building the student", 0.8)
    teacher = models.load_classifier(prepared.model_ref, splits.label_names, config.teacher.trust_remote_code)
    teacher_tok = models.load_tokenizer(prepared.model_ref, config.teacher.trust_remote_code)
    check_max_length(config, teacher)
    teacher.to(ctx.device)
    order = models.label_order(teacher, splits.label_names)

    plan = build_student(config, teacher, teacher_tok, splits.label_names)
    check_max_length(config, plan.model)
    pool_texts = splits.train.texts[:n_pool_train] + (splits.transfer.texts if use_transfer else [])
    pool_labels = np.array(splits.train.labels[:n_labeled] + [-1] * (len(pool_texts) - n_labeled))
    trim = _trim_vocabulary(ctx, plan, pool_texts, splits.validation.texts) if config.student.trim_vocab else None
    teacher_ids = encode(teacher_tok, pool_texts, config.max_length)
    student_ids = teacher_ids if plan.tokenizer is teacher_tok else encode(plan.tokenizer, pool_texts,
                                                                           config.max_length)
    seq_len = _mean_length(teacher_ids)
    ctx.progress("data", "checking the teacher on the validation split", 0.95)
    val_logits = teacher_cache.teacher_outputs(
        prepared.fingerprint, teacher, encode(teacher_tok, splits.validation.texts, config.max_length),
        splits.validation.texts, config.max_length, teacher_tok.pad_token_id, device=ctx.device,
        processes=ctx.processes).logits[:, order]
    check = check_teacher(val_logits, splits.validation.labels, splits.train.labels, splits.label_names)
    preflight = {"teacher_check": check, "warnings": list(check["warnings"]),"teacher": students.model_cost(teacher, seq_len).to_dict(),
                 "student": students.model_cost(plan.model, seq_len).to_dict(),
                 "student_description": plan.description}
    preflight["flops_ratio"] = preflight["teacher"]["flops_per_input"] / max(1, preflight["student"]["flops_per_input"])
    if trim is not None:
        preflight["vocab_trim"] = trim.to_dict()
    state = State(splits, prepared, teacher, teacher_tok, order, plan, pool_labels, student_ids, teacher_ids,
                  pool_texts, use_transfer, encode(plan.tokenizer, splits.validation.texts, config.max_length),
                  encode(plan.tokenizer, splits.test.texts, config.max_length), n_labeled)
    return Prepared(plan.model, plan.tokenizer, preflight, state,
                    history={"teacher-finetune": prepared.info.get("history", [])},
                    freeze_embeddings=config.freeze_embeddings and plan.pretrained_embeddings,
                    labeled_inputs=len(pool_texts))


def labeled_rows(config, n_train: int) -> tuple[int, int]:
    """(labeled train rows the student and control learn from, train rows left for the teacher to label)."""
    if config.data.student_labels is None or config.data.student_labels >= n_train:
        return n_train, 0
    if config.data.student_labels < config.batch_size:
        raise DistillLabError(f"{config.data.student_labels} labeled rows are fewer than one batch of "
                              f"{config.batch_size}; raise it or lower batch_size", "data.student_labels")
    return config.data.student_labels, n_train - config.data.student_labels


def seed_student(ctx: RunContext, prepared: Prepared) -> None:
    """A `shrink` student with init_from "random" starts from fresh random weights: draw them again for this seed."""
    if ctx.config.student.kind == "shrink" and ctx.config.student.init_from == "random":
        model = prepared.student
        model.load_state_dict(type(model)(model.config).state_dict())


def _hidden_term_on(config) -> bool:
    """Whether the student's loss has a hidden-state term (then the teacher's outputs include pooled hidden states)."""
    return config.loss.hidden_weight > 0 and config.loss.alpha > 0


def _hidden_layers(ctx: RunContext, state: State) -> list[int]:
    return sorted(set(state.plan.layer_map.values())) if _hidden_term_on(ctx.config) else []


def teacher_targets(ctx: RunContext, prepared: Prepared) -> Targets:
    """The teacher's logits (and pooled hidden states when the hidden term is on) for train + transfer texts."""
    s: State = prepared.state
    config = ctx.config
    ctx.emit(ProgressEvent("teacher-outputs", 0, len(s.pool_texts), 0.0, message="teacher labels the training data"))
    # Train split and transfer text are cached apart, so adding or changing transfer text reuses the train part.
    n_train = len(s.pool_texts) - (len(s.splits.transfer) if s.use_transfer else 0)
    outputs = teacher_cache.concat([
        teacher_cache.teacher_outputs(s.prepared.fingerprint, s.teacher, s.teacher_ids[lo:hi], s.pool_texts[lo:hi],
                                      config.max_length, s.teacher_tok.pad_token_id, _hidden_layers(ctx, s),
                                      ctx.device, processes=ctx.processes)
        for lo, hi in ((0, n_train), (n_train, len(s.pool_texts))) if hi > lo])
    return Targets(outputs, outputs.hit)


def _spec(ctx: RunContext, state: State, phase: str, steps: int | None) -> distill.TrainSpec:
    config = ctx.config
    hidden_on = bool(_hidden_layers(ctx, state))
    if phase == "control":
        budget_steps, minutes = steps, None
    elif config.budget.unit == "steps":
        budget_steps, minutes = int(config.budget.value), None
    elif config.budget.unit == "epochs":
        budget_steps, minutes = steps_for_epochs(len(state.pool_texts), config.batch_size, config.budget.value), None
    else:
        budget_steps, minutes = None, config.budget.value
    student = phase == "student"
    return distill.TrainSpec(steps=budget_steps, minutes=minutes, batch_size=config.batch_size,
                             learning_rate=config.learning_rate, temperature=config.loss.temperature,
                             alpha=config.loss.alpha if student else 0.0,
                             hidden_weight=config.loss.hidden_weight if hidden_on and student else 0.0,
                             hidden_loss=config.loss.hidden_loss, layer_map=state.plan.layer_map,
                             eval_every=config.budget.eval_every, seed=config.seed)


def train(ctx: RunContext, prepared: Prepared, targets: Targets, phase: str, steps: int | None) -> Trained:
    """The student on train + transfer texts with the teacher's logits; the control on the labeled rows alone."""
    s: State = prepared.state
    val_ids = s.val_ids
    val_labels = np.array(s.splits.validation.labels)
    spec = _spec(ctx, s, phase, steps)
    pad = s.plan.tokenizer.pad_token_id
    if phase == "student":
        result = distill.train(prepared.student, phase, s.student_ids, s.pool_labels, pad, spec, val_ids,
                               val_labels, targets.value.logits[:, s.order], targets.value.hidden, ctx.device,
                               ctx.emit, ctx.should_stop, ctx.processes)
    else:
        n = s.n_labeled
        result = distill.train(prepared.student, phase, s.student_ids[:n], s.pool_labels[:n], pad, spec, val_ids,
                               val_labels, None, None, ctx.device, ctx.emit, ctx.should_stop, ctx.processes)
    summary = {"steps": result.steps, "seconds": result.seconds, "examples": result.examples,
               "examples_per_s": result.examples_per_s, "best_step": result.best_step,
               "best_val_accuracy": result.best_val_accuracy, "best_val_loss": result.best_val_loss,
               "stopped": result.stopped}
    return Trained(result.history, result.steps, summary, result.stopped, result.best_val_accuracy,
                   result.best_val_loss)


def _test_teacher_logits(ctx: RunContext, s: State) -> torch.Tensor:
    """The teacher's logits on the test split (cached like the training ones), in the splits' label order; computed
    once per run and kept for the later evaluations."""
    if s.test_teacher_logits is None:
        test_ids = encode(s.teacher_tok, s.splits.test.texts, ctx.config.max_length)
        s.test_teacher_logits = teacher_cache.teacher_outputs(
            s.prepared.fingerprint, s.teacher, test_ids, s.splits.test.texts, ctx.config.max_length,
            s.teacher_tok.pad_token_id, device=ctx.device, processes=ctx.processes).logits[:, s.order]
    return s.test_teacher_logits


def teacher_quality(ctx: RunContext, prepared: Prepared, targets: Targets) -> dict:
    s: State = prepared.state
    logits = _test_teacher_logits(ctx, s)
    return evaluate.quality_report(logits, torch.as_tensor(s.splits.test.labels), logits)


def evaluate_student(ctx: RunContext, prepared: Prepared, targets: Targets) -> dict:
    """Quality of prepared.student on the test split (never seen in training or validation); several processes
    each predict a share of it."""
    s: State = prepared.state
    teacher_logits = _test_teacher_logits(ctx, s)
    logits = ctx.processes.rows(len(s.test_ids), lambda rows: evaluate.predict_logits(
        prepared.student, [s.test_ids[i] for i in rows], s.plan.tokenizer.pad_token_id, device=ctx.device))
    return evaluate.quality_report(logits, torch.as_tensor(s.splits.test.labels), teacher_logits)


def test_examples(prepared: Prepared) -> dict:
    """The test split's texts, labels (indices into label_names) and label names."""
    s: State = prepared.state
    return {"texts": list(s.splits.test.texts), "labels": [int(x) for x in s.splits.test.labels],
            "label_names": list(s.splits.label_names)}


def results_extra(ctx: RunContext, prepared: Prepared, targets: Targets) -> dict:
    s: State = prepared.state
    return {"teacher": s.prepared.to_dict() | {"history": None},
            "label_names": s.splits.label_names,
            "data": {"train": len(s.splits.train), "student_labels": s.n_labeled,
                     "teacher_labeled_only": len(s.pool_texts) - s.n_labeled,
                     "validation": len(s.splits.validation),
                     "test": len(s.splits.test), "transfer": len(s.splits.transfer) if s.use_transfer else 0,
                     "fingerprint": s.splits.fingerprint()}}
