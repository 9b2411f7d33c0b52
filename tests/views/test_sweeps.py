"""A sweep's trials as rows, charts, best picks and a report, on hand-built trials whose answers are worked out here.

The four trials of `four_trials` (accuracy, the teacher at 0.90 in each):

    trial  temperature  student  control  speed
    1      1            0.88     0.85     2.0x measured (1.9-2.1)
    2      2            0.86     0.86     3.0x measured (2.8-3.2)
    3      4            0.84     0.80     2.5x measured (2.4-2.6)   beaten by 2 on both: off the front
    4      8            0.80     0.82     3.5x from FLOPs (not measured)

Pareto front, fastest first: 4, 2, 1. Best quality: 1. Largest gain: 3 (+4 points). Fastest within 1 point of the
teacher: none; within 2.5 points: 1; within 4 points: 2.
"""

from __future__ import annotations

import json

import pytest

from distill_core.core.config import RunConfig
from distill_core.core.errors import ConfigError, DistillLabError
from distill_core.runs import store
from distill_core.sweeps import records
from distill_core.sweeps.spec import expand, spec_from_dict
from distill_core.views import sweep_display, sweeps
from tests.support.runs import fake_results

TRIALS = [  # temperature, student, control, (speed, low, high) or None (not measured), flops ratio
    (1, 0.88, 0.85, (2.0, 1.9, 2.1), 2.2),
    (2, 0.86, 0.86, (3.0, 2.8, 3.2), 3.1),
    (4, 0.84, 0.80, (2.5, 2.4, 2.6), 2.7),
    (8, 0.80, 0.82, None, 3.5),
]


def _bench(speed: tuple[float, float, float]) -> dict:
    """A bench.json whose only comparison is the student's paired speedup over the teacher at batch 32."""
    def variant(p50_b32: float) -> dict:
        return {"status": "ok", "latency": [{"setting": "real", "batch_size": b, "p50_ms": p,
                                             "throughput": b * 1000 / p} for b, p in ((1, 10.0), (32, p50_b32))]}

    ratio, low, high = speed
    return {"config": {"batch_sizes": [1, 32]}, "machine": {"threads": 2},
            "variants": {"teacher": variant(300.0), "student": variant(300.0 / ratio), "control": variant(100.0)},
            "comparisons": [{"reference": "teacher", "variant": "student", "setting": "real", "batch_size": 32,
                             "ratio": ratio, "low": low, "high": high, "rounds": 9, "verdict": "faster"}]}


def make_sweep(trials=TRIALS, name: str = "temps") -> str:
    """A recorded sweep over loss.temperature with one finished trial run per entry of `trials`; returns its id."""
    spec = spec_from_dict({"name": name, "axes": {"loss.temperature": [t[0] for t in trials]}},
                          base=RunConfig(name="base").to_dict())
    sweep = records.create_sweep(spec, len(trials))
    for trial, (temperature, student, control, speed, flops) in zip(expand(spec), trials):
        assert trial.values == {"loss.temperature": temperature}
        record = store.create_run(trial.config.to_dict(), sweep=sweep.id, trial=trial.index)
        results = fake_results(student, control)
        results["preflight"]["flops_ratio"] = flops
        (record.folder / "results.json").write_text(json.dumps(results))
        if speed:
            (record.folder / "bench.json").write_text(json.dumps(_bench(speed)))
        store.finish(record.id, "done")
    records.finish(sweep.id, "done")
    return sweep.id


@pytest.fixture
def four_trials():
    return make_sweep()


@pytest.fixture
def rows(four_trials):
    return sweeps.trial_rows(four_trials)


