"""Runs as text: the quality table with the verdict and the per-seed table under it, and the run listing's verdict
column (from the summary runs.worker.summarize stores)."""

from types import SimpleNamespace

from distill_core.runs import worker
from distill_core.views import tables
from tests.support.runs import fake_results
from tests.views.test_verdict import ONE_SEED, THREE_SEEDS


def _with_gain(gain_results: dict) -> dict:
    results = fake_results(0.774, 0.751)
    results["quality"]["gain"] = gain_results["quality"]["gain"]
    results["quality"]["distillation_gain"] = gain_results["quality"]["gain"]["mean"]
    return results


def test_quality_table_prints_the_verdict_and_the_seeds_under_the_variants():
    text = tables.quality_table(_with_gain(THREE_SEEDS))
    lines = text.splitlines()
    at = lines.index("distillation gain (student - control accuracy, mean of 3 seeds): +1.60 points")
    assert lines[at - 1] == "(student and control above: seed 0, the saved models)"
    assert lines[at + 1] == "verdict: no measurable effect: +1.60 points (95% CI -0.03 to +3.23; t over 3 seeds)"
    assert lines[at + 2].split() == ["seed", "student", "accuracy", "control", "accuracy", "gain", "95%", "CI",
                                     "McNemar", "p"]
    assert lines[at + 3].split() == ["0", "77.40%", "75.10%", "+2.30", "points", "-0.50", "to", "+5.10", "0.120"]
    assert lines[at + 6].startswith("mean ") and "-0.03 to +3.23" in lines[at + 6]
    assert lines[at + 7] == "gain = student - control accuracy, in percentage points"


def test_quality_table_of_one_seed_has_its_note_and_older_results_have_no_verdict():
    text = tables.quality_table(_with_gain(ONE_SEED))
    assert "distillation gain (student - control accuracy): +3.00 points" in text
    assert "verdict: the teacher helped: +3.00 points (95% CI +1.20 to +4.80;" in text
    assert "note: one training seed:" in text and "saved models" not in text
    older = tables.quality_table(fake_results(0.86, 0.83))
    assert "distillation gain (student - control accuracy): +3.00 points" in older and "verdict" not in older


def test_summarize_keeps_the_verdict_and_interval_and_the_listing_shows_the_verdict():
    summary = worker.summarize(_with_gain(THREE_SEEDS))
    assert summary["verdict"] == "no-effect" and summary["gain_interval"] == [-0.0003, 0.0323]
    assert summary["distillation_gain"] == 0.016
    older = worker.summarize(fake_results(0.86, 0.83))
    assert "verdict" not in older and "gain_interval" not in older
    runs = [SimpleNamespace(summary=summary), SimpleNamespace(summary=older), SimpleNamespace(summary=None)]
    columns, cells = tables.summary_columns(runs)
    assert columns == ["student acc", "gain", "verdict"]
    assert cells[0] == {"student acc": 0.774, "gain": 0.016, "verdict": "no measurable effect"}
    assert cells[1]["verdict"] is None and cells[2] == {"gain": None, "verdict": None}


def test_training_setup_names_device_processes_threads_and_precision():
    assert tables.training_setup({"device": "cpu", "threads": 2}) == "cpu, 1 process, 2 torch threads, fp32"
    assert (tables.training_setup({"device": "cpu", "threads": 2, "precision": "bf16",
                                   "training": {"trainings_at_once": 2}})
            == "cpu, 1 process, 2 torch threads, bf16; 2 trainings at once, 1 torch thread each")
    assert (tables.training_setup({"device": "cuda:0", "threads": 1, "processes": 4, "precision": "bf16"})
            == "cuda:0, 4 processes (DDP), 1 torch thread each, bf16")
    text = tables.quality_table(fake_results(0.86, 0.83) | {"device": "cpu", "threads": 1, "processes": 2})
    assert "trained on: cpu, 2 processes (DDP), 1 torch thread each, fp32" in text
