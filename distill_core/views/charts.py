"""Figures for the dashboard and the HTML report: plotly only, never streamlit (their tables: views/display.py).

Inputs are the comparison table's rows (`compare.results_table(...).rows`: one dict per run x variant, missing
cells None), a run's history.json, or plain lists. Every builder returns a figure and never raises on missing data:
an empty input gives a figure that says so. A value whose row carries its 95% interval (`<column>_low`/`_high`,
e.g. a latency p50) is drawn with an error bar, in the unit of the drawn value. Colours are fixed per variant (`VARIANT_COLORS`), so a
variant looks the same in every chart, on every page and in the report.

Units: quality fractions (accuracy, macro-F1, agreement, retention) are shown in %, weight bytes in MiB, times in
ms; the axis titles say so (`metric_label`).
"""

from __future__ import annotations

import html
import math
import re

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from distill_core.core.variants import base_variant, order_key, runtime_of, variant_label
from distill_core.views import tables
from distill_core.views.learn import soft_targets

# Okabe-Ito (colour-blind safe): teacher blue, student vermillion; their int8 versions the related lighter hue.
VARIANT_COLORS: dict[str, str] = {
    "teacher": "#0072B2",
    "teacher-int8": "#56B4E9",
    "student": "#D55E00",
    "student-int8": "#E69F00",
    "control": "#009E73",
}
FALLBACK_COLOR = "#8C8C8C"
VARIANT_SYMBOLS = {"teacher": "diamond", "teacher-int8": "diamond-open", "student": "circle",
                   "student-int8": "circle-open", "control": "square"}
# A variant on ONNX Runtime keeps its model's colour and marker, with a dot in the middle.
RUNTIME_SYMBOL_SUFFIX = {"pytorch": "", "onnxruntime": "-dot"}

# column -> (axis label with unit, higher is better)
QUALITY_METRICS: dict[str, tuple[str, bool]] = {
    "accuracy": ("accuracy (%)", True),
    "macro_f1": ("macro-F1 (%)", True),
    "agreement": ("agreement with teacher (%)", True),
    "retention": ("retention of teacher quality (%)", True),
    "perplexity": ("perplexity", False),
    "kl_from_teacher": ("KL(teacher || variant) (nats)", False),
}
LATENCY_METRICS: dict[str, tuple[str, bool]] = {
    "p50_ms_batch1": ("latency p50, batch 1 (ms)", False),
    "p50_ms_batch32": ("latency p50, batch 32 (ms)", False),
    "prefill_ms": ("prefill latency p50 (ms)", False),
    "decode_tokens_per_s": ("decode speed (tokens/s)", True),
    "throughput_per_s": ("throughput (inputs/s)", True),
    "peak_memory_mib": ("peak memory (MiB)", False),
    "weight_bytes": ("weights (MiB)", False),
}
_P50_BATCH = re.compile(r"^p50_ms_batch(\d+)$")
# Stored value x scale = shown value: fractions become %, bytes become MiB.
_SCALE = {c: 100.0 for c in tables.FRACTIONS} | {"weight_bytes": 1 / 2**20}
_OTHER_LABELS = {"parameters": "parameters (M)", "flops_per_input": "GFLOPs per input", "ece": "calibration error (%)",
                 "distillation_gain": "distillation gain",
                 "repeated_4grams": "repeated 4-grams, held-out starts (%)"}  # cells carry the unit: see gain_text
_SCALE |= {"parameters": 1e-6, "flops_per_input": 1e-9, "distillation_gain": 100.0, "repeated_4grams": 100.0}

FONT = "Inter, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
EMPTY_MESSAGE = "no measured variants yet"


# ---------------------------------------------------------------------------------------------------------------
# Colours, labels, layout


def variant_color(variant: str) -> str:
    """The variant's colour (on any runtime: its eager variant's); grey for a variant outside VARIANT_COLORS."""
    return VARIANT_COLORS.get(variant) or VARIANT_COLORS.get(base_variant(variant), FALLBACK_COLOR)


