"""A sweep's trials side by side: one row per trial (its axis values, quality, retention, gain and speed), the
quality-vs-speed chart with the Pareto-optimal trials, the axes in parallel coordinates, the best trial per
constraint, the sweep's HTML report, and the Sweeps page's form read into a spec. Never streamlit: the Sweeps page
and the CLI call these; how a row reads as text is views/sweep_display.py.

Numbers come from the same places as for single runs: `compare.results_table` (quality, retention, the gain with
its interval and verdict, paired speedups from bench.json) and results.json's pre-flight. Quality is stored in the
metric's unit (fractions for accuracy: 0.86; perplexity as is) and drawn in its display unit (%). Speed is the
student's speedup over the teacher (teacher time / student time, x): *measured* (the paired rounds' ratio at the
largest measured batch, with its 95% interval) when the trial was measured, else *estimated from FLOPs* (teacher
FLOPs / student FLOPs per input, the ideal speedup); every row says which, so axes and tables label it honestly.
"""

from __future__ import annotations

import functools
import html
import time

import plotly.graph_objects as go

from distill_core.core.errors import ConfigError
from distill_core.core.run_files import read_json_or_none
from distill_core.measure import quality as quality_math
from distill_core.runs import store
from distill_core.sweeps import records
from distill_core.sweeps.spec import Axis, SweepSpec, axis_from_cli, spec_from_dict, value_text
from distill_core.views import charts, compare, display, verdict
from distill_core.views.report import figure_html, html_page, table_html
from distill_core.views.sweep_display import (ESTIMATED, MEASURED, axis_fields, best_table, config_text,
                                              config_value, metric_of, shown_quality, speed_axis_label, speed_text,
                                              tolerance_text, trial_table)
from distill_core.views.units import FRACTIONS, is_number, metric_text

PARETO_COLOR = charts.VARIANT_COLORS["student"]
OTHER_COLOR = charts.FALLBACK_COLOR
NO_RESULTS = "no trial has results yet"


# ---------------------------------------------------------------------------------------------------------------
# Rows


def sweep_axes(sweep: records.SweepRecord) -> list[str]:
    """The dotted config fields the sweep's spec varies, in its order."""
    return [a.field for a in sweep.spec.axes]


def _speed(student: dict, results: dict | None) -> dict:
    """The student's speedup over the teacher (x): measured at the largest batch with a paired comparison (as the
    report's headline), else the pre-flight FLOPs ratio."""
    columns = [c for c in display.speed_columns([student]) if c.startswith("speedup_batch")]
    if columns:
        column = max(columns, key=lambda c: int(c.rsplit("batch", 1)[1]))
        return {"speed": student[column], "speed_low": student.get(f"{column}_low"),
                "speed_high": student.get(f"{column}_high"), "speed_verdict": student.get(f"{column}_verdict"),
                "speed_basis": MEASURED, "speed_batch": int(column.rsplit("batch", 1)[1])}
    ratio = ((results or {}).get("preflight") or {}).get("flops_ratio")
    if is_number(ratio):
        return {"speed": float(ratio), "speed_low": None, "speed_high": None, "speed_verdict": None,
                "speed_basis": ESTIMATED, "speed_batch": None}
    return {"speed": None, "speed_low": None, "speed_high": None, "speed_verdict": None, "speed_basis": None,
            "speed_batch": None}


def _trial_row(record: store.RunRecord, fields: list[str], table_rows: list[dict]) -> dict:
    by_variant = {r["variant"]: r for r in table_rows if r.get("run_id") == record.id}
    teacher, student, control = (by_variant.get(v) or {} for v in ("teacher", "student", "control"))
    results = read_json_or_none(record.folder, "results.json")
    metric, higher = (student or teacher).get("metric"), (student or teacher).get("higher_is_better")
    # The axis fields sit between the run's keys and the quality keys (sweep_display.axis_fields reads them there).
    row = {"trial": (record.trial or 0) + 1, "run_id": record.id, "name": record.name, "status": record.status}
    row |= {f: config_value(record.config, f) for f in fields}
    row |= {"metric": metric, "higher_is_better": True if higher is None else bool(higher)}
    row |= {v: (r.get(metric) if metric else None) for v, r in (("teacher", teacher), ("student", student),
                                                               ("control", control))}
    retention = student.get("retention")
    if retention is None and is_number(row["student"]) and is_number(row["teacher"]):
        retention = quality_math.retention(row["student"], row["teacher"], row["higher_is_better"])
    row["retention"] = retention
    row |= {k: student.get(k) for k in ("distillation_gain", "distillation_gain_low", "distillation_gain_high",
                                        "verdict")}
    row["flops_ratio"] = ((results or {}).get("preflight") or {}).get("flops_ratio")
    return row | _speed(student, results)