def test_trial_rows_carry_axis_values_quality_retention_gain_and_speed(rows):
    assert [r["trial"] for r in rows] == [1, 2, 3, 4]
    assert [r["loss.temperature"] for r in rows] == [1, 2, 4, 8]
    first = rows[0]
    assert first["metric"] == "accuracy" and first["higher_is_better"] is True
    assert (first["teacher"], first["student"], first["control"]) == (0.9, 0.88, 0.85)
    assert first["retention"] == pytest.approx(0.88 / 0.9)
    assert first["distillation_gain"] == pytest.approx(0.03)
    assert (first["speed"], first["speed_low"], first["speed_high"]) == (2.0, 1.9, 2.1)
    assert first["speed_basis"] == sweep_display.MEASURED and first["speed_batch"] == 32
    assert first["flops_ratio"] == 2.2 and first["status"] == "done"


def test_an_unmeasured_trial_falls_back_to_the_flops_ratio_and_says_so(rows):
    last = rows[3]
    assert last["speed"] == 3.5 and last["speed_basis"] == sweep_display.ESTIMATED
    assert last["speed_low"] is None and last["speed_batch"] is None
    assert sweep_display.speed_text(last) == "3.50x, estimated from FLOPs"
    assert sweep_display.speed_text(rows[0]) == "2.00x (1.90-2.10), measured at batch 32"


def test_the_speed_axis_label_says_measured_estimated_or_which_marker_is_which(rows):
    assert sweep_display.speed_axis_label(rows[:3]) == "student speedup over the teacher (x), measured at batch 32"
    assert sweep_display.speed_axis_label(rows[3:]).endswith("estimated from FLOPs (teacher FLOPs / student FLOPs)")
    assert sweep_display.speed_axis_label(rows).endswith("filled = measured, open = estimated from FLOPs")
    fig = sweeps.pareto_figure(rows)
    assert fig.layout.xaxis.title.text == sweep_display.speed_axis_label(rows)


def test_the_pareto_front_is_the_trials_nobody_beats_on_both_speed_and_quality(rows):
    assert sweeps.pareto_trials(rows) == [4, 2, 1]
    fig = sweeps.pareto_figure(rows)
    front = next(t for t in fig.data if t.name == "Pareto-optimal trials")
    others = next(t for t in fig.data if t.name == "other trials")
    assert sorted(front.x) == [2.0, 3.0, 3.5] and list(others.x) == [2.5]
    assert list(others.y) == pytest.approx([84.0])  # accuracy in %
    line = next(t for t in fig.data if t.name == "Pareto front")
    assert list(line.x) == [2.0, 3.0, 3.5] and list(line.y) == pytest.approx([88.0, 86.0, 80.0])
    # the measured trials filled, the estimated one open; hover names the trial's axis values
    assert list(front.marker.symbol) == ["circle", "circle", "circle-open"]
    assert [c[1] for c in front.customdata] == ["temperature=1", "temperature=2", "temperature=8"]
    teacher = next(t for t in fig.data if t.name == "teacher")
    assert list(teacher.x) == [1.0] and list(teacher.y) == pytest.approx([90.0])


def test_pareto_front_of_a_lower_is_better_metric_prefers_lower_perplexity():
    rows = [_lm_row(1, 20.0, 21.0, speed=2.0), _lm_row(2, 20.0, 25.0, speed=3.0),
            _lm_row(3, 20.0, 26.0, speed=2.5)]
    assert sweeps.pareto_trials(rows) == [2, 1]


def test_best_trials_pick_fastest_within_tolerance_best_quality_and_largest_gain(rows):
    fastest, quality, gain = sweeps.best_trials(rows, tolerance_points=2.5)
    assert fastest["constraint"] == "fastest student within 2.5 points of the teacher's accuracy"
    assert (fastest["trial"], fastest["value"]) == (1, 2.0)
    assert fastest["values"] == "temperature=1" and fastest["run_id"] == rows[0]["run_id"]
    assert (quality["trial"], quality["value"]) == (1, 0.88)
    assert quality["constraint"] == "best student accuracy"
    assert gain["trial"] == 3 and gain["value"] == pytest.approx(0.04)
    assert gain["text"] == "+4.00 points"
    assert sweeps.best_trials(rows, tolerance_points=4.0)[0]["trial"] == 2  # exactly 4 points below: in


