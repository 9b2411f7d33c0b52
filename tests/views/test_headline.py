"""The report's and Compare's first screen: speed, size, quality kept and the teacher's help, on hand-made rows."""

from distill_core.views import headline

TEACHER = {"run_id": "r", "variant": "teacher", "metric": "accuracy", "accuracy": 0.84, "retention": 1.0,
           "weight_bytes": 90 * 2**20}
STUDENT = {"run_id": "r", "variant": "student", "metric": "accuracy", "accuracy": 0.805, "retention": 0.805 / 0.84,
           "weight_bytes": 36 * 2**20,
           "speedup_batch1": 2.0, "speedup_batch1_low": 1.9, "speedup_batch1_high": 2.1,
           "speedup_batch32": 3.06, "speedup_batch32_low": 3.0, "speedup_batch32_high": 3.16}
GAIN = {"quality": {"gain": {"metric": "accuracy", "mean": 0.049, "interval": [0.0167, 0.0813], "verdict": "helped",
                             "interval_method": "t over 3 seeds", "per_seed": [{}, {}, {}]}}}


def by_label(figures):
    return {f.label: f for f in figures}


def test_four_figures_from_the_student_and_teacher_rows_and_the_gain():
    f = by_label(headline.headline_figures([TEACHER, STUDENT], GAIN))
    assert list(f) == ["Speed", "Size", "Quality kept", "Did the teacher help?"]
    assert f["Speed"].value == "3.06x faster"  # the largest batch
    assert "batch 32" in f["Speed"].detail and "3.00-3.16x" in f["Speed"].detail
    assert f["Size"].value == "40% of the teacher"  # 36 / 90
    assert "36.0 MiB of weights vs 90.0 MiB" == f["Size"].detail
    assert f["Quality kept"].value == "95.8%"  # 80.5 / 84
    assert f["Quality kept"].detail.startswith("accuracy 80.50% vs the teacher's 84.00%")
    assert f["Did the teacher help?"].value == "The teacher helped"
    assert "+4.90 points (+1.67 to +8.13)" in f["Did the teacher help?"].detail
    assert "t over 3 seeds" in f["Did the teacher help?"].detail


def test_an_interval_holding_one_is_no_measurable_difference_and_slower_is_said():
    same = STUDENT | {"speedup_batch32": 1.02, "speedup_batch32_low": 0.97, "speedup_batch32_high": 1.08}
    assert by_label(headline.headline_figures([TEACHER, same], None))["Speed"].value == "no measurable difference"
    slow = STUDENT | {"speedup_batch32": 0.5, "speedup_batch32_low": 0.45, "speedup_batch32_high": 0.55}
    assert by_label(headline.headline_figures([TEACHER, slow], None))["Speed"].value == "2.00x slower"


def test_what_a_run_lacks_is_left_out():
    unmeasured = {k: v for k, v in STUDENT.items() if not k.startswith(("speedup", "weight"))}
    f = by_label(headline.headline_figures([TEACHER, unmeasured], None))
    assert list(f) == ["Quality kept"]
    assert headline.headline_figures([], None) == []
    assert list(by_label(headline.headline_figures([], GAIN))) == ["Did the teacher help?"]