def variant_symbol(variant: str) -> str:
    """The variant's plotly marker: diamond teacher, circle student, square control, open for int8, dotted on
    ONNX Runtime."""
    return VARIANT_SYMBOLS.get(base_variant(variant), "circle") + RUNTIME_SYMBOL_SUFFIX.get(runtime_of(variant), "")


def is_int8(variant: str) -> bool:
    return base_variant(variant).endswith("-int8")


def _metric_spec(column: str) -> tuple[str, bool]:
    if column in QUALITY_METRICS:
        return QUALITY_METRICS[column]
    if column in LATENCY_METRICS:
        return LATENCY_METRICS[column]
    match = _P50_BATCH.match(column)
    if match:
        return f"latency p50, batch {match.group(1)} (ms)", False
    return _OTHER_LABELS.get(column, column.replace("_", " ")), True


def metric_label(column: str) -> str:
    """Axis title with unit for a comparison-table column (p50_ms_batchN for any N included)."""
    return _metric_spec(column)[0]


def display_value(column: str, value) -> float | None:
    """A stored value in the unit its label shows (fractions -> %, bytes -> MiB); None when missing or not finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value) * _SCALE.get(column, 1.0)


def interval_of(row: dict, column: str) -> tuple[float, float] | None:
    """(low, high) of a row's `column` in the unit its label shows, from the row's `<column>_low`/`_high` (the 95%
    interval compare.interval_columns adds); None when the row has none (older measurements)."""
    low, high = display_value(column, row.get(f"{column}_low")), display_value(column, row.get(f"{column}_high"))
    return (low, high) if low is not None and high is not None else None


def error_bars(column: str, rows: list[dict]) -> dict | None:
    """Plotly error_x / error_y for the drawn values of `column` over `rows` (in order): asymmetric arrays, `array`
    = high - value and `arrayminus` = value - low, in the drawn unit; None entries for rows without an interval;
    None when no row has one (nothing to draw)."""
    spans = [(display_value(column, r.get(column)), interval_of(r, column)) for r in rows]
    if not any(span for _, span in spans):
        return None
    return dict(type="data", symmetric=False, visible=True, thickness=1.5, width=4, color="#444444",
                array=[max(0.0, span[1] - v) if span and v is not None else None for v, span in spans],
                arrayminus=[max(0.0, v - span[0]) if span and v is not None else None for v, span in spans])


def interval_hover(row: dict, column: str) -> str:
    """" (95% CI 5.98–6.30)" for a hover label, in the drawn unit; "" without an interval."""
    span = interval_of(row, column)
    return f" (95% CI {span[0]:,.2f}–{span[1]:,.2f})" if span else ""


def available_metrics(rows: list[dict], kind: str = "quality") -> dict[str, tuple[str, bool]]:
    """The metrics of one kind ("quality" or "cost") that at least one row has a value for, in display order;
    cost includes every p50_ms_batchN column present. For the pages' axis pickers."""
    present = {c for row in rows for c, v in row.items() if display_value(c, v) is not None}
    if kind == "quality":
        return {c: spec for c, spec in QUALITY_METRICS.items() if c in present}
    batches = sorted((int(m.group(1)), c) for c in present if (m := _P50_BATCH.match(c)))
    out = {c: _metric_spec(c) for _, c in batches}
    out |= {c: spec for c, spec in LATENCY_METRICS.items() if c in present and c not in out}
    return out


def apply_layout(fig: go.Figure, title: str | None = None, height: int | None = None) -> go.Figure:
    """The one look of every figure: plotly_white, a readable font, even margins, legend on top."""
    fig.update_layout(template="plotly_white", font=dict(family=FONT, size=13, color="#2b2b2b"),
                      margin=dict(l=60, r=24, t=72 if title else 40, b=56), hoverlabel=dict(font_family=FONT),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
                      title=dict(text=title, x=0, xanchor="left", font_size=16) if title else None)
    if height:
        fig.update_layout(height=height)
    return fig