def test_no_trial_within_the_tolerance_gives_an_empty_pick_with_the_reason(rows):
    fastest = sweeps.best_trials(rows, tolerance_points=1.0)[0]
    assert fastest["trial"] is None and fastest["run_id"] is None and fastest["value"] is None
    assert fastest["text"] == "no trial's student is within 1 point of the teacher's accuracy"


def test_a_gain_no_trial_won_is_not_a_pick():
    rows = [_lm_row(1, 20.0, 21.0, speed=2.0, gain=-0.5)]
    assert sweeps.best_trials(rows)[2]["trial"] is None


def _lm_row(trial, teacher, student, speed, gain=None):
    return {"trial": trial, "run_id": f"r{trial}", "name": "x", "status": "done", "loss.alpha": 0.5,
            "metric": "perplexity", "higher_is_better": False, "teacher": teacher, "student": student,
            "control": None, "retention": teacher / student, "distillation_gain": gain, "distillation_gain_low": None,
            "distillation_gain_high": None, "verdict": None, "flops_ratio": speed, "speed": speed, "speed_low": None,
            "speed_high": None, "speed_verdict": None, "speed_basis": sweep_display.ESTIMATED, "speed_batch": None}


def test_for_perplexity_the_tolerance_is_a_percentage_of_the_teachers():
    rows = [_lm_row(1, 20.0, 20.15, speed=2.0), _lm_row(2, 20.0, 20.3, speed=4.0)]
    fastest, quality, _ = sweeps.best_trials(rows, tolerance_points=1.0)
    assert fastest["constraint"] == "fastest student within 1% of the teacher's perplexity"
    assert fastest["trial"] == 1  # 20.15 <= 20.2; trial 2's 20.3 is 1.5% above
    assert sweeps.best_trials(rows, tolerance_points=2.0)[0]["trial"] == 2
    assert quality["trial"] == 1 and quality["constraint"] == "best student perplexity"


def test_parallel_coordinates_has_a_dimension_per_axis_then_quality_and_speed(rows):
    fig = sweeps.parallel_coordinates_figure(rows, ["loss.temperature"])
    dims = fig.data[0].dimensions
    assert [d.label for d in dims][:2] == ["loss.temperature", "student accuracy (%)"]
    assert list(dims[0].values) == [1.0, 2.0, 4.0, 8.0] and dims[0].ticktext is None
    assert list(dims[1].values) == pytest.approx([88.0, 86.0, 84.0, 80.0])
    assert list(dims[2].values) == [2.0, 3.0, 2.5, 3.5]
    assert "filled = measured" in dims[2].label


def test_parallel_coordinates_maps_words_to_indices_with_tick_labels():
    rows = [_lm_row(1, 20.0, 21.0, 2.0) | {"data.transfer": "augment"},
            _lm_row(2, 20.0, 22.0, 3.0) | {"data.transfer": "none"},
            _lm_row(3, 20.0, 23.0, 4.0) | {"data.transfer": "augment"}]
    dims = sweeps.parallel_coordinates_figure(rows, ["data.transfer", "loss.alpha"]).data[0].dimensions
    assert list(dims[0].values) == [0, 1, 0] and list(dims[0].ticktext) == ["augment", "none"]
    assert list(dims[0].tickvals) == [0, 1]
    assert list(dims[1].values) == [0.5, 0.5, 0.5]
    assert dims[2].label == "student perplexity" and list(dims[2].values) == [21.0, 22.0, 23.0]


def test_trial_table_shows_units_intervals_and_the_speed_basis(rows):
    table = sweep_display.trial_table(rows)
    assert list(table.columns[:3]) == ["trial", "loss.temperature", "status"]
    first = table.iloc[0]
    assert first["student accuracy"] == "88.00%" and first["teacher accuracy"] == "90.00%"
    assert first["retention (%)"] == "97.8" and first["distillation gain"] == "+3.00 points"
    assert first["speedup over teacher"] == "2.00x (1.90-2.10), measured at batch 32"
    assert table.iloc[3]["speedup over teacher"] == "3.50x, estimated from FLOPs"


