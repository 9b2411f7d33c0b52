"""Figure builders and display tables: Pareto front, scatter points, colours, bars, curves, config diff."""

import pandas as pd
import plotly.graph_objects as go
import pytest

from distill_core.views import charts
from distill_core.views.configs import config_diff

MiB = 2**20


def row(name, variant, accuracy=None, p50=None, weight_mib=None, run_id=None, **extra):
    return {"run_id": run_id or f"20260101-000000-{abs(hash(name)) % 16**6:06x}", "name": name, "status": "done",
            "variant": variant, "accuracy": accuracy, "p50_ms_batch1": p50,
            "weight_bytes": None if weight_mib is None else weight_mib * MiB, **extra}


ROWS = [row("a", "teacher", 0.90, 20.0, 90), row("a", "teacher-int8", 0.89, 12.0, 25),
        row("a", "student", 0.86, 6.0, 30, distillation_gain=0.03, retention=0.955, agreement=0.93),
        row("a", "student-int8", 0.85, 4.0, 8), row("a", "control", 0.83, 6.0, 30)]


def _points(fig: go.Figure) -> list[tuple[str, float, float]]:
    return [(t.name, x, y) for t in fig.data if t.mode == "markers" for x, y in zip(t.x, t.y)]


def test_pareto_front_excludes_dominated_points_and_sorts_by_cost():
    points = [(10.0, 0.9), (5.0, 0.8), (6.0, 0.7), (2.0, 0.6), (12.0, 0.85)]
    assert charts.pareto_front(points) == [3, 1, 0]  # (6, 0.7) and (12, 0.85) are dominated


def test_pareto_front_keeps_identical_points_and_drops_equal_cost_worse_quality():
    points = [(1.0, 0.5), (1.0, 0.5), (1.0, 0.4), (2.0, 0.5), (3.0, 0.9)]
    assert charts.pareto_front(points) == [0, 1, 4]


def test_pareto_front_with_lower_better_quality():
    points = [(1.0, 30.0), (2.0, 10.0), (3.0, 20.0), (4.0, 5.0)]  # e.g. perplexity
    assert charts.pareto_front(points, higher_quality_is_better=False) == [0, 1, 3]
    assert charts.pareto_front(points) == [0]


def test_pareto_front_ignores_non_finite_points_and_handles_empty():
    assert charts.pareto_front([(float("nan"), 1.0), (1.0, 0.5)]) == [1]
    assert charts.pareto_front([]) == []


def test_scatter_has_one_point_per_row_with_values_in_display_units():
    fig = charts.quality_latency_scatter(ROWS)
    points = _points(fig)
    assert sorted(points) == sorted([("teacher", 20.0, 90.0), ("teacher-int8", 12.0, 89.0),
                                     ("student", 6.0, 86.0), ("student-int8", 4.0, 85.0), ("control", 6.0, 83.0)])
    assert fig.layout.xaxis.title.text == "latency p50, batch 1 (ms)"
    assert fig.layout.yaxis.title.text == "accuracy (%)"
    front = next(t for t in fig.data if t.name == "Pareto front")
    assert list(front.x) == [4.0, 6.0, 12.0, 20.0]  # control (6 ms, 83%) is dominated by the student


def test_scatter_skips_rows_without_both_values():
    rows = ROWS + [row("b", "student", 0.8, None, 30), row("b", "teacher", None, 5.0, 90),
                   {"run_id": "x", "name": "c", "variant": "student"}]
    assert len(_points(charts.quality_latency_scatter(rows))) == len(ROWS)


def test_scatter_marks_teacher_and_int8_and_sizes_bubbles_by_weights():
    fig = charts.quality_latency_scatter(ROWS)
    by_name = {t.name: t for t in fig.data}
    assert by_name["teacher"].marker.symbol == "diamond"
    assert by_name["student-int8"].marker.symbol.endswith("open")
    sizes = [by_name[v].marker.size[0] for v in ("teacher", "student", "student-int8")]
    assert sizes[0] > sizes[1] > sizes[2]


def test_scatter_hover_escapes_run_names():
    fig = charts.quality_latency_scatter([row("<b>x</b>", "student", 0.8, 3.0, 10)])
    assert fig.data[0].customdata[0][0] == "&lt;b&gt;x&lt;/b&gt;"


def test_scatter_with_nothing_to_plot_says_so():
    for rows in ([], [row("a", "student", 0.8, None)]):
        fig = charts.quality_latency_scatter(rows)
        assert not fig.data and fig.layout.annotations[0].text == "no measured variants yet"