def empty_figure(message: str = EMPTY_MESSAGE, title: str | None = None) -> go.Figure:
    """A blank figure carrying `message` in its middle (what builders return when there is nothing to plot)."""
    fig = go.Figure()
    fig.add_annotation(text=html.escape(message), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=15, color="#777777"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return apply_layout(fig, title, height=320)


def run_labels(rows: list[dict]) -> dict[str, str]:
    """run_id -> the name to show; runs sharing a name get the id's last 6 characters added."""
    names: dict[str, str] = {}
    for row in rows:
        names.setdefault(str(row.get("run_id")), str(row.get("name") or row.get("run_id")))
    counts: dict[str, int] = {}
    for name in names.values():
        counts[name] = counts.get(name, 0) + 1
    return {rid: (f"{name} ({rid[-6:]})" if counts[name] > 1 else name) for rid, name in names.items()}


def _variants_in_order(variants) -> list[str]:
    return sorted(set(variants), key=order_key)


def fmt_number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


# ---------------------------------------------------------------------------------------------------------------
# Quality vs cost


def pareto_front(points: list[tuple[float, float]], higher_quality_is_better: bool = True) -> list[int]:
    """Indices of the non-dominated (cost, quality) points, sorted by cost (ties: best quality first).

    Cost is lower-better. A point is dominated when another is at least as good on both axes and better on one;
    identical points do not dominate each other, so both stay. Points with a non-finite value are never on it."""
    sign = 1.0 if higher_quality_is_better else -1.0
    good = [(i, float(c), sign * float(q)) for i, (c, q) in enumerate(points)
            if math.isfinite(c) and math.isfinite(q)]
    front = [i for i, c, q in good
             if not any(c2 <= c and q2 >= q and (c2 < c or q2 > q) for _, c2, q2 in good)]
    by_index = {i: (c, -q) for i, c, q in good}
    return sorted(front, key=lambda i: (by_index[i], i))


def quality_latency_scatter(rows: list[dict], quality: str = "accuracy", cost: str = "p50_ms_batch1") -> go.Figure:
    """One marker per (run, variant) row with both values: x = cost, y = quality, bubble area ~ weight bytes,
    colour = variant, diamond = teacher, open marker = int8, dotted marker = ONNX Runtime; the Pareto front as a
    dashed line."""
    q_label, higher_better = _metric_spec(quality)
    c_label, cost_higher_better = _metric_spec(cost)
    points = [r for r in rows if display_value(quality, r.get(quality)) is not None
              and display_value(cost, r.get(cost)) is not None]
    if not points:
        return empty_figure(EMPTY_MESSAGE)
    names = run_labels(points)
    sizes = [display_value("weight_bytes", r.get("weight_bytes")) for r in points]
    largest = max((s for s in sizes if s), default=0.0)
    max_px = 46.0  # diameter of the largest bubble
    fig = go.Figure()
    for variant in _variants_in_order({r["variant"] for r in points}):
        mine = [(r, s) for r, s in zip(points, sizes) if r["variant"] == variant]
        # area ~ weights: diameter ~ sqrt(bytes); rows without a size get a mid-size marker
        diam = [max_px * math.sqrt(s / largest) if s and largest else max_px / 2 for _, s in mine]
        fig.add_trace(go.Scatter(
            x=[display_value(cost, r[cost]) for r, _ in mine], y=[display_value(quality, r[quality]) for r, _ in mine],
            error_x=error_bars(cost, [r for r, _ in mine]), mode="markers", name=variant, legendgroup=variant,
            marker=dict(color=variant_color(variant), symbol=variant_symbol(variant),
                        size=[max(d, 9.0) for d in diam], opacity=0.85,
                        line=dict(width=2 if is_int8(variant) else 1,
                                  color=variant_color(variant) if is_int8(variant) else "white")),
            customdata=[[html.escape(names[str(r.get("run_id"))]), html.escape(variant_label(variant)),
                         fmt_number(s, 1),
                         interval_hover(r, cost)] for r, s in mine],
            hovertemplate=(f"<b>%{{customdata[0]}}</b> · %{{customdata[1]}}<br>{html.escape(q_label)}: %{{y:.2f}}"
                           f"<br>{html.escape(c_label)}: %{{x:.2f}}%{{customdata[3]}}<br>weights (MiB): "
                           "%{customdata[2]}<extra></extra>")))
    xy = [(display_value(cost, r[cost]), display_value(quality, r[quality])) for r in points]
    # The front wants cost lower-better; a rate (tokens/s) is higher-better, so it is negated for the search.
    front = pareto_front([(-c if cost_higher_better else c, q) for c, q in xy], higher_better)
    if cost_higher_better:
        front.reverse()  # drawn left to right
    if len(front) > 1:
        fig.add_trace(go.Scatter(x=[xy[i][0] for i in front], y=[xy[i][1] for i in front], mode="lines",
                                 name="Pareto front", line=dict(color="#555555", width=1.5, dash="dash"),
                                 hoverinfo="skip"))
    fig.update_xaxes(title_text=c_label, rangemode="tozero")
    fig.update_yaxes(title_text=q_label)
    return apply_layout(fig, f"{q_label.split(' (')[0]} vs {c_label.split(' (')[0]} (bubble area: weights)",
                        height=480)


def cost_bars(rows: list[dict], metrics=("p50_ms_batch1", "peak_memory_mib", "weight_bytes")) -> go.Figure:
    """Bars per metric (one subplot each, stacked vertically), x = "run name / variant", coloured by variant.
    Metrics no row has are left out."""
    metrics = [m for m in metrics if any(display_value(m, r.get(m)) is not None for r in rows)]
    if not metrics:
        return empty_figure(EMPTY_MESSAGE)
    names = run_labels(rows)
    fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[metric_label(m) for m in metrics])
    shown = set()
    for i, metric in enumerate(metrics, start=1):
        label = metric_label(metric)
        for variant in _variants_in_order({r["variant"] for r in rows}):
            mine = [r for r in rows if r["variant"] == variant and display_value(metric, r.get(metric)) is not None]
            if not mine:
                continue
            fig.add_trace(go.Bar(
                x=[html.escape(f"{names[str(r.get('run_id'))]} / {variant}") for r in mine],
                y=[display_value(metric, r[metric]) for r in mine], error_y=error_bars(metric, mine), name=variant,
                legendgroup=variant, showlegend=variant not in shown, marker_color=variant_color(variant),
                offsetgroup="all", customdata=[[interval_hover(r, metric)] for r in mine],
                hovertemplate=f"%{{x}}<br>{html.escape(label)}: %{{y:,.2f}}%{{customdata[0]}}<extra></extra>"),
                row=i, col=1)
            shown.add(variant)
        fig.update_yaxes(title_text=label.split(" (")[-1].rstrip(")") if "(" in label else "", row=i, col=1,
                         rangemode="tozero")
    # x order: runs as they come, variants in ALL_VARIANTS order within a run
    order = []
    for r in rows:
        x = html.escape(f"{names[str(r.get('run_id'))]} / {r['variant']}")
        if x not in order and any(display_value(m, r.get(m)) is not None for m in metrics):
            order.append(x)
    fig.update_xaxes(categoryorder="array", categoryarray=order)
    fig.update_layout(bargap=0.25)
    return apply_layout(fig, "cost per variant", height=200 + 220 * len(metrics))


