"""Display tables: units in headers, the gain with its interval and verdict, latencies with their intervals, and
speedups that say "no measurable difference" when their interval holds 1.0."""

from distill_core.views import display
from tests.views.test_charts import ROWS, TIMED


def test_retention_table_formats_percent_and_points():
    table = display.retention_table(ROWS)
    assert list(table.columns) == ["run", "variant", "quality", "retention (%)", "agreement (%)",
                                   "distillation gain"]
    student = table[table.variant == "student"].iloc[0]
    assert student["retention (%)"] == "95.5" and student["agreement (%)"] == "93.0"
    assert student["distillation gain"] == "+3.00 points" and "86.00%" in student["quality"]
    assert table[table.variant == "teacher"].iloc[0]["distillation gain"] == "–"


def test_causal_lm_gain_is_in_perplexity_not_points():
    row = {"run_id": "r", "name": "lm", "variant": "student", "perplexity": 171.8, "distillation_gain": 31.3,
           "metric": "perplexity", "higher_is_better": False}  # compare.results_table rows carry their metric
    assert display.retention_table([row]).iloc[0]["distillation gain"] == "+31.30 perplexity"
    assert display.comparison_table([row]).iloc[0]["distillation gain"] == "+31.30 perplexity"


def test_comparison_table_headers_carry_units():
    table = display.comparison_table(ROWS)
    assert {"accuracy (%)", "latency p50, batch 1 (ms)", "weights (MiB)"} <= set(table.columns)
    assert table.iloc[0]["weights (MiB)"] == "90.0"


# A 3-seed run's student row, as compare.quality_columns writes it: mean gain 0.016 (1.6 points), its t interval
# over seeds (-0.0003, 0.0323) and the verdict.
GAIN_ROW = {"run_id": "r1", "name": "seeds", "variant": "student", "accuracy": 0.774, "distillation_gain": 0.016,
            "distillation_gain_low": -0.0003, "distillation_gain_high": 0.0323, "verdict": "no-effect", "seeds": 3,
            "metric": "accuracy", "higher_is_better": True}


def test_gain_cell_carries_its_interval_and_verdict():
    assert display.gain_text(GAIN_ROW) == "+1.60 points (-0.03 to +3.23), no measurable effect"
    assert display.retention_table([GAIN_ROW]).iloc[0]["distillation gain"] == \
        "+1.60 points (-0.03 to +3.23), no measurable effect"
    helped = GAIN_ROW | {"distillation_gain_low": 0.005, "verdict": "helped"}
    assert display.gain_text(helped) == "+1.60 points (+0.50 to +3.23), the teacher helped"


def test_comparison_table_shows_the_gain_and_latency_intervals_in_their_cells_not_as_columns():
    table = display.comparison_table([GAIN_ROW])
    assert table.iloc[0]["distillation gain"] == "+1.60 points (-0.03 to +3.23), no measurable effect"
    assert not [c for c in table.columns if "low" in c or "high" in c or c == "verdict"]
    assert table.iloc[0]["seeds"] == "3"
    timed = display.comparison_table(TIMED)
    cells = list(timed["latency p50, batch 1 (ms)"])
    assert cells == ["20.00 (19.00–22.50)", "6.00 (5.50–6.25)", "7.00"]  # the older run: the p50 alone


SPEED_ROWS = [
    {"run_id": "r1", "name": "a", "variant": "teacher", "p50_ms_batch1": 20.0},
    {"run_id": "r1", "name": "a", "variant": "student", "speedup_batch1": 3.1234, "speedup_batch1_low": 2.98,
     "speedup_batch1_high": 3.25, "speedup_batch1_verdict": "faster", "speedup_batch32": 1.013,
     "speedup_batch32_low": 0.97, "speedup_batch32_high": 1.04, "speedup_batch32_verdict": "no measurable difference",
     "vs_control_batch1": 1.002, "vs_control_batch1_low": 0.99, "vs_control_batch1_high": 1.01,
     "vs_control_batch1_verdict": "no measurable difference"},
    {"run_id": "r1", "name": "a", "variant": "teacher-int8", "speedup_batch1": 0.8, "speedup_batch1_low": 0.75,
     "speedup_batch1_high": 0.85, "speedup_batch1_verdict": "slower"},
]


def test_speed_table_says_no_measurable_difference_when_the_interval_holds_one():
    table = display.speed_table(SPEED_ROWS)
    assert list(table.columns) == ["run", "variant", "speedup over teacher, batch 1 (x)",
                                   "speedup over teacher, batch 32 (x)", "student vs control, batch 1 (x)"]
    assert list(table.variant) == ["student", "teacher-int8"]  # the teacher is the reference: no row
    student = table.iloc[0]
    assert student["speedup over teacher, batch 1 (x)"] == "3.12x (2.98-3.25)"
    assert student["speedup over teacher, batch 32 (x)"] == "no measurable difference (0.97-1.04)"
    assert "1.01x" not in student["speedup over teacher, batch 32 (x)"]  # never a ratio when it cannot tell
    assert student["student vs control, batch 1 (x)"] == "no measurable difference (0.99-1.01)"
    assert table.iloc[1]["speedup over teacher, batch 1 (x)"] == "0.80x (0.75-0.85)"
    assert table.iloc[1]["student vs control, batch 1 (x)"] == "–"


def test_speed_columns_never_reach_the_comparison_table_and_older_runs_have_no_speed_table():
    table = display.comparison_table(SPEED_ROWS)
    assert not [c for c in table.columns if "speedup" in c or "vs control" in c]
    assert len(display.speed_table(ROWS)) == 0


def test_seed_table_of_a_results_dict_and_none_without_a_gain():
    from tests.views.test_verdict import THREE_SEEDS

    table = display.seed_table(THREE_SEEDS)
    assert list(table.columns) == ["seed", "student accuracy", "control accuracy", "gain", "95% CI", "McNemar p"]
    assert list(table["seed"]) == ["0", "1", "2", "mean"]
    assert display.seed_table({"quality": {"distillation_gain": 0.03}}) is None


def test_speed_table_names_a_setting_other_than_real_inputs():
    rows = [{"run_id": "r", "name": "lm", "variant": "student", "speedup_decode_batch1": 2.2,
             "speedup_decode_batch1_low": 2.0, "speedup_decode_batch1_high": 2.4,
             "speedup_decode_batch1_verdict": "faster", "speedup_prefill_batch1": 1.02,
             "speedup_prefill_batch1_low": 0.9, "speedup_prefill_batch1_high": 1.1,
             "speedup_prefill_batch1_verdict": "no measurable difference"}]
    table = display.speed_table(rows)
    assert list(table.columns)[2:] == ["speedup over teacher, decode, batch 1 (x)",
                                       "speedup over teacher, prefill, batch 1 (x)"]
    assert list(table.iloc[0])[2:] == ["2.20x (2.00-2.40)", "no measurable difference (0.90-1.10)"]


def test_the_runtime_column_appears_only_when_a_row_is_not_on_pytorch():
    assert "runtime" not in display.comparison_table(ROWS).columns
    rows = [dict(r, runtime="pytorch") for r in ROWS] + [dict(ROWS[2], variant="student-ort", runtime="onnxruntime")]
    table = display.comparison_table(rows)
    assert list(table["runtime"]) == ["PyTorch"] * 5 + ["ONNX Runtime"]
