"""Pre-flight: costs from configs alone match the built models; incompatible pairs are blocked with a reason."""

import pytest

from distill_core.core.errors import DistillLabError
from distill_core.models import students
from distill_core.tasks import preflight
from tests.support.runs import make_tiny_classifier, tiny_run_config


def test_keep_layers_costs_match_the_student_built_for_training(tiny_teacher_dir):
    from distill_core.models import loading as models

    config = tiny_run_config(tiny_teacher_dir)
    report = preflight.estimate(config, seq_len=16)
    teacher = models.load_classifier(str(tiny_teacher_dir), ["great", "other"])
    student = students.keep_layers(teacher, students.evenly_spaced_layers(4, 2))
    built = students.model_cost(student, 16)
    assert report.student["parameters"] == built.parameters
    assert report.student["flops_per_input"] == built.flops_per_input
    assert report.teacher["layers"] == 4 and report.student["layers"] == 2
    assert report.flops_ratio > 1.5 and report.size_ratio > 1.0
    assert report.train_memory_bytes > report.teacher["weight_bytes"]
    assert report.blocking is None


def test_shrink_reports_the_narrower_width(tiny_teacher_dir):
    config = tiny_run_config(tiny_teacher_dir)
    config.student.kind, config.student.hidden_size, config.student.num_heads = "shrink", 16, 2
    report = preflight.estimate(config, seq_len=16)
    assert report.student["hidden_size"] == 16
    assert report.student["parameters"] < report.teacher["parameters"]


def test_a_student_with_another_label_space_is_blocked(tiny_teacher_dir, tmp_path):
    other = make_tiny_classifier(tmp_path / "other", layers=2, labels=["pos", "neg", "neutral"])
    config = tiny_run_config(tiny_teacher_dir)
    config.student.kind, config.student.model = "model", str(other)
    report = preflight.estimate(config, seq_len=16)
    assert report.blocking_field == "student.model"
    assert "label space" in report.blocking


def test_a_causal_lm_student_with_another_vocabulary_is_blocked():
    from types import SimpleNamespace

    from distill_core.core.config import RunConfig, StudentConfig
    from distill_core.tasks import get_task

    run = RunConfig(task="causal-lm", student=StudentConfig(kind="model", model="x"))
    reason, field = get_task(run.task).compatibility(run, SimpleNamespace(vocab_size=49152),
                                                     SimpleNamespace(vocab_size=50257))
    assert field == "student.model"
    assert reason.startswith("student vocab (50257) differs from teacher vocab (49152)")


def test_an_unreadable_teacher_is_an_error_naming_the_model(tmp_path):
    config = tiny_run_config(tmp_path / "missing")
    with pytest.raises(DistillLabError) as err:
        preflight.estimate(config)
    assert "model" in err.value.field


def test_seeds_and_a_teacher_compute_control_say_what_they_cost():
    from distill_core.core.config import BudgetConfig, RunConfig

    assert preflight.training_notes(RunConfig(seeds=1)) == []
    notes = preflight.training_notes(RunConfig(seeds=3))
    assert notes == ["3 training seeds: the student and the control are trained 3 times, so training takes about "
                     "3x as long; the teacher and its outputs are computed once"]
    timed = preflight.training_notes(RunConfig(seeds=2, control=False, budget=BudgetConfig(unit="minutes", value=5)))
    assert timed == ["2 training seeds: the student is trained 2 times (5 minutes each), so training takes about "
                     "2x as long; the teacher and its outputs are computed once"]
    assert preflight.training_notes(RunConfig(seeds=1, control_budget="teacher-compute")) == [
        "teacher-compute control: the control trains extra steps whose FLOPs equal the teacher's labeling passes, "
        "so it takes longer than the student"]
    assert preflight.training_notes(RunConfig(seeds=1, control=False, control_budget="teacher-compute")) == []


def test_learning_rate_candidates_say_what_they_cost():
    from distill_core.core.config import RunConfig

    notes = preflight.training_notes(RunConfig(seeds=3, learning_rate_candidates=[1e-4, 5e-4]))
    assert notes[1] == ("2 learning rates to try: on the first seed the student and the control each train 2 times "
                        "and keep the best on the validation split, so training takes about 4x one seed's time in "
                        "all")
    assert preflight.training_notes(RunConfig(seeds=1, learning_rate_candidates=[1e-4])) == []


def test_the_estimate_carries_the_seed_note(tiny_teacher_dir):
    report = preflight.estimate(tiny_run_config(tiny_teacher_dir, seeds=4), seq_len=16)
    assert any(n.startswith("4 training seeds:") for n in report.notes)
