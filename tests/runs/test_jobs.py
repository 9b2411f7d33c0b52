"""Runs in detached workers: the queue, cancel, SIGKILL, failures, and the CLI's detached and foreground runs.

Real tiny runs (a few seconds each, one torch thread); every wait polls the store with a timeout.
"""

import json
import os
import signal
import time

import pytest

from distill_core import cli
from distill_core.core.progress import ProgressEvent
from distill_core.runs import jobs, store, worker
from tests.support.runs import tiny_run_config
from tests.support.workers import finished, folder_digest, long_config, training, wait_for

pytestmark = pytest.mark.usefixtures("one_slot")


def test_two_runs_queue_and_run_one_after_the_other(tiny_config, tmp_path, capsys):
    config_file = tmp_path / "tiny.json"
    config_file.write_text(tiny_config.to_json())
    started = time.monotonic()
    assert cli.main(["run", "--config", str(config_file), "--detach", "--name", "first"]) == 0
    assert time.monotonic() - started < 5  # returns at once; the worker does the work
    first = capsys.readouterr().out.strip()
    second = jobs.submit(tiny_config.replace(name="second"))
    assert store.get_run(second).status == "queued"

    a, b = wait_for(lambda: finished(first)), wait_for(lambda: finished(second))
    assert (a.status, b.status) == ("done", "done"), (a.error, b.error)
    assert b.started >= a.finished  # never overlapping
    for run in (a, b):
        events = store.run_history(run.id)
        assert events[0]["phase"] == "start" and events[-1]["phase"] == "done"
        assert {"student", "control", "evaluate"} <= {e["phase"] for e in events}
        assert all(run.started <= e["time"] <= run.finished for e in events)
        assert run.summary["accuracy"].keys() == {"teacher", "student", "control"}
        assert (run.folder / "results.json").exists() and (run.folder / "worker.log").exists()
        assert run.progress == 1.0 and run.pid != os.getpid()


def test_cancel_stops_a_running_run_keeping_its_history_and_a_queued_run_at_once(tiny_teacher_dir):
    running = jobs.submit(long_config(tiny_teacher_dir))
    queued = jobs.submit(long_config(tiny_teacher_dir, "waiting"))
    assert jobs.cancel(queued) == "cancelled"
    assert store.get_run(queued).status == "cancelled"
    wait_for(lambda: training(running))
    assert jobs.cancel(running) == "running"
    run = wait_for(lambda: finished(running))
    assert run.status == "cancelled", run.error
    assert "cancelled at step" in run.error
    steps = [e["step"] for e in store.run_history(running) if e["phase"] == "student"]
    assert max(steps) >= 2  # the partial history is kept
    history = json.loads((run.folder / "history.json").read_text())
    assert history["student"] and (run.folder / "student" / "model.safetensors").exists()
    assert not (run.folder / "results.json").exists()
    assert not store.run_history(queued)  # the queued one never started


def test_sigkill_of_a_worker_leaves_it_interrupted_and_the_store_and_other_runs_intact(tiny_teacher_dir):
    other = store.create_run(tiny_run_config(tiny_teacher_dir, name="other").to_dict())
    store.claim(other.id, 1, None)
    (other.folder / "results.json").write_text('{"quality": {}}')
    (other.folder / "student").mkdir()
    (other.folder / "student" / "model.safetensors").write_bytes(os.urandom(4096))
    store.finish(other.id, "done")
    before = folder_digest(other.folder)

    victim = jobs.submit(long_config(tiny_teacher_dir))
    wait_for(lambda: training(victim))
    os.kill(store.get_run(victim).pid, signal.SIGKILL)
    run = wait_for(lambda: finished(victim), timeout=10)  # pid liveness: well before the heartbeat limit
    assert run.status == "interrupted" and "is gone" in run.error
    assert store.integrity_ok()
    assert any(e["phase"] == "student" for e in store.run_history(victim))
    assert store.get_run(other.id).status == "done" and folder_digest(other.folder) == before
    assert jobs.cancel(victim) == "interrupted"  # nothing left to stop
    jobs.delete(victim)
    assert not run.folder.exists() and other.folder.exists()


def test_a_failing_run_is_failed_with_the_users_message(tiny_teacher_dir):
    run_id = jobs.submit(tiny_run_config(tiny_teacher_dir, batch_size=4000))
    run = wait_for(lambda: finished(run_id))
    assert run.status == "failed"
    assert run.error.startswith("batch_size: 4000 is larger than the") and "Traceback" not in run.error


def test_foreground_cli_run_goes_through_the_store(tiny_config, tmp_path, capsys):
    config_file = tmp_path / "tiny.json"
    config_file.write_text(tiny_config.to_json())
    assert cli.main(["run", "--config", str(config_file), "--name", "../../x"]) == 0
    assert "distillation gain" in capsys.readouterr().out
    (run,) = store.list_runs()
    assert (run.status, run.name, run.pid) == ("done", "../../x", os.getpid())
    assert store.run_history(run.id)[-1]["phase"] == "done"


@pytest.mark.parametrize("validation_metric", ["val_accuracy", "val_perplexity"])
def test_progress_recorder_throttles_steps_but_keeps_phase_changes_and_evaluations(validation_metric):
    run_id = store.create_run(tiny_run_config("t").to_dict()).id
    store.claim(run_id, 1, None)
    recorder = worker.ProgressRecorder(run_id)
    for step in range(1, 51):
        metrics = {"loss": 1.0, **({validation_metric: 0.5} if step % 25 == 0 else {})}
        recorder(ProgressEvent("student", step, 50, step / 50, metrics))
    recorder(ProgressEvent("control", 1, 50, 0.02, {"loss": 1.0}))
    events = store.run_history(run_id)
    student_steps = [e["step"] for e in events if e["phase"] == "student"]
    assert student_steps[0] == 1 and {25, 50} <= set(student_steps) and len(student_steps) < 10
    assert events[-1]["phase"] == "control"
    assert store.get_run(run_id).progress == pytest.approx(worker.overall_progress("control", 0.02))


def test_bad_max_jobs_setting_is_a_clear_error(monkeypatch, tiny_config):
    monkeypatch.setenv("DISTILL_LAB_MAX_JOBS", "two")
    with pytest.raises(Exception, match="DISTILL_LAB_MAX_JOBS"):
        jobs.submit(tiny_config)
    assert store.list_runs() == []