def test_every_chart_uses_the_variant_colours():
    scatter = charts.quality_latency_scatter(ROWS)
    bars = charts.cost_bars(ROWS)
    probs = charts.class_probabilities(["great", "other"], {"teacher": [0.7, 0.3], "student-int8": [0.6, 0.4]})
    curves = charts.training_curves({"student": [{"step": 1, "loss": 1.0}], "control": [{"step": 1, "loss": 1.1}]})
    for fig in (scatter, bars, probs, curves):
        for t in fig.data:
            if t.name in charts.VARIANT_COLORS:
                color = t.marker.color if isinstance(t, go.Bar) or t.mode == "markers" else t.line.color
                assert color == charts.VARIANT_COLORS[t.name], (fig.layout.title.text, t.name)
    assert charts.variant_color("student") == charts.VARIANT_COLORS["student"]
    assert charts.variant_color("something-else") == charts.FALLBACK_COLOR
    assert len(set(charts.VARIANT_COLORS.values())) == len(charts.VARIANT_COLORS)


def test_cost_bars_one_subplot_per_metric_with_run_variant_labels_and_mib():
    rows = [r | {"peak_memory_mib": 100.0} for r in ROWS]
    fig = charts.cost_bars(rows, metrics=("p50_ms_batch1", "peak_memory_mib", "weight_bytes", "prefill_ms"))
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["latency p50, batch 1 (ms)", "peak memory (MiB)", "weights (MiB)"]  # no prefill values
    weights = [t for t in fig.data if t.yaxis == "y3"]
    assert {x: y for t in weights for x, y in zip(t.x, t.y)}["a / teacher"] == pytest.approx(90.0)
    assert sum(t.showlegend is not False for t in fig.data) == len(ROWS)  # one legend entry per variant


def test_training_curves_plot_loss_and_whatever_validation_metric_is_present():
    history = {"teacher-finetune": [{"step": 1, "loss": 9.0}],
               "student": [{"step": 5, "loss": 0.7, "lr": 1e-3}, {"step": 10, "val_perplexity": 30.0},
                           {"step": 10, "loss": 0.5, "lr": 1e-3}, {"step": 20, "val_perplexity": 25.0}],
               "control": [{"step": 5, "loss": 0.9}, {"step": 10, "val_perplexity": 40.0}]}
    fig = charts.training_curves(history)
    names = [(t.name, t.xaxis) for t in fig.data]
    assert names == [("student", "x"), ("student", "x2"), ("control", "x"), ("control", "x2")]
    assert list(fig.data[1].y) == [30.0, 25.0]
    assert "perplexity" in fig.layout.annotations[1].text


def test_training_curves_show_validation_accuracy_in_percent_and_empty_history_says_so():
    fig = charts.training_curves({"student": [{"step": 2, "val_accuracy": 0.75}]})
    assert list(fig.data[0].y) == [75.0]
    empty = charts.training_curves({})
    assert not empty.data and empty.layout.annotations[0].text


def test_soft_targets_flatten_with_temperature():
    fig = charts.soft_targets_bars(["great", "other", "meh"], [4.0, 1.0, 0.0], [1.0, 5.0])
    cold, hot = fig.data
    assert sum(cold.y) == pytest.approx(100.0) and sum(hot.y) == pytest.approx(100.0)
    assert max(hot.y) < max(cold.y) and min(hot.y) > min(cold.y)


def test_class_probabilities_are_horizontal_bars_per_variant():
    fig = charts.class_probabilities(["great", "other"], {"teacher": [0.7, 0.3], "student": [0.6, 0.4]})
    assert {t.name for t in fig.data} == {"teacher", "student"}
    assert all(t.orientation == "h" for t in fig.data)
    assert list(next(t for t in fig.data if t.name == "teacher").x) == pytest.approx([70.0, 30.0])


def test_metric_labels_cover_any_batch_size():
    assert charts.metric_label("p50_ms_batch64") == "latency p50, batch 64 (ms)"
    assert charts.QUALITY_METRICS["perplexity"][1] is False
    assert charts.LATENCY_METRICS["decode_tokens_per_s"][1] is True
    cost = charts.available_metrics([{"p50_ms_batch8": 1.0, "p50_ms_batch1": 2.0, "weight_bytes": None}], "cost")
    assert list(cost) == ["p50_ms_batch1", "p50_ms_batch8"]


def test_config_diff_keeps_only_differing_keys():
    a = {"name": "a", "loss": {"temperature": 2.0, "alpha": 0.5}, "budget": {"unit": "steps", "value": 100}}
    b = {"name": "b", "loss": {"temperature": 4.0, "alpha": 0.5}, "budget": {"unit": "steps", "value": 100},
         "extra": [1, 2]}
    diff = config_diff({"run a": a, "run b": b})
    assert isinstance(diff, pd.DataFrame)
    assert list(diff.columns) == ["run a", "run b"]
    assert list(diff.index) == ["name", "loss.temperature", "extra"]
    assert diff.loc["loss.temperature", "run b"] == "4.0" and diff.loc["extra", "run a"] == "–"