def test_a_trial_without_results_has_a_row_but_no_point(four_trials):
    spec = records.get_sweep(four_trials).spec
    store.create_run(expand(spec)[0].config.to_dict(), sweep=four_trials, trial=4)  # queued, no results
    rows = sweeps.trial_rows(four_trials)
    assert len(rows) == 5 and rows[4]["status"] == "queued" and rows[4]["student"] is None
    assert rows[4]["speed"] is None and sweeps.trials_ended(rows) == 4
    assert sweeps.pareto_trials(rows) == [4, 2, 1]


def test_charts_of_a_sweep_without_results_say_so():
    assert sweeps.pareto_figure([]).layout.annotations[0].text == "no trial has results yet"
    assert sweeps.parallel_coordinates_figure([], ["loss.alpha"]).layout.annotations[0].text == \
        "no trial has results yet"
    assert [b["trial"] for b in sweeps.best_trials([])] == [None, None, None]


def test_sweep_report_is_self_contained_escaped_and_has_the_picks(tmp_path):
    sweep_id = make_sweep(TRIALS[:2], name="<b>temps</b>")
    page = sweeps.sweep_report_html(sweep_id)
    assert "<b>temps</b>" not in page and "&lt;b&gt;temps&lt;/b&gt;" in page
    assert page.count("Plotly.newPlot") == 2 and 'src="http' not in page
    assert "loss.temperature in 1, 2" in page  # the axes
    assert "fastest student within 1 point of the teacher's accuracy" in page
    assert "2.00x (1.90-2.10), measured at batch 32" in page
    assert sweeps.report_filename(sweep_id) == f"distill-lab-sweep-{sweep_id}.html"
    with pytest.raises(DistillLabError):
        sweeps.sweep_report_html("s20990101-000000-abcdef")


def test_spec_from_form_reads_cli_axes_and_names_the_field_at_fault():
    base = RunConfig(name="base").to_dict()
    spec = sweeps.spec_from_form("t", base, [("loss.temperature", "range(1,3,1)"), ("", ""),
                                             ("loss.alpha", "uniform(0.3,0.9)")], samples=2)
    assert [a.field for a in spec.axes] == ["loss.temperature", "loss.alpha"]
    assert spec.axes[0].values == [1, 2, 3] and spec.axes[1].kind == "uniform"
    assert len(expand(spec)) == 6 and spec.runner.kind == "local"
    ray = sweeps.spec_from_form("t", base, [("loss.temperature", "1,2")], runner="ray", address=" auto ")
    assert (ray.runner.kind, ray.runner.address, ray.runner.storage) == ("ray", "auto", None)
    temperature = "axes.loss.temperature"
    cases = [([("loss.temprature", "1,2")], "axes.loss.temprature"), ([("loss.temperature", "")], temperature),
             ([("", "1,2")], "axes"), ([("loss.temperature", "1"), ("loss.temperature", "2")], temperature),
             ([], "axes"), ([("loss.temperature", "-1,2")], temperature)]
    for axis_rows, field in cases:
        with pytest.raises(ConfigError) as info:
            sweeps.spec_from_form("t", base, axis_rows)
        assert info.value.field == field, (axis_rows, info.value)


def test_estimate_table_shows_ratios_and_minutes():
    from distill_core.sweeps.estimate import SweepEstimate, TrialEstimate

    estimate = SweepEstimate([TrialEstimate(0, "temperature=1", 3.04, 1.5, 15_200_000, 2, 90.0),
                              TrialEstimate(1, "temperature=2", 3.04, 1.5, 15_200_000, 2, None)], 240.0, None, "b")
    table = sweep_display.estimate_table(estimate)
    assert table.iloc[0].tolist() == [1, "temperature=1", "3.0x", "1.5x", "15.2", 2, "1.5"]
    assert table.iloc[1]["estimated minutes"] == "–"
    assert "no total" in sweep_display.estimate_summary(estimate)
    estimate.total_seconds = 420.0
    assert sweep_display.estimate_summary(estimate) == \
        "2 trials, about 7 min in all (the teacher's preparation 4.0 min of it, once)."
