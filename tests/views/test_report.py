"""The HTML report: self-contained, escaped, with the run's tables, charts and config; runs without results noted."""

import json
import re
import time

import pytest

from distill_core.core.config import RunConfig
from distill_core.core.errors import DistillLabError
from distill_core.runs import store
from distill_core.views import report
from tests.support.runs import fake_results

EVIL = "<script>alert('x')</script> & co"
MACHINE = {"cpu_model": "Test CPU 9000", "physical_cores": 2, "logical_cores": 4, "threads": 2, "gpu": None,
           "cuda": None, "os": "Linux", "python": "3.12", "torch": "2.9", "transformers": "4.57", "torchao": None}


def variant_bench(p50_b1: float, p50_b32: float, weight_mib: float, accuracy=None) -> dict:
    """One bench.json variant entry, as bench.VariantResult.to_dict writes it (trimmed to what is read)."""
    latency = [{"setting": "real", "batch_size": b, "p50_ms": p, "throughput": b * 1000 / p}
               for b, p in ((1, p50_b1), (32, p50_b32))]
    return {"name": "x", "ref": "x", "status": "ok", "latency": latency,
            "memory": {"baseline_rss_bytes": 0, "peak_rss_bytes": 300 * 2**20, "delta_rss_bytes": 300 * 2**20,
                       "samples": 10},
            "size": {"parameters": 1_000_000, "weight_bytes": int(weight_mib * 2**20), "int8_elements": 0,
                     "flops_per_input_fixed": 1e9, "flops_per_input_real": 5e8, "fixed_length": 128,
                     "flops_curve": [0, 1, 0]},
            "quality": {"accuracy": accuracy, "agreement": 0.9, "retention": accuracy / 0.9} if accuracy else None,
            "machine": MACHINE}


HISTORY = {"teacher-finetune": [],
           "student": [{"step": 5, "loss": 0.7, "lr": 1e-4}, {"step": 10, "val_accuracy": 0.8, "seconds": 1.0}],
           "control": [{"step": 5, "loss": 0.9, "lr": 1e-4}, {"step": 10, "val_accuracy": 0.75, "seconds": 1.0}]}


def finished_run(name: str, temperature: float = 2.0) -> store.RunRecord:
    config = RunConfig(name=name).to_dict()
    config["loss"]["temperature"] = temperature
    record = store.create_run(config, name=name)
    assert store.claim(record.id, 1, None) == "claimed"
    (record.folder / "results.json").write_text(json.dumps(fake_results(0.86, 0.83)))
    (record.folder / "history.json").write_text(json.dumps(HISTORY))
    (record.folder / "bench.json").write_text(json.dumps({
        "run_dir": str(record.folder), "created": "2026-01-01T00:00:00", "wall_seconds": 60.0,
        "config": {"batch_sizes": [1, 32]}, "machine": MACHINE, "matmul_peak": None, "run_config": config,
        "conditions": {"timing": "one-process", "rounds": 12, "timing_seconds": 28.6, "load_before": [0.5, 0, 0],
                       "load_after": [2.25, 0, 0], "probe_ms_before": 4.0, "probe_ms_after": 4.5},
        "quality": {"metric": "accuracy", "split": "test", "distillation_gain": 0.03},
        "variants": {"teacher": variant_bench(20.0, 300.0, 87.0), "student": variant_bench(7.0, 100.0, 58.0),
                     "student-int8": variant_bench(4.0, 60.0, 15.0, accuracy=0.85),
                     "control": variant_bench(7.0, 100.0, 58.0)}}))
    store.finish(record.id, "done")
    return store.get_run(record.id)


@pytest.fixture
def page_of_two():
    a, b = finished_run(EVIL), finished_run("t4", temperature=4.0)
    return a, b, report.html_report([a.id, b.id])


def test_report_escapes_run_names(page_of_two):
    a, _, page = page_of_two
    assert "<script>alert('x')</script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page


def test_report_is_self_contained_with_plotly_inline_once(page_of_two):
    _, _, page = page_of_two
    assert 'src="http' not in page and "src='http" not in page
    assert "<link" not in page
    assert page.count("Plotly.newPlot") >= 4  # scatter, cost bars, two training curves
    assert len(page) > 3_000_000  # plotly.js (several MB) is in the page
    from plotly.offline import get_plotlyjs

    assert page.count(get_plotlyjs()[:200]) == 1


def test_report_has_date_ids_machine_tables_and_configs(page_of_two):
    a, b, page = page_of_two
    assert time.strftime("%Y-%m-%d") in page
    assert a.id in page and b.id in page and "done" in page
    assert "Test CPU 9000" in page
    assert (f"{b.name}: timed in one process, mirrored rounds: 12 rounds in 29 s; load average 0.50 before, 2.25 "
            "after; speed probe 4.00 ms before, 4.50 ms after") in page
    assert "keeps teacher layers [0, 5]" in page and "minilm" in page
    assert "latency p50, batch 1 (ms)" in page and "weights (MiB)" in page
    assert "distillation gain" in page and "+3.00 points" in page
    assert "loss.temperature" in page  # the config diff
    diff = page.split("Settings that differ")[1].split("<details")[0]
    assert "loss.alpha" not in diff  # same in both runs
    assert page.count("<details>") == 2 and "full config" in page