def test_config_diff_of_one_run_lists_every_key():
    diff = config_diff({"only": {"loss": {"temperature": 2.0}, "seed": 0}})
    assert list(diff.index) == ["loss.temperature", "seed"]


def test_front_treats_a_rate_as_higher_is_better():
    from distill_core.views import charts

    rows = [{"run_id": "r1", "name": "lm", "variant": "teacher", "perplexity": 10.0, "decode_tokens_per_s": 5.0},
            {"run_id": "r1", "name": "lm", "variant": "student", "perplexity": 20.0, "decode_tokens_per_s": 40.0},
            {"run_id": "r1", "name": "lm", "variant": "control", "perplexity": 25.0, "decode_tokens_per_s": 40.0}]
    fig = charts.quality_latency_scatter(rows, quality="perplexity", cost="decode_tokens_per_s")
    front = next(t for t in fig.data if t.name == "Pareto front")
    assert list(front.x) == [5.0, 40.0] and list(front.y) == [10.0, 20.0]  # control (worse, same speed) is off it


# Latency intervals (compare.interval_columns puts `<column>_low`/`_high` on the rows) become error bars.
TIMED = [row("a", "teacher", 0.90, 20.0, 90, p50_ms_batch1_low=19.0, p50_ms_batch1_high=22.5),
         row("a", "student", 0.86, 6.0, 30, p50_ms_batch1_low=5.5, p50_ms_batch1_high=6.25),
         row("b", "student", 0.80, 7.0, 30)]  # measured before intervals: no bar


def test_cost_bars_draw_the_p50_interval_as_asymmetric_error_bars_in_ms():
    fig = charts.cost_bars(TIMED, metrics=("p50_ms_batch1", "weight_bytes"))
    latency = {t.name: t for t in fig.data if t.yaxis == "y"}
    teacher, student = latency["teacher"], latency["student"]
    assert list(teacher.y) == [20.0] and teacher.error_y.symmetric is False
    assert list(teacher.error_y.array) == [2.5] and list(teacher.error_y.arrayminus) == [1.0]
    assert list(student.y) == [6.0, 7.0]
    assert list(student.error_y.array) == [0.25, None] and list(student.error_y.arrayminus) == [0.5, None]
    weights = [t for t in fig.data if t.yaxis == "y2"]
    assert weights and all(t.error_y.array is None for t in weights)  # weights carry no interval


def test_scatter_draws_the_latency_interval_on_the_cost_axis():
    fig = charts.quality_latency_scatter(TIMED)
    teacher = next(t for t in fig.data if t.name == "teacher")
    assert list(teacher.x) == [20.0]
    assert list(teacher.error_x.array) == [2.5] and list(teacher.error_x.arrayminus) == [1.0]
    assert teacher.error_y.array is None
    assert teacher.customdata[0][3] == " (95% CI 19.00–22.50)"
    older = charts.quality_latency_scatter(ROWS)  # no intervals anywhere: no error bars at all
    assert all(t.error_x.array is None for t in older.data)


def test_error_bars_are_in_the_drawn_unit_and_absent_without_intervals():
    rows = [{"weight_bytes": 10 * MiB, "weight_bytes_low": 9 * MiB, "weight_bytes_high": 12 * MiB}]
    bars = charts.error_bars("weight_bytes", rows)
    assert bars["array"] == [pytest.approx(2.0)] and bars["arrayminus"] == [pytest.approx(1.0)]  # MiB, as drawn
    assert charts.error_bars("p50_ms_batch1", ROWS) is None
    assert charts.interval_of(TIMED[0], "p50_ms_batch1") == (19.0, 22.5)
    assert charts.interval_of(TIMED[2], "p50_ms_batch1") is None


def test_a_variant_on_onnx_runtime_keeps_its_models_colour_and_marker_with_a_dot():
    rows = ROWS + [row("a", "student-ort", 0.86, 3.0, 30), row("a", "student-ort-int8", 0.85, 1.5, 8)]
    fig = charts.quality_latency_scatter(rows)
    by_name = {t.name: t for t in fig.data if t.mode == "markers"}
    assert by_name["student-ort"].marker.symbol == "circle-dot"
    assert by_name["student-ort-int8"].marker.symbol == "circle-open-dot"
    assert by_name["student-ort"].marker.color == by_name["student"].marker.color == charts.VARIANT_COLORS["student"]
    assert (by_name["student-ort-int8"].x[0], by_name["student-ort-int8"].y[0]) == (1.5, 85.0)
    assert by_name["student-ort-int8"].customdata[0][1] == "student int8 · ONNX Runtime"
    assert [t.name for t in fig.data if t.mode == "markers"] == ["teacher", "teacher-int8", "student", "student-int8",
                                                                 "student-ort", "student-ort-int8", "control"]
