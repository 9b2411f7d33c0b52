"""A new task is one folder: a toy task registered by this test alone (tests/contract/toy_task.py) runs through the
shared pipeline, the worker process, `distill-lab run / show / bench`, Compare's table, every page and the HTML report,
with no file outside the tests edited for it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from distill_core import cli
from distill_core.core.config import from_dict
from distill_core.core.errors import ConfigError
from distill_core.runs import jobs, store
from distill_core.tasks import get_task, task_names
from distill_core.views import compare, report
from tests.contract import toy_task
from tests.support.workers import finished, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def toy_config_file(tmp_path):
    config = {"name": "toy", "task": toy_task.NAME, "student": {"num_layers": 1},
              "budget": {"unit": "steps", "value": 40, "eval_every": 20}, "batch_size": 32, "learning_rate": 0.01}
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def toy_env(monkeypatch):
    """Worker processes find the toy task the way a plugin is found: DISTILL_LAB_TASKS names its module."""
    monkeypatch.setenv("DISTILL_LAB_TASKS", "tests.contract.toy_task")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def test_the_registry_knows_the_toy_task_and_its_rules():
    assert toy_task.NAME in task_names()
    assert get_task(toy_task.NAME) is toy_task.TOY
    with pytest.raises(ConfigError) as err:
        from_dict({"task": toy_task.NAME, "student": {"num_layers": 5}})
    assert err.value.field == "student.num_layers" and "1 to 3" in str(err.value)
    with pytest.raises(ConfigError) as err:
        from_dict({"task": "no-such-task"})
    assert err.value.field == "task" and toy_task.NAME in str(err.value) and "classification" in str(err.value)


def test_a_toy_run_goes_through_the_cli_the_store_compare_and_the_report(toy_config_file, capsys):
    assert cli.main(["run", "--config", str(toy_config_file)]) == 0
    run = store.list_runs()[0]
    assert run.status == "done"
    results = json.loads((run.folder / "results.json").read_text())
    assert results["task"] == toy_task.NAME
    quality = results["quality"]
    assert quality["metric"] == "accuracy" and set(quality["variants"]) == {"teacher", "student", "control"}
    # the pipeline's arithmetic on the toy's reports: retention against the teacher, gain against the control
    v = quality["variants"]
    assert v["student"]["retention"] == pytest.approx(v["student"]["accuracy"] / v["teacher"]["accuracy"])
    assert quality["distillation_gain"] == pytest.approx(v["student"]["accuracy"] - v["control"]["accuracy"])
    assert v["teacher"]["accuracy"] > 0.6  # the toy teacher learned its task (chance is about 0.4)
    assert results["training"]["control"]["steps"] == results["training"]["student"]["steps"] == 40

    bench = json.loads((run.folder / "bench.json").read_text())
    assert bench["task"] == toy_task.NAME and set(bench["variants"]) == {"teacher", "student", "control"}
    assert all(v["status"] == "ok" for v in bench["variants"].values())

    capsys.readouterr()
    assert cli.main(["show", run.id]) == 0
    shown = capsys.readouterr().out
    assert "p50 ms (batch 1)" in shown and f"{v['student']['accuracy']:.3f}" in shown

    assert cli.main(["bench", run.id, "--variant", "student"]) == 0
    assert "p50 ms (batch 1)" in capsys.readouterr().out
    assert set(json.loads((run.folder / "bench.json").read_text())["variants"]) == {"student"}

    table = compare.results_table([run.id])
    rows = {row["variant"]: row for row in table.rows}
    assert set(rows) >= {"teacher", "student", "control"}
    assert rows["student"]["accuracy"] == pytest.approx(v["student"]["accuracy"])
    assert rows["student"]["p50_ms_batch1"] > 0

    html = report.html_report([run.id])
    assert "toy" in html and f"{100 * v['student']['accuracy']:.1f}" in html

    # Every page renders with the toy run in the store; Compare draws it on the toy's own metric.
    for page in ("app_pages/home.py", "app_pages/runs.py", "app_pages/compare.py", "app_pages/playground.py", "app_pages/learn.py"):
        at = _open_page(page, {"run_id": run.id})
        if page == "app_pages/compare.py":
            assert at.selectbox(key="quality_metric").value == "accuracy"
            assert len(at.get("plotly_chart")) >= 2


def _open_page(page: str, state: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, (page, [e.value for e in at.exception])
    return at


def test_a_toy_run_executes_in_a_worker_process(toy_config_file, toy_env, one_slot):
    config = from_dict(json.loads(toy_config_file.read_text()) | {"measure": False})
    run_id = jobs.submit(config)
    run = wait_for(lambda: finished(run_id), timeout=240)
    assert run.status == "done", run.error
    assert json.loads((run.folder / "results.json").read_text())["task"] == toy_task.NAME


def test_a_task_module_that_cannot_be_imported_is_named_with_the_setting(monkeypatch):
    from distill_core.tasks import registry

    monkeypatch.setenv("DISTILL_LAB_TASKS", "tests.contract.toy_task, no_such_module_here")
    with pytest.raises(ConfigError) as err:
        registry._register_plugins()
    assert err.value.field == "DISTILL_LAB_TASKS" and "no_such_module_here" in str(err.value)