# ---------------------------------------------------------------------------------------------------------------
# Training, soft targets, probabilities


def _val_key(history: dict) -> str | None:
    for phase, entries in history.items():
        if phase == "teacher-finetune":
            continue
        for entry in entries or []:
            key = next((k for k in entry if k.startswith("val_")), None)
            if key:
                return key
    return None


def training_curves(history: dict) -> go.Figure:
    """history.json ({"student": [...], "control": [...], "teacher-finetune": [...]}) as two panels: training
    loss vs step, and the validation metric (whichever val_* key the entries carry) vs step, per phase."""
    phases = {p: e for p, e in (history or {}).items() if p != "teacher-finetune" and e}
    if not phases:
        return empty_figure("no training history yet")
    val_key = _val_key(phases)
    metric = val_key[4:] if val_key else None
    val_label = f"validation {metric_label(metric)}" if metric else "validation"
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=["training loss", val_label])
    for phase in _variants_in_order(phases):
        entries = phases[phase]
        loss = [(e["step"], e["loss"]) for e in entries if isinstance(e.get("loss"), (int, float))]
        val = [(e["step"], display_value(metric, e.get(val_key))) for e in entries if val_key and val_key in e]
        val = [(s, v) for s, v in val if v is not None]
        color = variant_color(phase)
        if loss:
            fig.add_trace(go.Scatter(x=[s for s, _ in loss], y=[v for _, v in loss],
                                     mode="lines" if len(loss) > 20 else "lines+markers", name=phase,
                                     legendgroup=phase, line=dict(color=color, width=2),
                                     hovertemplate=f"{html.escape(phase)} step %{{x}}<br>loss %{{y:.4f}}"
                                                   "<extra></extra>"), row=1, col=1)
        if val:
            fig.add_trace(go.Scatter(x=[s for s, _ in val], y=[v for _, v in val], mode="lines+markers",
                                     name=phase, legendgroup=phase, showlegend=not loss,
                                     line=dict(color=color, width=2), marker=dict(size=6),
                                     hovertemplate=f"{html.escape(phase)} step %{{x}}<br>{html.escape(val_label)} "
                                                   "%{y:.2f}<extra></extra>"), row=1, col=2)
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text="loss", row=1, col=1)
    fig.update_yaxes(title_text=metric_label(metric) if metric else "", row=1, col=2)
    apply_layout(fig, "training curves", height=400)
    # The subplot titles sit where the shared legend would: move the legend to the top right, above them.
    return fig.update_layout(legend=dict(y=1.14, x=1, xanchor="right"), margin=dict(t=96))


