"""The unit a quality number is shown in, for every view: metrics stored as fractions of 1 (accuracy, agreement...)
show in %, and a gain or an interval in them reads in percentage points; any other metric (perplexity) keeps its own
unit and is named. A table keyed by metric name, not by task.
"""

from __future__ import annotations

import math

# Metrics stored as fractions of 1: shown in %, a gain in them is in percentage points.
FRACTIONS = frozenset({"accuracy", "macro_f1", "ece", "agreement", "retention"})


def is_number(value) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def gain_text(gain: float | None, metric: str, digits: int = 2) -> str:
    """A distillation gain with its unit: percentage points for a fraction metric (stored 0..1), else the metric's
    own unit, named ("+3.00 points", "+31.30 perplexity"); "–" when missing."""
    if not is_number(gain):
        return "–"
    return f"{gain * 100:+.{digits}f} points" if metric in FRACTIONS else f"{gain:+.{digits}f} {metric}"


def interval_text(interval, metric: str, digits: int = 2) -> str:
    """A (low, high) interval of a gain, signed, in the gain's display unit without naming it (the gain beside it
    does): "+0.50 to +4.10" for (0.005, 0.041) in accuracy; "–" when missing."""
    if not isinstance(interval, (list, tuple)) or len(interval) != 2 or not all(map(is_number, interval)):
        return "–"
    scale = 100.0 if metric in FRACTIONS else 1.0
    return f"{interval[0] * scale:+.{digits}f} to {interval[1] * scale:+.{digits}f}"


def metric_text(value: float | None, metric: str, digits: int = 2) -> str:
    """A metric's value as shown: "77.40%" for a fraction, "171.80" otherwise; "–" when missing."""
    if not is_number(value):
        return "–"
    return f"{value * 100:.{digits}f}%" if metric in FRACTIONS else f"{value:.{digits}f}"


def gain_order(higher_is_better: bool) -> str:
    """How the gain was computed (so that positive means the teacher helped), for labels: "student - control"
    when higher is better, else "control - student"."""
    return "student - control" if higher_is_better else "control - student"