def trial_rows(sweep_id: str) -> list[dict]:
    """One dict per trial run so far, in trial order: trial (1-based), run_id, name, status, each axis field's value
    (key: the dotted field), metric (the headline metric), higher_is_better, teacher / student / control (that
    metric, stored unit: a fraction for accuracy), retention (fraction of the teacher's quality: student / teacher,
    teacher / student for lower-is-better metrics), distillation_gain (+ `_low`/`_high`, its 95% interval, and
    verdict, when the run has them), flops_ratio (pre-flight, x) and the speed: speed (x over the teacher),
    speed_low/speed_high (its 95% interval, measured only), speed_basis (MEASURED | ESTIMATED | None) and
    speed_batch (the batch it was measured at). Trials without results have None in the quality and speed keys."""
    sweep = records.get_sweep(sweep_id)
    runs = records.trial_runs(sweep.id)
    with_results = [r.id for r in runs if (r.folder / "results.json").exists()]
    table_rows = compare.results_table(with_results).rows if with_results else []
    fields = sweep_axes(sweep)
    return [_trial_row(r, fields, table_rows) for r in runs]


def trials_ended(rows: list[dict]) -> int:
    """How many of the rows' trials have ended (done, failed, cancelled or interrupted)."""
    return sum(r.get("status") in store.FINISHED for r in rows)


# ---------------------------------------------------------------------------------------------------------------
# Figures


def _charted(rows: list[dict]) -> list[dict]:
    return [r for r in rows if shown_quality(r, "student") is not None and is_number(r.get("speed"))]


def pareto_trials(rows: list[dict]) -> list[int]:
    """The trial numbers on the Pareto front of student quality vs speed (faster and better: neither is beaten on
    both), fastest first."""
    points = _charted(rows)
    _, higher = metric_of(rows)
    # charts.pareto_front wants a lower-is-better cost: the negated speedup.
    front = charts.pareto_front([(-r["speed"], r["student"]) for r in points], higher)
    return [points[i]["trial"] for i in front]


def pareto_figure(rows: list[dict]) -> go.Figure:
    """Student quality (y, the metric's display unit) vs speedup over the teacher (x, the basis in the axis title)
    of every trial with both; the Pareto-optimal trials in the student colour and joined by a dashed line, the
    others grey; estimated speeds as open markers; the teacher as a dotted line at its quality and a diamond at
    1x. Hover: the trial's axis values."""
    points = _charted(rows)
    if not points:
        return charts.empty_figure(NO_RESULTS)
    metric, _ = metric_of(rows)
    q_label = charts.metric_label(metric)
    fields = axis_fields(rows)
    front = pareto_trials(points)
    fig = go.Figure()
    groups = ((True, "Pareto-optimal trials", PARETO_COLOR), (False, "other trials", OTHER_COLOR))
    for on_front, name, color in groups:
        mine = [r for r in points if (r["trial"] in front) == on_front]
        if not mine:
            continue
        fig.add_trace(go.Scatter(
            x=[r["speed"] for r in mine], y=[shown_quality(r, "student") for r in mine], mode="markers+text",
            name=name, text=[f"#{r['trial']}" for r in mine], textposition="top center",
            error_x=_speed_errors(mine),
            marker=dict(color=color, size=13, line=dict(width=2, color=color),
                        symbol=["circle" if r.get("speed_basis") == MEASURED else "circle-open" for r in mine]),
            customdata=[[r["trial"], html.escape(config_text(r, fields)), html.escape(speed_text(r))]
                        for r in mine],
            hovertemplate=(f"<b>trial %{{customdata[0]}}</b>: %{{customdata[1]}}<br>student {html.escape(q_label)}: "
                           "%{y:.2f}<br>speed: %{customdata[2]}<extra></extra>")))
    if len(front) > 1:
        line = sorted((r for r in points if r["trial"] in front), key=lambda r: r["speed"])
        fig.add_trace(go.Scatter(x=[r["speed"] for r in line], y=[shown_quality(r, "student") for r in line],
                                 mode="lines", name="Pareto front", hoverinfo="skip",
                                 line=dict(color=PARETO_COLOR, width=1.5, dash="dash")))
    teachers = sorted({shown_quality(r, "teacher") for r in points if shown_quality(r, "teacher") is not None})
    for i, value in enumerate(teachers):
        fig.add_hline(y=value, line=dict(color=charts.variant_color("teacher"), width=1.5, dash="dot"))
        fig.add_trace(go.Scatter(x=[1.0], y=[value], mode="markers", name="teacher", showlegend=i == 0,
                                 marker=dict(color=charts.variant_color("teacher"), symbol="diamond", size=12),
                                 hovertemplate=f"teacher: {html.escape(q_label)} %{{y:.2f}}, 1x<extra></extra>"))
    fig.update_xaxes(title_text=speed_axis_label(points), rangemode="tozero")
    fig.update_yaxes(title_text=f"student {q_label}")
    return charts.apply_layout(fig, "trials: quality vs speed (Pareto-optimal in colour)", height=480)


