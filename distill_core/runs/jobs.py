"""Start, cancel and remove runs: what the CLI and the dashboard call. Runs execute in detached worker processes.

`submit` records a `queued` run and starts `python -m distill_core.runs.worker RUN_ID` in its own session (it outlives
the caller: a closed terminal or a restarted app does not stop it), logging to `runs/<id>/worker.log`. The worker
waits for a free slot (env DISTILL_LAB_MAX_JOBS, default 1), so two clicks queue two runs instead of making them
fight for the cores. Never imports torch: cheap to import from the UI.
"""

from __future__ import annotations

import os
import subprocess

from distill_core.core.config import RunConfig, validate
from distill_core.core.home import data_home
from distill_core.runs import store, worker
from distill_core.runs.children import child_env, start_detached

_children: list[subprocess.Popen] = []  # workers this process started; polled so they never linger as zombies


def reap_finished() -> None:
    """Collect the exit status of workers this process started that have ended (no zombies in a long-lived app)."""
    _children[:] = [p for p in _children if p.poll() is None]


def submit(config: RunConfig, name: str | None = None, owner: str | None = None,
           extra_env: dict[str, str] | None = None, sweep: str | None = None, trial: int | None = None) -> str:
    """Queue a run of `config` and start its worker; returns the run id at once. Raises ConfigError first. `owner`:
    room mode's owner id (runs/room.py); `extra_env`: set for the worker only (e.g. the hub offline); `sweep` and
    `trial`: the sweep this run is a trial of (distill_core/sweeps/)."""
    validate(config)
    worker.max_jobs()  # a bad DISTILL_LAB_MAX_JOBS fails here, not silently in the worker
    reap_finished()
    record = store.create_run(config.to_dict(), name=name if name is not None else config.name, owner=owner,
                              sweep=sweep, trial=trial)
    log_path = record.folder / "worker.log"
    env = child_env(DISTILL_LAB_HOME=str(data_home()), **(extra_env or {}))
    try:
        proc = start_detached("distill_core.runs.worker", record.id, log_path, env)
    except OSError as exc:
        store.finish(record.id, "failed", error=f"could not start the worker process: {exc}")
        raise
    store.set_pid(record.id, proc.pid)
    _children.append(proc)
    return record.id


def run_here(config: RunConfig, name: str | None = None, on_progress=None, on_wait=None,
             cancel: worker.CancelWatch | None = None, on_created=None) -> tuple[str, str]:
    """Record and execute a run in this process (the CLI's foreground `run`): same queue, heartbeat and events
    as a worker. Returns (run id, final status); the run's exception is re-raised after it is recorded."""
    validate(config)
    record = store.create_run(config.to_dict(), name=name if name is not None else config.name, pid=os.getpid())
    if on_created is not None:
        on_created(record)
    if cancel is not None:
        cancel.run_id = record.id
    status = worker.execute(record.id, on_progress=on_progress, on_wait=on_wait, cancel=cancel, raise_errors=True)
    return record.id, status


def cancel(ref: str) -> str:
    """Cancel a run (id or unique id prefix): queued -> cancelled now; running -> stops at its next step, keeping
    what it trained. Returns the status after the call."""
    return store.request_cancel(ref)


def delete(ref: str) -> str:
    """Remove a run and its files; a running run's worker stops at its next step. Returns the id."""
    return store.delete_run(ref)
