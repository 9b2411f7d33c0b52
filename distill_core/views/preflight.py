"""Pre-flight: what a student will cost next to its teacher, and whether the pair can be distilled, before training.

Models are built from their configs with random weights: nothing is downloaded or trained, so the New run page can
show the panel while the user edits (well under a second for MiniLM-sized pairs once transformers is imported).
Parameters, weight bytes and FLOPs are counted by `students.model_cost`, as after training.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

from distill_core.models import loading as models

from distill_core.models import students
from distill_core.core.config import RunConfig, validate

BYTES_PER_PARAM_TRAINING = 16  # fp32 weights + gradients + AdamW's two moments


@dataclass
class Preflight:
    """Teacher and student costs (ModelCost dicts), ratios, memory estimates (bytes) and the verdict."""

    teacher: dict
    student: dict
    student_description: str
    flops_ratio: float  # teacher FLOPs / student FLOPs per input: the ideal speedup
    size_ratio: float  # teacher weight bytes / student weight bytes
    train_memory_bytes: int  # student weights, grads, optimizer state + teacher weights (cached outputs aside)
    blocking: str | None = None  # why the pair cannot be distilled (the run would fail); None when it can
    blocking_field: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _model_cost(config, task: str, seq_len: int) -> dict:
    """ModelCost of a freshly initialised model of `config` (random weights: costs do not depend on them)."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    auto = AutoModelForCausalLM if task == "causal-lm" else AutoModelForSequenceClassification
    model = auto.from_config(config).eval()
    return students.model_cost(model, seq_len).to_dict()


def _student_config(run: RunConfig, teacher_config, n_teacher: int) -> tuple[object, str]:
    s = run.student
    if s.kind == "keep-layers":
        layers = students.kept_layers(s, n_teacher)
        config = copy.deepcopy(teacher_config)
        students.keep_layers_in_config(config, layers)
        return config, f"keeps teacher layers {layers} of 0..{n_teacher - 1}"
    if s.kind == "shrink":
        config = students.shrink_config(teacher_config, s)
        return config, f"fresh {s.num_layers}-layer model, width {config.hidden_size}"
    return models.load_config(s.model, run.teacher.trust_remote_code), f"model {s.model}"


def _label_verdict(run: RunConfig, teacher_config, student_config) -> tuple[str | None, str | None]:
    """Classification: a student with a trained head must predict the teacher's labels."""
    if run.student.kind != "model":
        return None, None
    student_labels = models.trained_labels(student_config)
    teacher_labels = None if run.teacher.finetune_epochs > 0 else models.trained_labels(teacher_config)
    if student_labels and teacher_labels and sorted(student_labels) != sorted(teacher_labels):
        return (f"student predicts labels {student_labels} but the teacher predicts {teacher_labels}: soft targets "
                "need the same label space", "student.model")
    return None, None


def vocabulary_verdict(run: RunConfig, teacher_config, student_config) -> tuple[str | None, str | None]:
    """Causal LM: logit distillation compares distributions over the same vocabulary, token by token."""
    if run.student.kind != "model":
        return None, None
    from distill_core.tasks.causal_lm import teacher as lm_teacher

    reason = lm_teacher.vocabulary_mismatch(teacher_config, student_config)
    return (reason, "student.model") if reason else (None, None)


def teacher_config_for(run: RunConfig):
    """The teacher's transformers config (LM presets may map to a converted folder; see lm_teacher)."""
    if run.task == "causal-lm":
        from distill_core.tasks.causal_lm import teacher as lm_teacher

        return lm_teacher.load_teacher_config(run.teacher.model, run.teacher.trust_remote_code)
    return models.load_config(run.teacher.model, run.teacher.trust_remote_code)


def estimate(run: RunConfig, seq_len: int | None = None) -> Preflight:
    """Costs of teacher and student for `run` at `seq_len` tokens (default: max_length / 2 for classification,
    max_length for causal LM). Raises DistillLabError for configs that cannot be built; an incompatible pair is
    returned with `blocking` set, so the page can show both the costs and the reason."""
    validate(run)
    seq_len = seq_len or (run.max_length if run.task == "causal-lm" else max(2, run.max_length // 2))
    teacher_config = teacher_config_for(run)
    n_teacher = int(getattr(teacher_config, models.num_layers_attr(teacher_config)))
    student_config, description = _student_config(run, teacher_config, n_teacher)
    verdict = vocabulary_verdict if run.task == "causal-lm" else _label_verdict
    blocking, blocking_field = verdict(run, teacher_config, student_config)
    teacher = _model_cost(teacher_config, run.task, seq_len)
    student = _model_cost(student_config, run.task, seq_len)
    notes = []
    if run.task == "classification" and run.student.kind == "model":
        t_vocab, s_vocab = getattr(teacher_config, "vocab_size", None), getattr(student_config, "vocab_size", None)
        if t_vocab != s_vocab:
            notes.append(f"student vocab ({s_vocab}) differs from the teacher's ({t_vocab}): fine for a classifier "
                         "(it tokenizes the texts itself), but its inputs are not the teacher's tokens")
    if run.student.kind == "shrink":
        notes.append("a shrunk student starts from random weights: it needs a longer budget than a kept-layers one")
    return Preflight(
        teacher=teacher, student=student, student_description=description,
        flops_ratio=teacher["flops_per_input"] / max(1, student["flops_per_input"]),
        size_ratio=teacher["weight_bytes"] / max(1, student["weight_bytes"]),
        train_memory_bytes=student["parameters"] * BYTES_PER_PARAM_TRAINING + teacher["weight_bytes"],
        blocking=blocking, blocking_field=blocking_field, notes=notes)
