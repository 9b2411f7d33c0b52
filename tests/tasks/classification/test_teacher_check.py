"""Is the teacher worth distilling from? Constructed cases: a teacher stuck on the majority class, one no better
than the majority baseline, a healthy one, and a control as good as the teacher."""

import torch
from safetensors.torch import load_file, save_file

from distill_core.runs.pipeline import run_experiment
from distill_core.tasks.classification.teacher_check import check_teacher, control_warning
from tests.support.runs import make_tiny_classifier

NAMES = ["negative", "positive"]


def _logits(predicted: list[int]) -> torch.Tensor:
    out = torch.zeros(len(predicted), 2)
    out[torch.arange(len(predicted)), torch.as_tensor(predicted)] = 3.0
    return out


def test_a_teacher_stuck_on_the_majority_class_gets_both_warnings():
    # 20 validation texts, 13 positive (65%); the teacher says "positive" for all 20: 65% accuracy, 100% one class.
    labels = [1] * 13 + [0] * 7
    check = check_teacher(_logits([1] * 20), labels, train_labels=[1] * 60 + [0] * 40, label_names=NAMES)
    assert check["validation_accuracy"] == 0.65 and check["majority_accuracy"] == 0.65
    assert check["majority_class"] == "positive" and check["predicted_share"] == 1.0
    assert len(check["warnings"]) == 2
    assert check["warnings"][0].startswith("the teacher answers 'positive' for 100% of the validation texts")
    assert check["warnings"][1].startswith("the teacher's validation accuracy (65.0%) is no better than always "
                                           "answering the majority class 'positive' (65.0%)")


def test_a_teacher_one_point_above_the_majority_is_still_warned_and_a_good_one_is_not():
    # 100 texts, 60 positive. Teacher A: 61 right (61%, within 1 point of the majority's 60%).
    labels = [1] * 60 + [0] * 40
    a = [1] * 60 + [1] * 39 + [0]  # right on the 60 positives and 1 negative
    a[0] = 0  # one positive wrong...
    a[60] = 0  # ...one more negative right: 61 of 100, "positive" 97 times
    check = check_teacher(_logits(a), labels, [1, 1, 0], NAMES)
    assert check["validation_accuracy"] == 0.61 and check["predicted_share"] == 0.97
    assert len(check["warnings"]) == 2  # 97% one class, and within a point of the majority
    varied = [1] * 50 + [0] * 10 + [0] * 35 + [1] * 5  # 85 right of 100, 55% say positive
    good = check_teacher(_logits(varied), labels, [1, 1, 0], NAMES)
    assert good["validation_accuracy"] == 0.85 and good["predicted_share"] == 0.55 and good["warnings"] == []


def test_a_control_as_good_as_the_teacher_is_reported():
    line = control_warning(0.811, 0.830)
    assert line.startswith("the control alone reaches 83.0% on the test split against the teacher's 81.1%")
    assert control_warning(0.800, 0.796) is not None  # within half a point
    assert control_warning(0.843, 0.760) is None


def test_the_run_reports_a_stuck_teacher_before_the_student_trains(tiny_config, tmp_path):
    folder = make_tiny_classifier(tmp_path / "stuck-teacher")
    weights = load_file(str(folder / "model.safetensors"))
    weights["classifier.bias"] = torch.tensor([-20.0, 20.0])  # always the second label
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    events = []
    config = tiny_config.replace(teacher=tiny_config.teacher.__class__(model=str(folder)))
    results = run_experiment(config, tmp_path / "run", on_progress=events.append)
    phases = [e.phase for e in events]
    preflight = next(e for e in events if e.phase == "preflight")
    assert "warning: the teacher answers" in preflight.message
    assert phases.index("preflight") < phases.index("student")
    assert results["preflight"]["teacher_check"]["predicted_share"] == 1.0
    assert results["warnings"][:len(results["preflight"]["warnings"])] == results["preflight"]["warnings"]
    assert any(w.startswith("the teacher answers") for w in results["warnings"])
