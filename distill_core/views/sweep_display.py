"""How a sweep's trial rows (`views.sweeps.trial_rows`) read: their axis values, quality and speed as text, the
speed axis's honest label, and the display tables (trials, pre-flight estimate, best picks) as DataFrames of
strings. Never streamlit; the Sweeps page, the CLI and the sweep report show the same cells.

Speed is the student's speedup over the teacher (teacher time / student time, x), MEASURED (paired rounds) or
ESTIMATED (teacher FLOPs / student FLOPs per input); quality is stored in the metric's unit (accuracy as a fraction)
and shown through views/units.py (% for fractions).
"""

from __future__ import annotations

import pandas as pd

from distill_core.measure import comparisons
from distill_core.sweeps.spec import value_text, values_label
from distill_core.views import charts, display, verdict
from distill_core.views.run_ids import short_id
from distill_core.views.units import FRACTIONS, is_number, metric_text

MEASURED = "measured"
ESTIMATED = "estimated from FLOPs"


# ---------------------------------------------------------------------------------------------------------------
# Reading a row


def config_value(config: dict | None, dotted: str):
    """The value at a dotted field of a config dict ("loss.temperature"), None where it has none."""
    node = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def metric_of(rows: list[dict]) -> tuple[str, bool]:
    """(headline metric, higher is better) of the trials (the default task's when no trial has results)."""
    row = next((r for r in rows if r.get("metric")), {})
    return row.get("metric") or display.row_metric({}), bool(row.get("higher_is_better", True))


def axis_fields(rows: list[dict]) -> list[str]:
    """The axis fields of trial rows (the keys between the run's own and the quality keys)."""
    if not rows:
        return []
    keys = list(rows[0])
    return keys[keys.index("status") + 1:keys.index("metric")]


def config_text(row: dict, fields: list[str] | None = None) -> str:
    """A trial's axis values, "temperature=2, alpha=0.5" (last part of each field name), as the trial names read."""
    fields = axis_fields([row]) if fields is None else fields
    return values_label({f: row.get(f) for f in fields})


def shown_quality(row: dict, key: str) -> float | None:
    """The row's teacher / student / control quality in its display unit (% for a fraction metric), or None."""
    return charts.display_value(row.get("metric") or "", row.get(key))


# ---------------------------------------------------------------------------------------------------------------
# Speed


def speed_basis(rows: list[dict]) -> str | None:
    """MEASURED when every trial with a speed was measured, ESTIMATED when none was, "mixed" otherwise; None when
    no trial has a speed yet."""
    bases = {r.get("speed_basis") for r in rows if is_number(r.get("speed"))}
    if not bases:
        return None
    return bases.pop() if len(bases) == 1 else "mixed"


def speed_axis_label(rows: list[dict]) -> str:
    """The speed axis title, saying where the numbers come from: "student speedup over the teacher (x), measured at
    batch 32", "... (x), estimated from FLOPs (teacher FLOPs / student FLOPs)", or, for a mix, which marker is
    which."""
    basis = speed_basis(rows)
    head = "student speedup over the teacher (x)"
    if basis == MEASURED:
        batches = sorted({r["speed_batch"] for r in rows if r.get("speed_batch")})
        return f"{head}, measured at batch {', '.join(map(str, batches))}"
    if basis == ESTIMATED:
        return f"{head}, estimated from FLOPs (teacher FLOPs / student FLOPs)"
    if basis == "mixed":
        return f"{head}: filled = measured, open = estimated from FLOPs"
    return head


def speed_text(row: dict) -> str:
    """"3.12x (2.98-3.25), measured at batch 32", "no measurable difference (0.97-1.04), ...", "2.9x, estimated
    from FLOPs"; "–" without a speed."""
    if not is_number(row.get("speed")):
        return "–"
    if row.get("speed_basis") == MEASURED:
        where = f", measured at batch {row['speed_batch']}"
        if row.get("speed_low") is None or row.get("speed_high") is None:
            return f"{row['speed']:.2f}x{where}"
        return comparisons.speed_text({"ratio": row["speed"], "low": row["speed_low"], "high": row["speed_high"],
                                       "verdict": row.get("speed_verdict")}) + where
    return f"{row['speed']:.2f}x, {ESTIMATED}"