def _speed_errors(rows: list[dict]) -> dict | None:
    spans = [(r["speed"], r.get("speed_low"), r.get("speed_high")) for r in rows]
    if not any(low is not None and high is not None for _, low, high in spans):
        return None
    return dict(type="data", symmetric=False, visible=True, thickness=1.5, width=4, color="#444444",
                array=[max(0.0, h - v) if h is not None else None for v, _, h in spans],
                arrayminus=[max(0.0, v - lo) if lo is not None else None for v, lo, _ in spans])


def _is_numeric(values: list) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def parcoords_dimension(label: str, values: list) -> dict:
    """One go.Parcoords dimension: numbers as they are; anything else (strings, booleans, lists) as indices
    0, 1, ... in order of first appearance, with tickvals/ticktext naming them."""
    if _is_numeric(values):
        return dict(label=label, values=[float(v) for v in values])
    texts = [value_text(v) for v in values]
    levels = list(dict.fromkeys(texts))
    return dict(label=label, values=[levels.index(t) for t in texts], tickvals=list(range(len(levels))),
                ticktext=levels, range=[-0.25, len(levels) - 0.75] if len(levels) > 1 else [-1, 1])


def parallel_coordinates_figure(rows: list[dict], axes: list) -> go.Figure:
    """One line per trial with results: a dimension per axis (`axes`: dotted field names or spec.Axis) and then
    student quality (the metric's display unit) and speed (x over the teacher, basis in its label); lines coloured
    by quality."""
    points = _charted(rows)
    if not points:
        return charts.empty_figure(NO_RESULTS)
    metric, higher = metric_of(rows)
    fields = [a.field if isinstance(a, Axis) else str(a) for a in axes]
    quality = [shown_quality(r, "student") for r in points]
    dims = [parcoords_dimension(f, [r.get(f) for r in points]) for f in fields]
    dims.append(dict(label=f"student {charts.metric_label(metric)}", values=quality))
    dims.append(dict(label=speed_axis_label(points).replace(", ", "<br>", 1), values=[r["speed"] for r in points]))
    fig = go.Figure(go.Parcoords(dimensions=dims, line=dict(
        color=quality, colorscale="Viridis", reversescale=not higher, showscale=True,
        colorbar=dict(title=dict(text=f"student<br>{metric}")))))
    charts.apply_layout(fig, "trials across the axes (colour: student quality)", height=460)
    return fig.update_layout(margin=dict(l=80, r=80, t=110, b=40))


# ---------------------------------------------------------------------------------------------------------------
# Best trials


def _within(row: dict, tolerance_points: float) -> bool:
    """Whether the student is within the tolerance of its teacher: for a fraction metric (accuracy) at most N
    percentage points below; another higher-is-better metric: at most N of its unit below; a lower-is-better one
    (perplexity): at most N percent above the teacher's."""
    student, teacher, metric = row.get("student"), row.get("teacher"), row.get("metric") or ""
    if not is_number(student) or not is_number(teacher):
        return False
    if not row.get("higher_is_better", True):
        return student <= teacher * (1 + tolerance_points / 100) + 1e-12
    scale = 100.0 if metric in FRACTIONS else 1.0
    return (teacher - student) * scale <= tolerance_points + 1e-9


