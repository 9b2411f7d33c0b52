"""Real sweeps of the offline tiny preset: 4 trials on the local worker queue and on a Ray cluster started here,
the teacher prepared once for all of them, and a Ray worker killed in the middle of a trial."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from distill_core.core.home import cache_dir
from distill_core.runs import store
from distill_core.sweeps import driver, launch, records
from distill_core.sweeps.spec import spec_from_dict
from distill_core.tasks.presets import get_preset
from distill_core.views import sweeps as sweep_views

pytestmark = pytest.mark.e2e
RAY = shutil.which("ray", path=str(Path(os.sys.executable).parent))


def _tiny_sweep(runner: dict, axes: dict | None = None):
    return spec_from_dict({"name": "tiny sweep", "runner": runner,
                           "axes": axes or {"loss.temperature": [1.0, 4.0], "student.num_layers": [1, 2]}},
                          base=get_preset("reviews-tiny").to_dict())


def _assert_teacher_prepared_once(sweep_id: str) -> None:
    """One teacher fine-tune in all (by the driver, or by the first trial while the queue held the others), and
    every other preparation a cache hit; one fine-tuned teacher in the cache."""
    prepared = [json.loads(p.read_text()) for p in records.sweep_dir(sweep_id).glob("teacher-*/prepared.json")]
    trials = [json.loads((r.folder / "results.json").read_text()) for r in records.trial_runs(sweep_id)]
    fine_tunes = [not p["teacher"]["cached"] for p in prepared] + [not t["teacher"]["cached"] for t in trials]
    assert sum(fine_tunes) == 1, fine_tunes
    outputs_computed = [not p["teacher_outputs_cached"] for p in prepared] + [
        not t["teacher_outputs_cached"] for t in trials]
    assert sum(outputs_computed) == 1, outputs_computed
    teachers = [p for p in cache_dir("teachers").iterdir() if p.is_dir()] if cache_dir("teachers").exists() else []
    assert len(teachers) == 1, teachers


def _assert_trials(sweep_id: str, expected: list[tuple[float, int]]) -> None:
    runs = records.trial_runs(sweep_id)
    assert [r.status for r in runs] == ["done"] * len(expected), [(r.status, r.error) for r in runs]
    got = [(r.config["loss"]["temperature"], r.config["student"]["num_layers"]) for r in runs]
    assert got == expected
    for run in runs:
        assert (run.folder / "student" / "model.safetensors").exists()
        assert set(run.summary["accuracy"]) == {"teacher", "student", "control"}


GRID = [(1.0, 1), (1.0, 2), (4.0, 1), (4.0, 2)]


def test_a_four_trial_sweep_on_the_local_queue_prepares_the_teacher_once():
    record = launch.create(_tiny_sweep({"kind": "local"}))
    assert driver.drive(record.id) == "done"
    assert records.get_sweep(record.id).status == "done"
    _assert_trials(record.id, GRID)
    _assert_teacher_prepared_once(record.id)
    assert not list(record.folder.glob("teacher-*"))  # one trial at a time: the first trial prepared it
    _assert_sweep_renders(record.id)


def _assert_sweep_renders(sweep_id: str) -> None:
    """The real sweep's rows, report and page: every trial with its values, none with a missing figure."""
    from tests.ui.test_pages import open_page

    rows = sweep_views.trial_rows(sweep_id)
    assert [(r["loss.temperature"], r["student.num_layers"]) for r in rows] == GRID
    assert all(r["student"] is not None and r["speed"] > 1 for r in rows)
    html = sweep_views.sweep_report_html(sweep_id)
    assert all(f"temperature={t:g}, num_layers={n}" in html for t, n in GRID)
    at = open_page("app_pages/sweeps.py")
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert at.selectbox(key="sweep_pick").value == sweep_id
    assert len(at.dataframe[0].value) == 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A Ray head on this machine (`ray start --head`, 2 CPUs, a free port); stopped after the module."""
    if RAY is None:
        pytest.fail("the ray command is missing from the venv: scripts/setup.sh installs ray")
    port = _free_port()
    env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0"}
    start = subprocess.run([RAY, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                            "--disable-usage-stats"], env=env, capture_output=True, text=True, timeout=180)
    assert start.returncode == 0, start.stdout + start.stderr
    yield f"127.0.0.1:{port}"
    subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


def _wait_for(sweep_id: str, timeout_s: float = 600):
    deadline = time.monotonic() + timeout_s
    while records.get_sweep(sweep_id).status in records.ACTIVE:
        assert time.monotonic() < deadline, "the sweep did not end in time"
        time.sleep(0.5)
    return records.get_sweep(sweep_id)


def test_a_four_trial_sweep_on_a_ray_cluster_comes_back_into_the_store(ray_cluster):
    sweep_id = launch.start(_tiny_sweep({"kind": "ray", "address": ray_cluster, "cpus_per_trial": 1}))
    record = _wait_for(sweep_id)
    assert record.status == "done", (record.error, (record.folder / "driver.log").read_text()[-3000:])
    _assert_trials(record.id, GRID)
    _assert_teacher_prepared_once(record.id)
    assert len(list(record.folder.glob("teacher-*/prepared.json"))) == 1  # trials at once: the driver prepared it
    _assert_sweep_renders(record.id)
    assert all(r.config["threads"] == 1 for r in records.trial_runs(record.id))  # threads = the CPUs asked for
    workers = list((record.folder / "ray-workers").glob("*.json"))
    assert len(workers) == 4
    for run in records.trial_runs(record.id):  # their progress came back live through the driver's Ray queue
        phases = {event["phase"] for event in store.run_history(run.id)}
        assert {"student", "control", "done"} <= phases, (run.name, phases)
        assert any("val_accuracy" in event["metrics"] for event in store.run_history(run.id))


def test_a_killed_ray_worker_fails_its_trial_and_the_others_finish(ray_cluster):
    spec = _tiny_sweep({"kind": "ray", "address": ray_cluster, "cpus_per_trial": 1, "retries": 0},
                       axes={"loss.temperature": [1.0, 2.0, 4.0]})
    sweep_id = launch.start(spec)
    pids = records.sweep_dir(sweep_id) / "ray-workers"
    deadline = time.monotonic() + 300
    victim = None
    while victim is None and time.monotonic() < deadline and records.get_sweep(sweep_id).status in records.ACTIVE:
        found = sorted(pids.glob("*.json")) if pids.exists() else []
        if found:
            victim = found[0]
            os.kill(json.loads(victim.read_text())["pid"], signal.SIGKILL)
        time.sleep(0.2)
    assert victim is not None, "no trial started on Ray"
    record = _wait_for(sweep_id)
    assert record.status == "done", record.error
    runs = {r.id: r for r in records.trial_runs(sweep_id)}
    killed = runs[victim.stem]
    assert killed.status == "failed" and "died" in killed.error
    others = [r for r in runs.values() if r.id != killed.id]
    assert [r.status for r in others] == ["done", "done"]
    assert store.integrity_ok()
    assert not any(r.status in store.ACTIVE for r in store.list_runs())
