"""The classification presets: what each promises in its description is what its config does."""

from __future__ import annotations

from distill_core.tasks import presets
from distill_core.tasks.classification.data import load_splits
from distill_core.tasks.classification.teacher import teacher_fingerprint


def test_the_quality_preset_reuses_the_workshop_teacher():
    """Its description says so: the teacher's fingerprint (what its cache is keyed by) is the workshop preset's, so a
    lab that ran the workshop preset starts the quality preset without fine-tuning the teacher again."""
    workshop, quality = presets.get_preset("reviews-sentiment"), presets.get_preset("reviews-quality")
    splits = load_splits(quality.data, quality.data.seed)
    assert teacher_fingerprint(quality, splits) == teacher_fingerprint(workshop, load_splits(workshop.data,
                                                                                             workshop.data.seed))
    changed = presets.get_preset("reviews-quality")
    changed.budget.eval_every = 100  # the fine-tune picks its checkpoint at this cadence: another teacher
    assert teacher_fingerprint(changed, splits) != teacher_fingerprint(quality, splits)


def test_the_quality_preset_trains_a_four_layer_student_on_every_label_with_a_fair_control():
    quality = presets.get_preset("reviews-quality")
    assert quality.student.layers == [1, 2, 3, 5] and quality.student.init_from == "teacher"
    assert quality.data.student_labels is None and quality.control  # all labels, for student and control alike
    assert quality.learning_rate_candidates == [quality.learning_rate]
