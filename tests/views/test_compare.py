"""The comparison table's rows carry the uncertainty: the gain's interval and verdict from results.json, the p50
intervals and paired speedups from bench.json; older files without them give plain rows."""

import json

import pytest

from distill_core.views import compare
from tests.support.runs import fake_results
from tests.views.test_verdict import THREE_SEEDS


def _latency(batch, p50, low=None, high=None):
    return {"setting": "real", "batch_size": batch, "p50_ms": p50, "throughput": batch * 1000 / p50,
            "p50_low_ms": low, "p50_high_ms": high}


def _bench(comparisons=None, intervals=True) -> dict:
    def variant(b1, b32):
        latency = [_latency(1, b1, b1 - 0.5, b1 + 1.0), _latency(32, b32, b32 - 2.0, b32 + 3.0)] if intervals \
            else [_latency(1, b1), _latency(32, b32)]
        return {"status": "ok", "latency": latency + [{"setting": "fixed", "batch_size": 1, "p50_ms": 99.0,
                                                       "p50_low_ms": 98.0, "p50_high_ms": 100.0}]}

    bench = {"config": {"batch_sizes": [1, 32]}, "machine": {"threads": 2},
             "variants": {"teacher": variant(20.0, 300.0), "student": variant(7.0, 100.0),
                          "control": variant(7.0, 101.0), "student-int8": {"status": "error", "error": "x"}}}
    if comparisons is not None:
        bench["comparisons"] = comparisons
    return bench


COMPARISONS = [
    {"reference": "teacher", "variant": "student", "setting": "real", "batch_size": 1, "ratio": 2.9, "low": 2.7,
     "high": 3.1, "rounds": 9, "verdict": "faster"},
    {"reference": "teacher", "variant": "student", "setting": "fixed", "batch_size": 1, "ratio": 5.0, "low": 4.0,
     "high": 6.0, "rounds": 9, "verdict": "faster"},
    {"reference": "control", "variant": "student", "setting": "real", "batch_size": 1, "ratio": 1.01, "low": 0.98,
     "high": 1.03, "rounds": 9, "verdict": "no measurable difference"},
    {"reference": "student", "variant": "student-int8", "setting": "real", "batch_size": 1, "ratio": 1.5,
     "low": 1.4, "high": 1.6, "rounds": 9, "verdict": "faster"},
]


def test_interval_columns_read_real_p50_intervals_and_paired_speedups(tmp_path):
    (tmp_path / "bench.json").write_text(json.dumps(_bench(COMPARISONS)))
    cols = compare.interval_columns(tmp_path)
    assert cols["teacher"] == {"p50_ms_batch1_low": 19.5, "p50_ms_batch1_high": 21.0,
                               "p50_ms_batch32_low": 298.0, "p50_ms_batch32_high": 303.0}
    student = cols["student"]
    assert student["speedup_batch1"] == 2.9 and student["speedup_batch1_low"] == 2.7
    assert student["speedup_batch1_high"] == 3.1 and student["speedup_batch1_verdict"] == "faster"
    assert student["vs_control_batch1"] == 1.01 and student["vs_control_batch1_verdict"] == "no measurable difference"
    assert "speedup_batch1" not in cols["control"]  # the control is the reference of student vs control
    assert "student-int8" not in cols  # not measured; int8 vs its fp32 model is not a teacher comparison


def test_older_bench_files_give_no_interval_columns(tmp_path):
    (tmp_path / "bench.json").write_text(json.dumps(_bench(None, intervals=False)))
    assert compare.interval_columns(tmp_path) == {}
    assert compare.interval_columns(tmp_path / "missing") == {}


def test_quality_columns_put_the_gain_interval_and_verdict_on_the_student_row(tmp_path):
    results = fake_results(0.774, 0.751)
    results["quality"]["gain"] = THREE_SEEDS["quality"]["gain"]
    results["quality"]["distillation_gain"] = 0.016
    (tmp_path / "results.json").write_text(json.dumps(results))
    cols = compare.quality_columns(tmp_path)
    student = cols["student"]
    assert student["distillation_gain"] == pytest.approx(0.016)
    assert (student["distillation_gain_low"], student["distillation_gain_high"]) == (-0.0003, 0.0323)
    assert student["verdict"] == "no-effect" and student["seeds"] == 3
    assert "verdict" not in cols["teacher"] and cols["control"]["distillation_gain"] is None


def test_quality_columns_of_a_run_from_before_seeds_have_no_interval(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(fake_results(0.86, 0.83)))
    student = compare.quality_columns(tmp_path)["student"]
    assert student["distillation_gain"] == pytest.approx(0.03)
    assert "distillation_gain_low" not in student and "verdict" not in student


def test_comparisons_of_other_settings_are_named_by_setting_and_fixed_lengths_are_left_out(tmp_path):
    decode = {"reference": "teacher", "variant": "student", "setting": "decode", "batch_size": 1, "ratio": 2.2,
              "low": 2.0, "high": 2.4, "rounds": 5, "verdict": "faster"}
    (tmp_path / "bench.json").write_text(json.dumps(_bench(COMPARISONS + [decode])))
    student = compare.interval_columns(tmp_path)["student"]
    assert student["speedup_decode_batch1"] == 2.2 and student["speedup_decode_batch1_verdict"] == "faster"
    assert student["speedup_batch1"] == 2.9  # "real" inputs keep the short name
    assert not [k for k in student if "fixed" in k]


def test_contention_notes_name_the_runs_measured_on_a_contended_host_only(tmp_path, monkeypatch):
    from distill_core.runs import store

    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path))
    contended, quiet, old = (store.create_run({"name": n}) for n in ("contended", "quiet", "old"))
    note = "the host was contended in 9 of 12 rounds (...), too many to leave out"
    (contended.folder / "bench.json").write_text(json.dumps(
        {"conditions": {"contended_throughout": True, "contention_note": note}}))
    (quiet.folder / "bench.json").write_text(json.dumps(
        {"conditions": {"contended_throughout": False, "contention_note": "2 of 12 rounds left out: ..."}}))
    assert compare.contention_notes([contended, quiet, old]) == [(contended.id, note)]
