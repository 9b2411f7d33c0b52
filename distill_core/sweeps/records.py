"""Sweeps in the run store: one `sweeps` row per sweep (spec, status, driver liveness); its trials are `runs` rows
tagged with the sweep's id and their index. Same file, schema and transactions as the runs (runs/database.py).

Statuses: preparing (the driver prepares the teacher once) -> running (trials dispatched) -> done (every trial
ended, whatever its own status) | failed (the sweep itself could not go on: a teacher that cannot be prepared, a Ray
cluster out of reach) | cancelled | interrupted (the driver process is gone). A failed trial never fails the sweep.
Times are Unix epoch seconds.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from distill_core.runs import store
from distill_core.runs.database import transaction
from distill_core.runs.database import opened as _opened
from distill_core.sweeps.spec import SweepSpec, spec_from_json

ACTIVE = ("preparing", "running")
FINISHED = ("done", "failed", "cancelled", "interrupted")
_SWEEP_ID = re.compile(r"s[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")  # fullmatch only


@dataclass
class SweepRecord:
    id: str
    name: str
    status: str
    created: float
    updated: float
    finished: float | None
    heartbeat: float | None
    pid: int | None
    cancel_requested: bool
    message: str | None
    error: str | None
    trials: int  # how many trials the spec expands to
    owner: str | None
    spec_json: str

    @property
    def spec(self) -> SweepSpec:
        return spec_from_json(self.spec_json)

    @property
    def folder(self) -> Path:
        return sweep_dir(self.id)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["spec"] = json.loads(data.pop("spec_json"))
        return data


def sweep_dir(sweep_id: str) -> Path:
    """The sweep's own folder (driver log, teacher preparation), `sweeps/<id>` under the data folder."""
    return store.id_folder("sweeps", sweep_id, _SWEEP_ID, "sweep", "s20260101-120000-a1b2c3")


def _record(row: sqlite3.Row) -> SweepRecord:
    data = {k: row[k] for k in row.keys()}
    data["cancel_requested"] = bool(data["cancel_requested"])
    data["spec_json"] = data.pop("spec")
    return SweepRecord(**data)


def new_sweep_id() -> str:
    """A fresh id that sorts by creation time: sYYYYMMDD-HHMMSS-<6 hex> (the s tells it from a run id)."""
    return "s" + store.new_run_id()


def create_sweep(spec: SweepSpec, trials: int, owner: str | None = None) -> SweepRecord:
    now = time.time()
    with _opened() as conn:
        sweep_id = store.insert_with_new_id(
            conn, new_sweep_id, "INSERT INTO sweeps (id, name, status, created, updated, heartbeat, spec, trials, "
            "owner, message) VALUES (?, ?, 'preparing', ?, ?, ?, ?, ?, ?, 'starting')",
            (spec.name, now, now, now, spec.to_json(), trials, owner), "sweep")
    sweep_dir(sweep_id).mkdir(parents=True, exist_ok=True)
    return get_sweep(sweep_id)


def resolve_sweep(conn: sqlite3.Connection, ref: str) -> str:
    """The id `ref` names: a full sweep id or a unique prefix of one (4+ characters)."""
    return store.resolve_id(conn, "sweeps", ref, "sweep", "s20260101-120000-a1b2c3", "`distill-lab sweep list`")


def get_sweep(ref: str) -> SweepRecord:
    with _opened() as conn:
        mark_interrupted(conn)
        sweep_id = resolve_sweep(conn, ref)
        return _record(conn.execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone())


def list_sweeps() -> list[SweepRecord]:
    """Sweeps, newest first."""
    with _opened() as conn:
        mark_interrupted(conn)
        rows = conn.execute("SELECT * FROM sweeps ORDER BY created DESC, rowid DESC").fetchall()
    return [_record(r) for r in rows]


def trial_runs(sweep_id: str) -> list[store.RunRecord]:
    """The sweep's trials that exist so far, in trial order (with configs)."""
    return store.trial_runs(sweep_id)


def update(sweep_id: str, **fields) -> None:
    """Set columns of a sweep (status, message, pid, error...) and count it as a sign of life."""
    allowed = {"status", "message", "pid", "error"}
    bad = set(fields) - allowed
    if bad:
        raise ValueError(f"not updatable: {sorted(bad)}")
    now = time.time()
    sets = ", ".join(f"{k} = ?" for k in fields)
    with _opened() as conn, transaction(conn):
        conn.execute(f"UPDATE sweeps SET {sets}{', ' if sets else ''}heartbeat = ?, updated = ? WHERE id = ?",
                     (*fields.values(), now, now, sweep_id))


def heartbeat(sweep_id: str) -> None:
    update(sweep_id)


def finish(sweep_id: str, status: str, error: str | None = None, message: str | None = None) -> None:
    """End a sweep (done | failed | cancelled | interrupted); only an active one changes."""
    if status not in FINISHED:
        raise ValueError(f"not a final status: {status}")
    with _opened() as conn, transaction(conn):
        now = time.time()
        conn.execute("UPDATE sweeps SET status = ?, error = ?, message = COALESCE(?, message), finished = ?, "
                     "updated = ? WHERE id = ? AND status IN ('preparing', 'running', 'interrupted')",
                     (status, error, message, now, now, sweep_id))


def cancel_requested(sweep_id: str) -> bool:
    with _opened() as conn:
        row = conn.execute("SELECT cancel_requested FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
    return row is None or bool(row[0])


def request_cancel(ref: str) -> str:
    """Stop a sweep: no new trials start, its queued trials are cancelled and its running ones stop at their next
    step (keeping what they trained). Returns the sweep's status after the call."""
    with _opened() as conn:
        sweep_id = resolve_sweep(conn, ref)
        with transaction(conn):
            conn.execute("UPDATE sweeps SET cancel_requested = 1, updated = ? WHERE id = ?", (time.time(), sweep_id))
        run_ids = [r[0] for r in conn.execute("SELECT id FROM runs WHERE sweep = ? AND status IN ('queued', "
                                              "'running')", (sweep_id,))]
    for run_id in run_ids:
        store.request_cancel(run_id)
    record = get_sweep(sweep_id)
    if record.status in ACTIVE and not store.pid_alive(record.pid):
        finish(sweep_id, "cancelled", error="cancelled")
    return get_sweep(sweep_id).status


def delete_sweep(ref: str) -> str:
    """Remove a sweep, all its trials (rows and folders) and its folder; running trials stop at their next step."""
    with _opened() as conn:
        sweep_id = resolve_sweep(conn, ref)
        with transaction(conn):
            conn.execute("UPDATE sweeps SET cancel_requested = 1 WHERE id = ?", (sweep_id,))
        run_ids = [r[0] for r in conn.execute("SELECT id FROM runs WHERE sweep = ?", (sweep_id,))]
    for run_id in run_ids:
        store.delete_run(run_id)
    with _opened() as conn, transaction(conn):
        conn.execute("DELETE FROM sweeps WHERE id = ?", (sweep_id,))
    shutil.rmtree(sweep_dir(sweep_id), ignore_errors=True)
    return sweep_id


def mark_interrupted(conn: sqlite3.Connection, now: float | None = None) -> list[str]:
    """Mark active sweeps whose driver is gone (dead pid, or heartbeat older than store.STALE_AFTER_S)
    `interrupted`; trials already running keep running (they are runs with workers of their own)."""
    return store.mark_gone(conn, "sweeps", ACTIVE, "the sweep's driver", now)