def _entry(constraint: str, row: dict | None, value, text: str, reason: str) -> dict:
    if row is None:
        return {"constraint": constraint, "trial": None, "run_id": None, "values": None, "value": None,
                "text": reason}
    return {"constraint": constraint, "trial": row["trial"], "run_id": row["run_id"], "values": config_text(row),
            "value": value, "text": text}


def best_trials(rows: list[dict], tolerance_points: float = 1.0) -> list[dict]:
    """The best trial per constraint, in this order:

    1. "fastest student within N of the teacher": the highest speed among trials whose student is within the
       tolerance of its teacher (N percentage points below for accuracy-like fractions, N of the metric's unit for
       other higher-is-better metrics, N percent above the teacher's for lower-is-better ones like perplexity);
       ties: the better student;
    2. "best student <metric>": the best student quality;
    3. "largest gain over the control": the largest positive distillation gain (a trial whose teacher hurt or did
       nothing does not qualify).

    Each entry: constraint (text), trial (1-based), run_id, values (the axis values as text), value (speed in x,
    quality or gain in the stored unit) and text (what to show); trial, run_id, values and value are None when no
    trial qualifies, and text then says why."""
    metric, higher = metric_of(rows)
    sign = 1.0 if higher else -1.0
    done = [r for r in rows if is_number(r.get("student"))]
    fast = [r for r in done if is_number(r.get("speed")) and _within(r, tolerance_points)]
    best_fast = max(fast, key=lambda r: (r["speed"], sign * r["student"]), default=None)
    best_quality = max(done, key=lambda r: sign * r["student"], default=None)
    gains = [r for r in done if is_number(r.get("distillation_gain")) and r["distillation_gain"] > 0]
    best_gain = max(gains, key=lambda r: r["distillation_gain"], default=None)
    within = tolerance_text(metric, higher, tolerance_points)
    return [
        _entry(f"fastest student within {within}", best_fast, best_fast and best_fast["speed"],
               best_fast and f"{speed_text(best_fast)}; student {metric_text(best_fast['student'], metric)} vs "
                             f"teacher {metric_text(best_fast['teacher'], metric)}",
               f"no trial's student is within {within}" if done else NO_RESULTS),
        _entry(f"best student {metric}", best_quality, best_quality and best_quality["student"],
               best_quality and _quality_pick_text(best_quality, metric), NO_RESULTS),
        _entry("largest gain over the control", best_gain, best_gain and best_gain["distillation_gain"],
               best_gain and _gain_text(best_gain, metric),
               "no trial's student beat its control" if done else NO_RESULTS),
    ]


def _quality_pick_text(row: dict, metric: str) -> str:
    kept = charts.fmt_number(charts.display_value("retention", row.get("retention")), 1)
    return f"{metric_text(row['student'], metric)} (retention {kept}%); {speed_text(row)}"


def _gain_text(row: dict, metric: str) -> str:
    return verdict.gain_cell(row["distillation_gain"], metric,
                             [row.get("distillation_gain_low"), row.get("distillation_gain_high")], row.get("verdict"))


# ---------------------------------------------------------------------------------------------------------------
# The Sweeps page's form


def spec_from_form(name: str, base: dict, axis_rows: list[tuple[str, str]], samples: int = 1,
                   seeds: int | None = None, runner: str = "local", address: str = "",
                   storage: str = "") -> SweepSpec:
    """A SweepSpec from the Sweeps page's fields: `base` (a RunConfig dict), axis rows (field, values as on the
    CLI: "1,2,4", "range(1,3,1)", "uniform(0.3,0.9)"; blank rows skipped), samples, seeds (None: the base's),
    runner "local" | "ray" with a Ray address and storage folder (blank: None). ConfigError names the field."""
    axes: dict[str, Axis] = {}
    for field_name, values in axis_rows:
        field_name, values = (field_name or "").strip(), (values or "").strip()
        if not field_name and not values:
            continue
        if not field_name:
            raise ConfigError(f"values {values!r} without a field: name the config field (like loss.temperature)",
                              "axes")
        if not values:
            raise ConfigError("no values: give a list (1,2,4), range(1,3,1) or uniform(0.3,0.9)",
                              f"axes.{field_name}")
        if field_name in axes:
            raise ConfigError("the same field twice", f"axes.{field_name}")
        axes[field_name] = axis_from_cli(f"{field_name}={values}")
    data = {"name": name, "axes": axes, "samples": samples, "seeds": seeds,
            "runner": {"kind": runner} | ({"address": address.strip() or None, "storage": storage.strip() or None}
                                          if runner == "ray" else {})}
    return spec_from_dict(data, base=base)