# ---------------------------------------------------------------------------------------------------------------
# Tables


def trial_table(rows: list[dict]) -> pd.DataFrame:
    """The trial rows for display (strings): trial, the axis values, status, teacher / student / control quality
    (% for a fraction metric), retention (%), the distillation gain with its interval and verdict, the speed with
    its basis, and the run's short id."""
    metric, _ = metric_of(rows)
    fields = axis_fields(rows)
    data = []
    for r in rows:
        data.append([r["trial"], *(value_text(r.get(f)) for f in fields), r["status"],
                     *(metric_text(r.get(v), metric) for v in ("teacher", "student", "control")),
                     charts.fmt_number(charts.display_value("retention", r.get("retention")), 1),
                     verdict.gain_cell(r.get("distillation_gain"), metric,
                                       [r.get("distillation_gain_low"), r.get("distillation_gain_high")],
                                       r.get("verdict")),
                     speed_text(r), short_id(r["run_id"])])
    columns = ["trial", *fields, "status", f"teacher {metric}", f"student {metric}", f"control {metric}",
               "retention (%)", "distillation gain", "speedup over teacher", "run"]
    return pd.DataFrame(data, columns=columns)


def estimate_table(estimate) -> pd.DataFrame:
    """A sweeps.estimate.SweepEstimate's trials for display: trial (1-based), its axis values, FLOPs ratio and size
    ratio (teacher / student, x), student parameters (M), trainings (student and control runs) and estimated
    minutes ("–" without an estimate)."""
    data = [[t.index + 1, t.label, f"{t.flops_ratio:.1f}x", f"{t.size_ratio:.1f}x",
             f"{t.student_parameters / 1e6:.1f}", getattr(t, "trainings", None),
             "–" if t.seconds is None else f"{t.seconds / 60:.1f}"] for t in estimate.trials]
    return pd.DataFrame(data, columns=["trial", "values", "fewer FLOPs (x)", "smaller (x)", "student params (M)",
                                       "trainings", "estimated minutes"])


def estimate_summary(estimate) -> str:
    """One line: the total estimated time (minutes) with the teacher's preparation, or why there is none."""
    n = len(estimate.trials)
    teacher = estimate.teacher_seconds
    teacher_text = f" (the teacher's preparation {teacher / 60:.1f} min of it, once)" if teacher is not None else ""
    if estimate.total_seconds is None:
        return f"{n} trial{'s' if n != 1 else ''}; no total: a trial's time cannot be estimated."
    return f"{n} trial{'s' if n != 1 else ''}, about {estimate.total_seconds / 60:.0f} min in all{teacher_text}."


def tolerance_text(metric: str, higher_is_better: bool, tolerance_points: float) -> str:
    """"1 point of the teacher's accuracy", "1% of the teacher's perplexity", "0.5 macro_f1 of the teacher's"."""
    n = f"{tolerance_points:g}"
    if not higher_is_better:
        return f"{n}% of the teacher's {metric}"
    if metric in FRACTIONS:
        return f"{n} point{'s' if tolerance_points != 1 else ''} of the teacher's {metric}"
    return f"{n} {metric} of the teacher's"


def best_table(best: list[dict]) -> pd.DataFrame:
    """best_trials as display strings: constraint, trial ("–" when none qualifies), its axis values, the figures."""
    return pd.DataFrame([[b["constraint"], "–" if b["trial"] is None else f"#{b['trial']}", b["values"] or "–",
                          b["text"]] for b in best], columns=["constraint", "trial", "values", "result"])
