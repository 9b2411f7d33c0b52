"""Display tables for the dashboard and the HTML report: DataFrames of strings, units in the headers, never
streamlit. Built from the comparison table's rows (`compare.results_table(...).rows`) or a results dict, so the
Compare page and the report show the same cells.

A number whose row carries its uncertainty shows it: a latency "6.12 (5.98–6.30)" (its p50's 95% interval), a gain
"+2.30 points (+0.50 to +4.10), the teacher helped" (its interval over seeds and the verdict), a speedup "3.12x
(2.98-3.25)", or "no measurable difference (0.97-1.04)" when its interval holds 1.0 (measure/comparisons.py).
"""

from __future__ import annotations

import re

import pandas as pd

from distill_core.core.variants import RUNTIME_LABELS
from distill_core.measure import comparisons
from distill_core.views import tables, verdict
from distill_core.views.charts import display_value, fmt_number, interval_of, metric_label, run_labels

RETENTION_COLUMNS = ["run", "variant", "quality", "retention (%)", "agreement (%)", "distillation gain"]
# A row's speed comparisons (compare.interval_columns): reference -> the column prefix, in display order.
SPEED_PREFIXES = {"speedup": "speedup over teacher", "vs_control": "student vs control"}
_SPEED = re.compile(r"^(speedup|vs_control)(?:_([a-z][a-z0-9-]*))?_batch(\d+)$")  # prefix, setting (not "real"), batch
_PARTS = ("_low", "_high", "_verdict")  # a column's interval and verdict: shown inside that column's cell
_NOT_SHOWN = {"run_id", "name", "status", "variant", "runtime", "bench_error", "verdict"}
_TABLE_DIGITS = {"threads": 0, "seeds": 0, "accuracy": 2, "macro_f1": 2, "ece": 2, "agreement": 1, "retention": 1,
                 "kl_from_teacher": 4, "perplexity": 2, "distillation_gain": 2, "peak_memory_mib": 1,
                 "weight_bytes": 1, "parameters": 2, "flops_per_input": 3, "throughput_per_s": 1,
                 "decode_tokens_per_s": 1, "repeated_4grams": 0}


def row_metric(row: dict) -> str:
    """The headline quality metric of a comparison-table row's run (the row's "metric"; rows without one are the
    default task's, as older classification results are)."""
    return row.get("metric") or tables.task_of(None).quality.metric


def gain_text(row: dict) -> str:
    """The student row's distillation gain with its unit, from the row's metric (percentage points for a fraction,
    else the metric's own unit, named; perplexity: control - student), its 95% interval and the verdict when the
    run has them: "+2.30 points (+0.50 to +4.10), the teacher helped"."""
    return verdict.gain_cell(row.get("distillation_gain"), row_metric(row),
                             [row.get("distillation_gain_low"), row.get("distillation_gain_high")], row.get("verdict"))


def _quality_of(row: dict) -> str:
    metric = row_metric(row)
    value = display_value(metric, row.get(metric))
    if value is None:
        return "–"
    return f"{value:.2f}{'%' if metric in tables.FRACTIONS else ''} {metric}"


def retention_table(rows: list[dict]) -> pd.DataFrame:
    """run, variant, quality (the row's headline metric: % for a fraction, else as is), retention (%), agreement
    (%), distillation gain (see gain_text; on the student row) as display strings; one row per comparison-table
    row."""
    names = run_labels(rows)
    out = []
    for r in rows:
        out.append([names[str(r.get("run_id"))], r.get("variant"), _quality_of(r),
                    fmt_number(display_value("retention", r.get("retention")), 1),
                    fmt_number(display_value("agreement", r.get("agreement")), 1), gain_text(r)])
    return pd.DataFrame(out, columns=RETENTION_COLUMNS)


def value_text(row: dict, column: str, digits: int = 2) -> str:
    """A cell of `column` in the unit its label shows, with its 95% interval when the row has one:
    "6.12 (5.98–6.30)"; "–" when missing."""
    value = display_value(column, row.get(column))
    span = interval_of(row, column)
    text = fmt_number(value, digits)
    return f"{text} ({fmt_number(span[0], digits)}–{fmt_number(span[1], digits)})" if span and value is not None \
        else text


