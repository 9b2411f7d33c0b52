"""Start, cancel, delete sweeps: what the CLI and the Sweeps page call. A sweep runs in a detached driver process
(`python -m distill_core.sweeps.driver SWEEP_ID`, its log in `sweeps/<id>/driver.log`), so closing the terminal or
the browser does not stop it. Never imports torch or ray: cheap to import from the UI."""

from __future__ import annotations

import subprocess

from distill_core.core.home import data_home
from distill_core.runs import worker
from distill_core.runs.children import child_env, start_detached
from distill_core.sweeps import records
from distill_core.sweeps.spec import SweepSpec, expand, validate_spec

_children: list[subprocess.Popen] = []


def create(spec: SweepSpec, owner: str | None = None) -> records.SweepRecord:
    """Validate `spec` (every trial) and record the sweep as `preparing`, without starting it."""
    validate_spec(spec)
    worker.max_jobs()  # a bad DISTILL_LAB_MAX_JOBS fails here, not in the driver
    return records.create_sweep(spec, len(expand(spec)), owner=owner)


def start(spec: SweepSpec, owner: str | None = None, extra_env: dict[str, str] | None = None) -> str:
    """Record the sweep and start its driver; returns the sweep id at once. Raises ConfigError naming the field."""
    record = create(spec, owner)
    _children[:] = [p for p in _children if p.poll() is None]
    env = child_env(DISTILL_LAB_HOME=str(data_home()), **(extra_env or {}))
    try:
        proc = start_detached("distill_core.sweeps.driver", record.id, record.folder / "driver.log", env)
    except OSError as exc:
        records.finish(record.id, "failed", error=f"could not start the sweep's driver: {exc}")
        raise
    records.update(record.id, pid=proc.pid)
    _children.append(proc)
    return record.id


def cancel(ref: str) -> str:
    """Cancel a sweep and its active trials; returns the sweep's status after the call."""
    return records.request_cancel(ref)


def delete(ref: str) -> str:
    """Remove a sweep with all its trials and files; returns its id."""
    return records.delete_sweep(ref)
