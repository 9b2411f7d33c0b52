"""The Learn page's numbers: temperature-softened targets, dark knowledge, KL vs cross-entropy."""

import math

import pytest

from distill_core.views import learn


def test_higher_temperature_flattens_and_keeps_the_order():
    logits = [3.0, 1.0, -2.0]
    cold, warm = learn.soft_targets(logits, 1.0), learn.soft_targets(logits, 5.0)
    assert sum(warm) == pytest.approx(1.0)
    assert learn.entropy_bits(warm) > learn.entropy_bits(cold)
    assert sorted(range(3), key=warm.__getitem__) == sorted(range(3), key=cold.__getitem__)
    assert learn.soft_targets(logits, 1e6) == pytest.approx([1 / 3] * 3, abs=1e-5)


def test_entropy_bits_of_one_hot_and_uniform():
    assert learn.entropy_bits([1.0, 0.0]) == 0.0
    assert learn.entropy_bits([0.25] * 4) == pytest.approx(2.0)


def test_dark_knowledge_lists_the_wrong_labels_by_probability():
    dark = learn.dark_knowledge(["cat", "dog", "car"], [0.7, 0.25, 0.05])
    assert dark == [("dog", 0.25), ("car", 0.05)]


def test_kl_is_zero_when_the_student_matches_the_teacher_and_ce_is_not():
    logits = [2.0, 0.5, -1.0]
    same = learn.compare_losses(logits, logits, label=0, temperature=2.0)
    assert same.kl_soft == pytest.approx(0.0, abs=1e-12)
    assert same.cross_entropy == pytest.approx(-math.log(learn.soft_targets(logits, 1.0)[0]))


def test_kl_is_scaled_by_t_squared():
    t, s = [2.0, 0.0], [0.0, 1.0]
    p, q = learn.soft_targets(t, 3.0), learn.soft_targets(s, 3.0)
    kl = sum(a * math.log(a / b) for a, b in zip(p, q))
    assert learn.compare_losses(t, s, 0, 3.0).kl_soft == pytest.approx(kl * 9)


def test_temperature_must_be_positive():
    with pytest.raises(ValueError):
        learn.soft_targets([1.0], 0.0)


def test_most_ambiguous_picks_the_text_with_the_strongest_runner_up():
    sure, torn, middling = [5.0, 0.0, 0.0], [1.0, 0.9, -3.0], [2.0, 0.5, 0.0]
    assert learn.most_ambiguous([sure, torn, middling]) == 1
    assert learn.second_best([0.2, 0.7, 0.1]) == 0.2 and learn.second_best([1.0]) == 0.0


def test_dark_knowledge_note_ranks_the_wrong_labels_when_there_are_many():
    dark = learn.dark_knowledge(["arts", "humanities", "engineering"], [0.6, 0.3, 0.1])
    note = learn.dark_knowledge_note(dark, 4.0)
    assert note.startswith("With 3 classes") and "humanities, 30.0%" in note and "engineering, 10.0%" in note


def test_dark_knowledge_note_says_two_classes_carry_little():
    note = learn.dark_knowledge_note(learn.dark_knowledge(["great", "other"], [0.8, 0.2]), 2.0)
    assert note.startswith("With two classes") and "other at 20.0%" in note
