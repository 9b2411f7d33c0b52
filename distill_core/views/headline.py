"""A run's answer in four figures, for the first screen of the report and of Compare: how much faster the student
is than the teacher, how much smaller, how much of the teacher's quality it keeps, and whether the teacher helped
(the gain over the control with its interval and verdict). Built from the comparison table's rows of one run
(`compare.results_table([id]).rows`) and its results dict, so each figure is the one the tables show."""

from __future__ import annotations

from dataclasses import dataclass

from distill_core.views import display, verdict
from distill_core.views.charts import display_value
from distill_core.views.units import FRACTIONS


@dataclass(frozen=True)
class Figure:
    label: str  # what is asked: "Speed", "Size", "Quality kept", "Did the teacher help?"
    value: str  # the answer, big: "3.06x faster"
    detail: str  # where it comes from, small: "95% interval 3.00-3.16x, batch 32, student vs teacher"


def _row(rows: list[dict], variant: str) -> dict | None:
    return next((r for r in rows if r.get("variant") == variant), None)


def _speed(student: dict) -> Figure | None:
    """The student's paired speedup over the teacher at its largest measured batch."""
    columns = [c for c in display.speed_columns([student]) if c.startswith("speedup_batch")]
    if not columns:
        return None
    column = max(columns, key=lambda c: int(c.rsplit("batch", 1)[1]))
    batch = column.rsplit("batch", 1)[1]
    ratio, low, high = student[column], student.get(f"{column}_low"), student.get(f"{column}_high")
    if low is None or high is None:
        return Figure("Speed", f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower",
                      f"teacher ms / student ms at batch {batch}")
    if low <= 1.0 <= high:
        value = "no measurable difference"
    else:
        value = f"{ratio:.2f}x faster" if ratio > 1 else f"{1 / ratio:.2f}x slower"
    return Figure("Speed", value, f"teacher ms / student ms at batch {batch}, 95% interval {low:.2f}-{high:.2f}x "
                                  "(interleaved rounds)")


def _size(student: dict, teacher: dict) -> Figure | None:
    s, t = student.get("weight_bytes"), teacher.get("weight_bytes")
    if not s or not t:
        return None
    return Figure("Size", f"{s / t:.0%} of the teacher",
                  f"{display_value('weight_bytes', s):.1f} MiB of weights vs {display_value('weight_bytes', t):.1f} MiB")


def _quality(student: dict, teacher: dict) -> Figure | None:
    metric = display.row_metric(student)
    kept = student.get("retention")
    if kept is None:
        return None
    unit = "%" if metric in FRACTIONS else ""
    s, t = display_value(metric, student.get(metric)), display_value(metric, teacher.get(metric))
    detail = f"{metric.replace('_', ' ')} {s:.2f}{unit} vs the teacher's {t:.2f}{unit}" if s is not None and \
        t is not None else f"{metric.replace('_', ' ')} as a share of the teacher's"
    return Figure("Quality kept", f"{kept:.1%}", detail + " (held-out split)")


def _gain(results: dict | None) -> Figure | None:
    gain = verdict.gain_of(results)
    if gain is None:
        return None
    words = gain.get("verdict_text") or verdict.verdict_text(gain.get("verdict"))
    method = f", {gain['interval_method']}" if gain.get("interval_method") else ""
    return Figure("Did the teacher help?", words.capitalize() if words else "–",
                  f"student minus control {verdict.gain_cell(gain.get('mean'), gain['metric'], gain.get('interval'))}"
                  f" ({verdict.confidence_label(gain)}{method})")


def headline_figures(rows: list[dict], results: dict | None) -> list[Figure]:
    """Speed, size, quality kept and the teacher's help for one run, each where the run has what it needs (a
    measured student and teacher; results with a gain report)."""
    student, teacher = _row(rows, "student"), _row(rows, "teacher")
    figures = []
    if student and teacher:
        figures += [_speed(student), _size(student, teacher), _quality(student, teacher)]
    figures.append(_gain(results))
    return [f for f in figures if f is not None]