# ---------------------------------------------------------------------------------------------------------------
# The report


def report_filename(sweep_id: str) -> str:
    """distill-lab-sweep-<id>.html."""
    safe = "".join(ch for ch in str(sweep_id) if ch.isalnum() or ch in "-_")
    return f"distill-lab-sweep-{safe}.html"


def _spec_items(sweep: records.SweepRecord) -> list[tuple[str, str]]:
    spec, base, runner = sweep.spec, sweep.spec.base, sweep.spec.runner
    field = functools.partial(config_value, base)
    where = "the local worker queue" if runner.kind == "local" else \
        f"Ray at {runner.address or 'a local Ray instance'}, storage {runner.storage or 'the data folder'}"
    samples = f"{spec.samples} sample{'s' if spec.samples != 1 else ''} of the grid"
    items = [("sweep", f"{sweep.name} ({sweep.id})"),
             ("status", sweep.status + (f": {sweep.message}" if sweep.message else "")),
             ("task", str(base.get("task") or "")), ("teacher", str(field("teacher.model") or "")),
             ("student", str(field("student.kind") or "")),
             ("budget", f"{field('budget.value')} {field('budget.unit')}"),
             ("axes", "; ".join(a.describe() for a in spec.axes)),
             ("trials", f"{sweep.trials} ({samples}, random draws seeded {spec.draw_seed})"),
             ("training seeds per trial", str(spec.seeds if spec.seeds is not None else base.get("seeds"))),
             ("runs on", where), ("created", time.strftime("%Y-%m-%d %H:%M", time.localtime(sweep.created)))]
    return items + ([("error", sweep.error)] if sweep.error else [])


def sweep_report_html(sweep_id: str) -> str:
    """The sweep as one self-contained HTML page (plotly.js inline, opens offline): the spec and its axes, the best
    trial per constraint, the quality-vs-speed chart with the Pareto front, the parallel-coordinates chart, the
    trial table and the full spec. Unknown ids raise DistillLabError; user text is escaped."""
    e = html.escape
    sweep = records.get_sweep(sweep_id)
    rows = trial_rows(sweep.id)
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    items = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in _spec_items(sweep))
    body = [f"<h1>Distill Lab sweep: {e(sweep.name)}</h1><p class='meta'>Generated {e(generated)} · "
            f"{trials_ended(rows)} of {sweep.trials} trials ended</p>",
            f"<h2>Sweep</h2><div class='run'><dl>{items}</dl></div>",
            "<h2>Best trials</h2>", table_html(best_table(best_trials(rows))),
            f"<p class='meta'>Speed: {e(speed_axis_label(rows))}. A measured speedup is the median of paired "
            "rounds' ratios (teacher ms / student ms) with its 95% interval; an estimate from FLOPs is the ideal "
            "speedup, which real runs rarely reach.</p>",
            figure_html(pareto_figure(rows)),
            figure_html(parallel_coordinates_figure(rows, sweep_axes(sweep))),
            "<h2>Trials</h2>", table_html(trial_table(rows)) if rows else "<p class='note'>No trials yet.</p>",
            "<p class='meta'>Retention: the student's quality as a share of its teacher's. Distillation gain: the "
            "student's quality minus the control's (same architecture, data and budget, no teacher), with its 95% "
            "interval and verdict where the trial has them.</p>",
            "<h2>Spec</h2>",
            f"<details><summary>the sweep's full spec</summary><pre>{e(sweep.spec.to_json())}</pre></details>"]
    return html_page(f"Distill Lab sweep · {sweep.name}", body)
