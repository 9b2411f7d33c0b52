"""Pre-flight: what a student will cost next to its teacher, and whether the pair can be distilled, before training.

Models are built from their configs with random weights: nothing is downloaded or trained, so the New run page can
show the panel while the user edits (well under a second for MiniLM-sized pairs once transformers is imported).
Parameters, weight bytes and FLOPs are counted by `students.model_cost`, as after training.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

from distill_core.core.config import RunConfig, validate
from distill_core.models import loading as models
from distill_core.models import students
from distill_core.tasks import get_task

BYTES_PER_PARAM_TRAINING = 16  # fp32 weights + gradients + AdamW's two moments


@dataclass
class Preflight:
    """Teacher and student costs (ModelCost dicts), ratios, memory estimates (bytes) and the verdict."""

    teacher: dict
    student: dict
    student_description: str
    flops_ratio: float  # teacher FLOPs / student FLOPs per input (the task's unit): the ideal speedup
    size_ratio: float  # teacher weight bytes / student weight bytes
    train_memory_bytes: int  # student weights, grads, optimizer state + teacher weights (cached outputs aside)
    blocking: str | None = None  # why the pair cannot be distilled (the run would fail); None when it can
    blocking_field: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _model_cost(task, config, seq_len: int) -> dict:
    """ModelCost of a freshly initialised model of `config` (random weights: costs do not depend on them)."""
    model = task.model_from_config(config).eval()
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
        if s.init_from != "random":
            students.check_selectable(teacher_config, config)
        return config, students.shrink_description(s, config.hidden_size)
    return models.load_config(s.model, run.teacher.trust_remote_code), f"model {s.model}"


def training_notes(run: RunConfig) -> list[str]:
    """What the seeds and the control's budget cost: there is no time estimate to multiply, so the training part's
    growth with the seeds is said in words (the teacher and its outputs are computed once for every seed)."""
    notes = []
    if run.seeds > 1:
        trained = "the student and the control are" if run.control else "the student is"
        per_budget = f" ({run.budget.value:g} {run.budget.unit} each)" if run.budget.unit == "minutes" else ""
        notes.append(f"{run.seeds} training seeds: {trained} trained {run.seeds} times{per_budget}, so training "
                     f"takes about {run.seeds}x as long; the teacher and its outputs are computed once")
    k = len(run.learning_rate_candidates)
    if k > 1:
        trained = "the student and the control each train" if run.control else "the student trains"
        notes.append(f"{k} learning rates to try: on the first seed {trained} {k} times and keep the best on the "
                     f"validation split, so training takes about {k + run.seeds - 1}x one seed's time in all")
    if run.control and run.control_budget == "teacher-compute":
        notes.append("teacher-compute control: the control trains extra steps whose FLOPs equal the teacher's "
                     "labeling passes, so it takes longer than the student")
    return notes


def teacher_config_for(run: RunConfig):
    """The teacher's transformers config, as the run's task loads it (a preset may map to a converted folder)."""
    return get_task(run.task).teacher_config(run)


def estimate(run: RunConfig, seq_len: int | None = None) -> Preflight:
    """Costs of teacher and student for `run` at `seq_len` tokens per input (default: the task's
    `preflight_seq_len`). Raises DistillLabError for configs that cannot be built; an incompatible pair (the task's
    `compatibility`: labels, vocabulary...) is returned with `blocking` set, so the page can show both the costs
    and the reason."""
    validate(run)
    task = get_task(run.task)
    seq_len = seq_len or task.preflight_seq_len(run)
    teacher_config = task.teacher_config(run)
    n_teacher = int(getattr(teacher_config, models.num_layers_attr(teacher_config)))
    student_config, description = _student_config(run, teacher_config, n_teacher)
    blocking, blocking_field = task.compatibility(run, teacher_config, student_config)
    teacher = _model_cost(task, teacher_config, seq_len)
    student = _model_cost(task, student_config, seq_len)
    notes = list(task.preflight_notes(run, teacher_config, student_config))
    if run.student.kind == "shrink" and run.student.init_from == "random":
        notes.append("a shrunk student starts from random weights: it needs a longer budget than a kept-layers one")
    notes += training_notes(run)
    return Preflight(
        teacher=teacher, student=student, student_description=description,
        flops_ratio=teacher["flops_per_input"] / max(1, student["flops_per_input"]),
        size_ratio=teacher["weight_bytes"] / max(1, student["weight_bytes"]),
        train_memory_bytes=student["parameters"] * BYTES_PER_PARAM_TRAINING + teacher["weight_bytes"],
        blocking=blocking, blocking_field=blocking_field, notes=notes)
