"""The terminal's progress bars (cli/progress.py)."""

import io

from distill_core.cli.progress import ProgressBar
from distill_core.core.progress import ProgressEvent


def test_a_note_without_steps_then_the_steps_get_a_bar_counted_in_steps():
    bar = ProgressBar(io.StringIO())
    bar(ProgressEvent("student", 0, None, 0.0, message="2 student trainings, 2 at once on one torch thread each"))
    assert bar.bar.total == 100 and bar.bar.unit == "%"
    for step in (1, 2, 3):
        bar(ProgressEvent("student", step, 120, step / 120, metrics={"loss": 0.5}))
    assert (bar.bar.unit, bar.bar.total, bar.bar.n) == ("step", 120, 3)
    bar(ProgressEvent("student", 1, 120, 1 / 120))  # the next seed's training: a new bar from its first step
    assert (bar.bar.total, bar.bar.n) == (120, 1)
    bar.close()