def comparison_table(rows: list[dict]) -> pd.DataFrame:
    """The comparison table for display: run, variant, then every measured column with a unit in its header
    (labels from metric_label, values scaled as labelled, intervals in the cell, missing "–"). Columns nobody has
    are left out; speed comparisons are speed_table's."""
    columns = []  # the table's own column order, keeping columns that some row has a value for
    for r in rows:
        columns += [c for c in r if c not in _NOT_SHOWN and c not in columns]
    columns = [c for c in columns if not c.endswith(_PARTS) and not _SPEED.match(c)
               and any(display_value(c, r.get(c)) is not None for r in rows)]
    names = run_labels(rows)
    runtimes = any((r.get("runtime") or "pytorch") != "pytorch" for r in rows)  # a column only when they differ
    data = []
    for r in rows:
        cells = [names[str(r.get("run_id"))], r.get("variant")]
        cells += [RUNTIME_LABELS.get(r.get("runtime") or "pytorch", r.get("runtime"))] if runtimes else []
        cells += [gain_text(r) if c == "distillation_gain" else value_text(r, c, _TABLE_DIGITS.get(c, 2))
                  for c in columns]
        data.append(cells)
    return pd.DataFrame(data, columns=["run", "variant"] + (["runtime"] if runtimes else [])
                        + [metric_label(c) for c in columns])


def speed_columns(rows: list[dict]) -> list[str]:
    """The speed comparisons the rows hold (`speedup_batch{B}`, `speedup_decode_batch{B}`, `vs_control_batch{B}`):
    over the teacher first, then by setting (real inputs first) and batch size."""
    found = {c for r in rows for c in r if _SPEED.match(c) and r.get(c) is not None}
    order = list(SPEED_PREFIXES)

    def key(column: str):
        prefix, setting, batch = _SPEED.match(column).groups()
        return order.index(prefix), setting or "", int(batch)

    return sorted(found, key=key)


def speed_label(column: str) -> str:
    """"speedup over teacher, batch 32 (x)" for speedup_batch32; "speedup over teacher, decode, batch 1 (x)" for
    speedup_decode_batch1."""
    prefix, setting, batch = _SPEED.match(column).groups()
    return f"{SPEED_PREFIXES[prefix]}{f', {setting}' if setting else ''}, batch {batch} (x)"


def speed_text(row: dict, column: str) -> str:
    """One speed cell: "3.12x (2.98-3.25)", or "no measurable difference (0.97-1.04)" when the interval holds 1.0;
    "–" when the row has no such comparison."""
    if row.get(column) is None:
        return "–"
    if row.get(f"{column}_low") is None or row.get(f"{column}_high") is None:
        return f"{row[column]:.2f}x"
    return comparisons.speed_text({"ratio": row[column], "low": row.get(f"{column}_low"),
                                   "high": row.get(f"{column}_high"), "verdict": row.get(f"{column}_verdict")})


def speed_table(rows: list[dict]) -> pd.DataFrame:
    """Speed from paired rounds (bench.json "comparisons", real inputs): per run and variant that has one, its
    speedup over the teacher at each batch size (teacher ms / variant ms, > 1 = faster) with the 95% interval, and
    the student against the control (same architecture: the noise floor). Empty (no rows) for older measurements."""
    columns = speed_columns(rows)
    names = run_labels(rows)
    data = [[names[str(r.get("run_id"))], r.get("variant")] + [speed_text(r, c) for c in columns]
            for r in rows if any(r.get(c) is not None for c in columns)]
    return pd.DataFrame(data, columns=["run", "variant"] + [speed_label(c) for c in columns])


def seed_table(results: dict | None) -> pd.DataFrame | None:
    """A run's per-seed gain (views/verdict.py seed_rows) as a table; None when the run has no gain report."""
    gain = verdict.gain_of(results)
    if gain is None:
        return None
    return pd.DataFrame(verdict.seed_rows(gain), columns=verdict.seed_columns(gain))
