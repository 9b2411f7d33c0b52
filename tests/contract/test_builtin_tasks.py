"""Every built-in task keeps the contract the shared machinery relies on: a finished, measured run of it (the tiny
runs the page tests share) carries its task in results.json and bench.json, its QualitySpec's metric and the
pipeline's retention and gain, and the CLI, Compare and the HTML report read it through the task."""

from __future__ import annotations

import json

import pytest

from distill_core import cli
from distill_core.core.variants import ALL_VARIANTS, runtime_of
from distill_core.runs import store
from distill_core.tasks import get_task, task_names
from distill_core.views import compare, report

# The shared tiny run of each built-in task (tests/conftest.py). A new built-in task adds its own here.
FINISHED_RUN = {"classification": "home_with_run", "causal-lm": "home_with_lm_run"}


def test_every_built_in_task_has_a_finished_run_fixture():
    builtin = [n for n in task_names() if get_task(n).__module__.startswith("distill_core.tasks.")]
    assert sorted(builtin) == sorted(FINISHED_RUN)


@pytest.mark.parametrize("task_name", sorted(FINISHED_RUN))
def test_a_built_in_tasks_run_is_read_through_its_task(task_name, request, capsys):
    run_id = request.getfixturevalue(FINISHED_RUN[task_name])
    task = get_task(task_name)
    folder = store.get_run(run_id).folder
    results = json.loads((folder / "results.json").read_text())
    bench = json.loads((folder / "bench.json").read_text())
    assert results["task"] == bench["task"] == task.name

    quality, metric = results["quality"], task.quality.metric
    assert (quality["metric"], quality["higher_is_better"]) == (metric, task.quality.higher_is_better)
    v = quality["variants"]
    teacher, student, control = v["teacher"][metric], v["student"][metric], v["control"][metric]
    kept = student / teacher if task.quality.higher_is_better else teacher / student
    assert v["student"]["retention"] == pytest.approx(kept)
    gain = student - control if task.quality.higher_is_better else control - student
    assert quality["distillation_gain"] == pytest.approx(gain)

    capsys.readouterr()
    assert cli.main(["show", run_id]) == 0
    shown = capsys.readouterr().out
    assert task.format_bench(bench).splitlines()[0] in shown

    rows = {row["variant"]: row for row in compare.results_table([run_id]).rows}
    runtimes = set(bench["config"].get("runtimes", ["pytorch"])) & set(task.runtimes)
    assert set(rows) == {v for v in ALL_VARIANTS if runtime_of(v) in runtimes}
    assert ("onnxruntime" in runtimes) == (task.name == "classification")
    assert all(row["task"] == task.name and row["metric"] == metric for row in rows.values())
    assert rows["student"][metric] == pytest.approx(student)
    assert set(task.bench_columns(bench)["student"]) <= set(rows["student"])

    html = report.html_report([run_id])
    assert store.get_run(run_id).name in html and metric in html