def soft_targets_bars(labels: list[str], logits: list[float], temperatures: list[float]) -> go.Figure:
    """softmax(logits / T) for each temperature T, as grouped bars per class: a higher T flattens the targets."""
    if not labels or not logits or not temperatures:
        return empty_figure("no logits to show")
    temps = [t for t in temperatures if t and t > 0]
    fig = go.Figure()
    # light to dark: the flattest (hottest) distribution is the darkest bar
    shades = ["#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"]
    for k, t in enumerate(sorted(temps)):
        color = shades[min(len(shades) - 1, round(k * (len(shades) - 1) / max(1, len(temps) - 1)))]
        fig.add_trace(go.Bar(x=[html.escape(str(l)) for l in labels], y=[p * 100 for p in soft_targets(logits, t)],
                             name=f"T = {t:g}", marker_color=color,
                             hovertemplate=f"T = {t:g}<br>%{{x}}: %{{y:.1f}}%<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="class")
    fig.update_yaxes(title_text="soft target probability (%)", range=[0, 100])
    return apply_layout(fig, "soft targets at each temperature", height=380)


def class_probabilities(labels: list[str], probs_by_variant: dict[str, list[float]]) -> go.Figure:
    """Horizontal grouped bars: each variant's probability (0..1 in, % shown) per class."""
    if not labels or not probs_by_variant:
        return empty_figure("no predictions yet")
    fig = go.Figure()
    shown_labels = [html.escape(str(l)) for l in labels]
    for variant in reversed(_variants_in_order(probs_by_variant)):  # reversed: horizontal bars stack bottom-up
        fig.add_trace(go.Bar(y=shown_labels, x=[p * 100 for p in probs_by_variant[variant]], orientation="h",
                             name=variant, marker_color=variant_color(variant),
                             hovertemplate=f"{html.escape(variant)}<br>%{{y}}: %{{x:.1f}}%<extra></extra>"))
    fig.update_layout(barmode="group", legend_traceorder="reversed")
    fig.update_xaxes(title_text="probability (%)", range=[0, 100])
    fig.update_yaxes(autorange="reversed")
    return apply_layout(fig, None, height=140 + 28 * len(labels) * max(1, len(probs_by_variant)))
