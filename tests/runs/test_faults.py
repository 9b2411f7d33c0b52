"""Faults the store and the workers survive with nothing lost: the app killed mid-run, a full disk while saving,
two runs started at the same moment, a run deleted while it trains. (A SIGKILLed worker: tests/runs/test_jobs.py; a
corrupt teacher cache: tests/tasks/classification/test_teacher_cache.py and
tests/tasks/causal_lm/test_teacher_cache.py.)

Real tiny runs in real worker processes, one torch thread; every wait polls the store with a timeout.
"""

import errno
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from distill_core.core.errors import DistillLabError
from distill_core.runs import jobs, store
from distill_core.views import compare
from tests.support.workers import finished, folder_digest, long_config, student_step, training, wait_for

pytestmark = pytest.mark.usefixtures("one_slot")

APP = Path(__file__).resolve().parents[2] / "app.py"
# What the app does when Start is pressed (jobs.submit), in a process of its own that the test can kill.
APP_PROCESS = """
import sys, time
from distill_core.core import config
from distill_core.runs import jobs
print(jobs.submit(config.load(sys.argv[1])), flush=True)
time.sleep(600)
"""


def _kill_quietly(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, TypeError):
        pass


def test_the_app_killed_mid_run_leaves_the_run_training_and_a_restarted_app_finds_it(tiny_teacher_dir, tmp_path):
    config_file = tmp_path / "long.json"
    config_file.write_text(long_config(tiny_teacher_dir, name="survivor").to_json())
    app = subprocess.Popen([sys.executable, "-c", APP_PROCESS, str(config_file)], stdout=subprocess.PIPE, text=True,
                           cwd=Path(__file__).resolve().parents[2])
    worker_pid = None
    try:
        run_id = app.stdout.readline().strip()
        wait_for(lambda: training(run_id))
        worker_pid = store.get_run(run_id).pid
        app.kill()  # the Streamlit process dies (Ctrl-C, crash, closed terminal)
        app.wait()
        step_at_kill = student_step(run_id)
        wait_for(lambda: student_step(run_id) >= step_at_kill + 3)  # its worker trains on
        assert store.get_run(run_id).status == "running"

        restarted = AppTest.from_file(str(APP), default_timeout=60)
        restarted.run()
        assert not restarted.exception, [e.value for e in restarted.exception]
        sidebar = " ".join(m.value for m in restarted.sidebar.markdown)
        assert "survivor" in sidebar and "running" in sidebar, sidebar

        assert jobs.cancel(run_id) == "running"  # and it can still be stopped from the new app
        run = wait_for(lambda: finished(run_id))
        assert run.status == "cancelled" and (run.folder / "student" / "model.safetensors").exists()
    finally:
        app.kill()
        _kill_quietly(worker_pid)


def _disk_full_after(nbytes):
    """A stand-in for safetensors' save_file on a disk with `nbytes` free: writes that much, then ENOSPC."""
    def save_file(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\0" * nbytes)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(filename))
    return save_file


def test_a_full_disk_while_saving_fails_the_run_with_the_reason_and_keeps_earlier_runs(tiny_config, monkeypatch):
    earlier_id, status = jobs.run_here(tiny_config.replace(name="earlier"))
    earlier = store.get_run(earlier_id)
    before = folder_digest(earlier.folder)

    import transformers.modeling_utils

    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", _disk_full_after(100))
    with pytest.raises(DistillLabError, match="is full") as info:
        jobs.run_here(tiny_config.replace(name="unlucky"))
    assert info.value.field == "run" and "earlier runs are intact" in str(info.value)

    unlucky = next(r for r in store.list_runs() if r.name == "unlucky")
    assert unlucky.status == "failed" and "No space left on device" in unlucky.error
    assert any(e["phase"] == "student" for e in store.run_history(unlucky.id)), "its progress history is kept"
    leftovers = [p.name for p in unlucky.folder.iterdir() if ".tmp" in p.name or p.name == "student"]
    assert leftovers == [], "no half-written student is left behind"
    assert store.get_run(earlier_id).status == "done" and folder_digest(earlier.folder) == before
    assert [r.id for r in compare.runs_with_results()] == [earlier_id] and store.integrity_ok()


def test_two_runs_started_at_the_same_moment_both_run_one_after_the_other(tiny_config):
    barrier = threading.Barrier(2)
    ids, errors = [], []

    def press_start(name):
        try:
            barrier.wait(timeout=10)
            ids.append(jobs.submit(tiny_config.replace(name=name)))
        except Exception as exc:  # reported below: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=press_start, args=(name,)) for name in ("tab-a", "tab-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(ids)) == 2
    a, b = sorted((wait_for(lambda i=i: finished(i)) for i in ids), key=lambda r: r.started)
    assert (a.status, b.status) == ("done", "done"), (a.error, b.error)
    assert b.started >= a.finished, "one slot: never two at once"
    assert a.folder != b.folder and all((r.folder / "results.json").exists() for r in (a, b))


def test_a_run_deleted_while_training_stops_leaves_nothing_behind_and_frees_its_slot(tiny_teacher_dir, tiny_config):
    doomed = jobs.submit(long_config(tiny_teacher_dir, name="doomed"))
    waiting = jobs.submit(tiny_config.replace(name="waiting"))
    wait_for(lambda: training(doomed))
    folder = store.get_run(doomed).folder
    worker = next(p for p in jobs._children if p.pid == store.get_run(doomed).pid)

    assert jobs.delete(doomed) == doomed
    assert worker.wait(timeout=60) == 3, "its worker stops as if cancelled"
    assert not folder.exists(), "what it saved on its way out is removed too"
    assert [r.id for r in store.list_runs()] == [waiting]
    run = wait_for(lambda: finished(waiting))
    assert run.status == "done", run.error
    assert store.integrity_ok()
