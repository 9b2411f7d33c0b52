"""The sweeps table: trials tagged with their sweep, cancel and delete of the whole sweep, a lost driver, and Ray
trials not counted against the local worker slots."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from distill_core.core.errors import DistillLabError
from distill_core.runs import store
from distill_core.sweeps import records
from distill_core.sweeps.spec import spec_from_dict
from tests.support.runs import tiny_run_config


def _spec(runner=None):
    base = tiny_run_config("/nowhere/teacher").to_dict()
    return spec_from_dict({"name": "s", "axes": {"loss.alpha": [0.5, 0.9]}, "runner": runner or {}}, base=base)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_sweep_lists_its_trials_in_order_and_resolves_by_prefix():
    sweep = records.create_sweep(_spec(), trials=2)
    assert sweep.status == "preparing" and sweep.trials == 2 and sweep.folder.is_dir()
    second = store.create_run({"name": "b"}, sweep=sweep.id, trial=1, pid=os.getpid())
    first = store.create_run({"name": "a"}, sweep=sweep.id, trial=0, pid=os.getpid())
    store.create_run({"name": "plain"}, pid=os.getpid())
    assert [r.id for r in records.trial_runs(sweep.id)] == [first.id, second.id]
    assert records.get_sweep(sweep.id[:12]).id == sweep.id
    assert store.get_run(first.id).sweep == sweep.id and store.get_run(first.id).trial == 0
    with pytest.raises(DistillLabError) as err:
        records.get_sweep("s1999")
    assert err.value.field == "sweep"


def test_cancel_stops_the_active_trials_and_leaves_the_ended_ones():
    sweep = records.create_sweep(_spec(), trials=3)
    records.update(sweep.id, pid=os.getpid(), status="running")
    queued = store.create_run({"name": "q"}, sweep=sweep.id, trial=0, pid=os.getpid())
    running = store.create_run({"name": "r"}, sweep=sweep.id, trial=1, pid=os.getpid())
    store.start_elsewhere(running.id, os.getpid(), "on Ray")
    done = store.create_run({"name": "d"}, sweep=sweep.id, trial=2, pid=os.getpid())
    store.finish(done.id, "done")
    assert records.request_cancel(sweep.id) == "running"  # its driver (this process) ends it
    assert records.cancel_requested(sweep.id)
    assert store.get_run(queued.id).status == "cancelled"
    assert store.get_run(running.id).cancel_requested and store.get_run(running.id).status == "running"
    assert store.get_run(done.id).status == "done"


def test_cancel_of_a_sweep_whose_driver_is_gone_ends_it():
    sweep = records.create_sweep(_spec(), trials=2)
    records.update(sweep.id, pid=_dead_pid())
    assert records.request_cancel(sweep.id) in ("cancelled", "interrupted")


def test_delete_removes_the_sweep_its_trials_and_their_folders():
    sweep = records.create_sweep(_spec(), trials=2)
    trial = store.create_run({"name": "t"}, sweep=sweep.id, trial=0, pid=os.getpid())
    other = store.create_run({"name": "other"}, pid=os.getpid())
    (trial.folder / "results.json").write_text("{}")
    records.delete_sweep(sweep.id)
    assert not trial.folder.exists() and not sweep.folder.exists()
    assert [r.id for r in store.list_runs()] == [other.id]
    assert records.list_sweeps() == []


def test_a_sweep_whose_driver_died_reads_interrupted():
    sweep = records.create_sweep(_spec(), trials=2)
    records.update(sweep.id, pid=_dead_pid())
    record = records.get_sweep(sweep.id)
    assert record.status == "interrupted" and "driver process" in record.error
    records.finish(sweep.id, "done")  # a driver marked gone while alive may still end it
    assert records.get_sweep(sweep.id).status == "done"


def test_ray_trials_do_not_take_the_local_worker_slots():
    ray_sweep = records.create_sweep(_spec({"kind": "ray"}), trials=1)
    on_ray = store.create_run({"name": "ray"}, sweep=ray_sweep.id, trial=0, pid=os.getpid())
    store.start_elsewhere(on_ray.id, os.getpid(), "on Ray")
    local = store.create_run({"name": "local"}, pid=os.getpid())
    assert store.claim(local.id, max_jobs=1, pid=os.getpid()) == "claimed"
    blocked = store.create_run({"name": "local 2"}, pid=os.getpid())
    assert store.claim(blocked.id, max_jobs=1, pid=os.getpid()) == "wait"  # the local one holds the slot
