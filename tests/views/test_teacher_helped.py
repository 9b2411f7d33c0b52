"""Where the teacher helped: examples split by who got them right, with the teacher's soft targets, on a hand-made
test_outputs.json whose answers are known."""

import math

import pytest

from distill_core.core.atomic import write_json
from distill_core.core.errors import DistillLabError
from distill_core.views import teacher_helped

LN3 = math.log(3)  # logits (ln 3, 0) give probabilities (75%, 25%)
DATA = {
    "seed": 7,
    "label_names": ["good", "bad", "meh"],
    "texts": ["a", "b", "c", "d", "e"],
    "labels": [0, 1, 2, 0, 1],
    # example: a: student right, control wrong; b: control right, student wrong; c: both right; d: both wrong;
    # e: student right, control wrong but barely
    "outputs": {
        "student": [[LN3, 0, 0], [0, 0, 2], [0, 0, 2], [0, 2, 0], [0, 1, 0.9]],
        "control": [[0, 2, 0], [0, 2, 0], [0, 0, 2], [0, 0, 2], [0, 0.9, 1]],
        "teacher": [[2 * LN3, 0, -50], [0, 2, 0], [0, 0, 2], [2, 0, 0], [0, 2, 0]],
    },
}


def test_counts_split_examples_by_who_is_right():
    d = teacher_helped.disagreements_of(DATA, temperature=2.0)
    assert d.counts == {"student_only": 2, "control_only": 1, "both": 1, "neither": 1}
    assert d.examples == 5 and d.seed == 7
    assert list(d.tables["student_only"]["text"]) == ["a", "e"]  # a's gap is larger than e's
    assert list(d.tables["control_only"]["text"]) == ["b"]
    assert "net +1, +20.0% of the examples" in d.summary()


def test_soft_targets_are_the_teachers_probabilities_at_the_runs_temperature():
    d = teacher_helped.disagreements_of(DATA, temperature=2.0)
    row = d.tables["student_only"].iloc[0]
    # teacher logits (2 ln 3, 0, -50) / T=2 -> (ln 3, 0, -25): 75%, 25%, ~0%
    assert row["teacher's soft targets (T=2)"] == "good 75% · bad 25% · meh 0%"
    assert row["teacher"] == "good 90%"  # at T=1: 9 / (9 + 1)
    assert row["student"] == "good 60%"  # (3, 1, 1) / 5
    assert row["control"] == "bad 79%"
    assert row["true class"] == "good"


def test_filter_by_true_class():
    d = teacher_helped.disagreements_of(DATA, temperature=1.0, label="bad")
    assert d.counts == {"student_only": 1, "control_only": 1, "both": 0, "neither": 0}
    assert list(d.tables["student_only"]["text"]) == ["e"]
    assert "of class 'bad'" in d.summary()


def test_unknown_class_is_refused():
    with pytest.raises(DistillLabError, match="not one of the run's classes"):
        teacher_helped.disagreements_of(DATA, temperature=1.0, label="nope")


def test_run_without_outputs_has_none(tmp_path):
    write_json(tmp_path / "results.json", {"config": {"loss": {"temperature": 4}}})
    assert teacher_helped.disagreements(str(tmp_path)) is None
    write_json(tmp_path / "test_outputs.json", DATA)
    d = teacher_helped.disagreements(str(tmp_path))
    assert d.temperature == 4.0 and d.counts["student_only"] == 2