def test_run_without_results_gets_a_note_not_charts():
    done = finished_run("done one")  # first: a queued run would hold the one job slot's queue
    queued = store.create_run(RunConfig(name="waiting").to_dict(), name="waiting")
    page = report.html_report([queued.id])
    assert "No results for this run yet" in page and queued.id in page
    assert "no measured variants yet" in page
    assert "Plotly.newPlot" not in page
    mixed = report.html_report([done.id, queued.id])
    assert "No results for this run yet" in mixed and mixed.count("Plotly.newPlot") == 3


def test_report_of_an_unknown_run_raises_a_user_error():
    with pytest.raises(DistillLabError, match="no run with id"):
        report.html_report(["20990101-000000-abcdef"])


def test_report_filename_names_the_first_run():
    assert report.report_filename(["20260101-120000-a1b2c3", "x"]) == "distill-lab-report-20260101-120000-a1b2c3.html"
    assert report.report_filename([]) == "distill-lab-report.html"
    assert re.fullmatch(r"distill-lab-report-[\w-]+\.html", report.report_filename(["../../etc/passwd"]))


def test_report_leads_with_the_verdict_then_shows_seeds_latency_intervals_and_speedups():
    from tests.views.test_compare import COMPARISONS
    from tests.views.test_verdict import THREE_SEEDS

    record = finished_run("seeded")
    results = json.loads((record.folder / "results.json").read_text())
    results["quality"] |= {"gain": THREE_SEEDS["quality"]["gain"], "distillation_gain": 0.016}
    (record.folder / "results.json").write_text(json.dumps(results))
    bench = json.loads((record.folder / "bench.json").read_text())
    for v in bench["variants"].values():
        for r in v["latency"]:
            r |= {"p50_low_ms": r["p50_ms"] - 0.5, "p50_high_ms": r["p50_ms"] + 1.0}
    bench["comparisons"] = COMPARISONS
    (record.folder / "bench.json").write_text(json.dumps(bench))
    older = finished_run("older")  # from before seeds and rounds: its gain alone, no speed table rows
    page = report.html_report([record.id, older.id])

    headline = "no measurable effect: +1.60 points (95% CI -0.03 to +3.23; t over 3 seeds)"
    assert page.index(headline) < page.index("<h2>Machine</h2>")  # the verdict comes first
    assert "distillation gain +3.00 points (no interval or verdict: the run predates training seeds)" in page
    seeds = page.split("Distillation gain per training seed")[1].split("Training curves")[0]
    assert "McNemar p" in seeds and "77.40%" in seeds and "&lt;0.001" in seeds and "-0.03 to +3.23" in seeds
    assert "gain = student - control accuracy, in percentage points" in seeds
    assert "20.00 (19.50–21.00)" in page  # the teacher's batch-1 p50 with its interval
    assert "+1.60 points (-0.03 to +3.23), no measurable effect" in page  # the gain cell
    speed = page.split("<h2>Speed</h2>")[1].split("<h2>")[0]
    assert "2.90x (2.70-3.10)" in speed and "no measurable difference (0.98-1.03)" in speed
    assert "5.00x" not in speed  # the fixed-length setting is not the table's


def test_first_screen_is_the_headline_and_the_pareto_chart_then_the_details():
    from tests.views.test_compare import COMPARISONS

    record = finished_run("first screen")
    bench = json.loads((record.folder / "bench.json").read_text())
    bench["comparisons"] = COMPARISONS
    (record.folder / "bench.json").write_text(json.dumps(bench))
    page = report.html_report([record.id])
    first = page[:page.index("<h2>Machine</h2>")]
    # The student: 2.90x (2.70-3.10) at batch 1, 58 of 87 MiB, accuracy 0.86 / 0.9 of the teacher.
    assert "2.90x faster" in first and "2.70-3.10x" in first
    assert "67% of the teacher" in first and "58.0 MiB of weights vs 87.0 MiB" in first
    assert "95.6%" in first and "accuracy 86.00% vs the teacher&#x27;s 90.00%" in first
    assert first.count("Plotly.newPlot") == 1  # the quality-vs-latency chart


def test_where_the_teacher_helped_lists_the_examples_each_side_won():
    from tests.views.test_teacher_helped import DATA

    record = finished_run("helped")
    data = DATA | {"texts": ["<b>a</b>", "b", "c", "d", "e"]}
    (record.folder / "test_outputs.json").write_text(json.dumps(data))
    results = json.loads((record.folder / "results.json").read_text())
    (record.folder / "results.json").write_text(json.dumps(results | {"config": record.config}))
    page = report.html_report([record.id])
    section = page.split("<h2>Where the teacher helped</h2>")[1].split("<h2>")[0]
    assert "the student got 2 right that the control got wrong, and the control 1" in section
    assert "Student right, control wrong: the first 2 of 2" in section
    assert "&lt;b&gt;a&lt;/b&gt;" in section and "<b>a</b>" not in section
    assert "good 75% · bad 25% · meh 0%" in section  # the run's T = 2
    assert "<h2>Where the teacher helped</h2>" not in report.html_report([finished_run("no outputs").id])
