"""The run store: one SQLite file (WAL) under the data folder, plus one artifacts folder per run.

Tables: `runs` (one row per run: status, progress, heartbeat, config, summary) and `events` (progress reports in
order; the live loss and evaluation curves); the file, its schema and transactions are runs/database.py. Every
write is one short transaction, so a worker and the UI can write at the same time. A run's folder is `runs/<id>`;
ids are generated here, never taken from run names (a name is a label shown to people, nothing more).

Liveness: a `queued` or `running` run whose worker process is gone (pid not alive) or whose heartbeat is older than
`STALE_AFTER_S` is marked `interrupted` by whoever next reads the runs (`list_runs`, `get_run`, `claim`).
Times are Unix epoch seconds (float).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from distill_core.core.errors import DistillLabError
from distill_core.core.home import data_home
from distill_core.runs.database import connect, db_path, integrity_ok, transaction  # noqa: F401 (the store's API)
from distill_core.runs.database import opened as _opened

STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled", "interrupted")
STALE_AFTER_S = 30.0  # a heartbeat older than this means the worker is gone
_RUN_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")  # fullmatch only


def id_folder(kind: str, item_id: str, pattern: re.Pattern, noun: str, example: str) -> Path:
    """`<kind>/<id>` under the data folder (its parent made), the id checked against `pattern` first, so no id
    can name a path elsewhere. Raises DistillLabError (field `noun`)."""
    if not pattern.fullmatch(item_id):
        raise DistillLabError(f"{item_id!r} is not a {noun} id (like {example})", noun)
    root = data_home() / kind
    root.mkdir(parents=True, exist_ok=True)
    return root / item_id


def runs_root() -> Path:
    path = data_home() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_dir(run_id: str) -> Path:
    """The artifacts folder of a run (`runs/<id>` under the data folder); the id is checked to be a plain id."""
    return id_folder("runs", run_id, _RUN_ID, "run", "20260101-120000-a1b2c3")


def new_run_id() -> str:
    """A fresh id that sorts by creation time: YYYYMMDD-HHMMSS-<6 hex>."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


@dataclass
class RunRecord:
    """One row of `runs`. `config` is None in listings (they skip it to stay cheap)."""

    id: str
    name: str
    status: str
    created: float
    updated: float
    started: float | None
    finished: float | None
    heartbeat: float | None
    pid: int | None
    cancel_requested: bool
    progress: float  # 0..1 of the whole run
    phase: str | None
    fraction: float  # 0..1 of the current phase
    message: str | None
    error: str | None
    summary: dict | None
    config: dict | None = field(default=None)
    owner: str | None = None  # room mode: SHA-256 of the starting browser's token (runs/room.py); None: instructor
    sweep: str | None = None  # the sweep this run is a trial of (distill_core/sweeps/); None: a plain run
    trial: int | None = None  # its index in that sweep's trials

    @property
    def folder(self) -> Path:
        return run_dir(self.id)

    def to_dict(self) -> dict:
        return asdict(self)


_LIST_COLUMNS = ("id, name, status, created, updated, started, finished, heartbeat, pid, cancel_requested, "
                 "progress, phase, fraction, message, error, summary, owner, sweep, trial")


def _record(row: sqlite3.Row, with_config: bool = False) -> RunRecord:
    data = {k: row[k] for k in row.keys() if k != "config"}
    data["cancel_requested"] = bool(data["cancel_requested"])
    data["summary"] = json.loads(data["summary"]) if data["summary"] else None
    if with_config:
        data["config"] = json.loads(row["config"])
    return RunRecord(**data)


def insert_with_new_id(conn: sqlite3.Connection, new_id, sql: str, params: tuple, noun: str) -> str:
    """Run the INSERT `sql` with a fresh id from `new_id()` as its first parameter, drawing again on the rare clash;
    returns the id. Raises DistillLabError (field `noun`) after five clashes."""
    for _ in range(5):
        item_id = new_id()
        try:
            with transaction(conn):
                conn.execute(sql, (item_id, *params))
            return item_id
        except sqlite3.IntegrityError:
            continue
    raise DistillLabError(f"could not find a free {noun} id; try again", noun)


def create_run(config: dict, name: str | None = None, pid: int | None = None, owner: str | None = None,
               sweep: str | None = None, trial: int | None = None) -> RunRecord:
    """Insert a `queued` run with a fresh id and make its (empty) folder. `name` defaults to config["name"]; `owner`
    is room mode's owner id (runs/room.py), None for the instructor's or a CLI run; `sweep`/`trial`: the sweep
    this run is a trial of and its index there."""
    label = name if name is not None else str(config.get("name", "run"))
    now = time.time()
    with _opened() as conn:
        run_id = insert_with_new_id(
            conn, new_run_id, "INSERT INTO runs (id, name, status, created, updated, heartbeat, pid, config, owner, "
            "sweep, trial) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)",
            (label, now, now, now, pid, json.dumps(config), owner, sweep, trial), "run")
    run_dir(run_id).mkdir(parents=True, exist_ok=True)
    return get_run(run_id)


def set_pid(run_id: str, pid: int) -> None:
    """Record the worker process of a run (and count it as a sign of life)."""
    with _opened() as conn, transaction(conn):
        conn.execute("UPDATE runs SET pid = ?, heartbeat = ?, updated = ? WHERE id = ?",
                     (pid, time.time(), time.time(), run_id))


def heartbeat(run_id: str) -> None:
    with _opened() as conn, transaction(conn):
        conn.execute("UPDATE runs SET heartbeat = ? WHERE id = ? AND status IN ('queued', 'running')",
                     (time.time(), run_id))


def resolve_id(conn: sqlite3.Connection, table: str, ref: str, noun: str, example: str, listing: str) -> str:
    """The id of the `table` row `ref` names: its full id or a unique prefix of it (4+ characters). Raises
    DistillLabError (field `noun`) naming an id `example` and the command (`listing`) that lists them."""
    ref = (ref or "").strip()
    if not ref.isprintable() or not ref.isascii():  # ids are ASCII; a stray byte would not reach SQLite intact
        raise DistillLabError(f"no {noun} with id {ref!r}; {noun} ids are like {example}", noun)
    if ref and conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (ref,)).fetchone():
        return ref
    matches = [r[0] for r in conn.execute(f"SELECT id FROM {table} WHERE id LIKE ? ESCAPE '\\' LIMIT 3",
                                          (ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",))
               ] if len(ref) >= 4 else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise DistillLabError(f"{ref!r} matches several {noun}s ({', '.join(matches[:2])}, ...); give more of the id",
                              noun)
    raise DistillLabError(f"no {noun} with id {ref!r}; {listing} shows the {noun} ids", noun)


def resolve_run(conn: sqlite3.Connection, ref: str) -> str:
    """The id of the run `ref` names: its full id or a unique prefix of it (names are labels, not keys)."""
    return resolve_id(conn, "runs", ref, "run", "20260101-120000-a1b2c3", "`distill-lab list`")


def get_run(ref: str) -> RunRecord:
    """One run with its config (marks it interrupted first if its worker is gone). Raises DistillLabError."""
    with _opened() as conn:
        mark_interrupted(conn)
        run_id = resolve_run(conn, ref)
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    return _record(row, with_config=True)


def list_runs(status: str | None = None, limit: int | None = None) -> list[RunRecord]:
    """Runs, newest first, with status and progress (no config: cheap; ~ms for 1,000 runs)."""
    with _opened() as conn:
        mark_interrupted(conn)
        sql = f"SELECT {_LIST_COLUMNS} FROM runs"
        params: list = []
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        sql += " ORDER BY created DESC, rowid DESC"
        if limit:
            sql += " LIMIT ?"
            params.append(int(limit))
        rows = conn.execute(sql, params).fetchall()
    return [_record(r) for r in rows]


def trial_runs(sweep_id: str) -> list[RunRecord]:
    """The runs tagged with sweep `sweep_id` (distill_core/sweeps/), in trial order, with their configs; one query
    (after marking lost workers interrupted)."""
    with _opened() as conn:
        mark_interrupted(conn)
        rows = conn.execute("SELECT * FROM runs WHERE sweep = ? ORDER BY trial, created, rowid", (sweep_id,)).fetchall()
    return [_record(r, with_config=True) for r in rows]


def run_history(ref: str, after: int = 0) -> list[dict]:
    """Progress events of a run in order (each: id, time, phase, step, total, fraction, metrics, message).

    `after`: only events with a larger id (for polling: pass the last id seen)."""
    with _opened() as conn:
        run_id = resolve_run(conn, ref)
        rows = conn.execute("SELECT id, time, phase, step, total, fraction, metrics, message FROM events "
                            "WHERE run_id = ? AND id > ? ORDER BY id", (run_id, after)).fetchall()
    return [dict(r) | {"metrics": json.loads(r["metrics"])} for r in rows]


def record_event(run_id: str, event: dict, progress: float | None = None) -> None:
    """Append one progress event (a ProgressEvent.to_dict()) and update the run's phase and progress, atomically."""
    now = time.time()
    with _opened() as conn, transaction(conn):
        conn.execute("INSERT INTO events (run_id, time, phase, step, total, fraction, metrics, message) "
                     "SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM runs WHERE id = ?)",
                     (run_id, now, event["phase"], int(event.get("step") or 0), event.get("total"),
                      float(event.get("fraction") or 0.0), json.dumps(event.get("metrics") or {}, default=float),
                      event.get("message") or "", run_id))
        conn.execute("UPDATE runs SET phase = ?, fraction = ?, message = COALESCE(NULLIF(?, ''), message), "
                     "progress = MAX(progress, COALESCE(?, progress)), heartbeat = ?, updated = ? WHERE id = ?",
                     (event["phase"], float(event.get("fraction") or 0.0), event.get("message") or "", progress,
                      now, now, run_id))


# Queued runs in the order they get a slot: round robin over owners, the one served longest ago (or never) first,
# then first in, first out. `IS` matches NULL owners (the instructor's and CLI runs) too.
_FAIR_QUEUE = """
    SELECT q.id FROM runs q WHERE q.status = 'queued'
    ORDER BY COALESCE((SELECT MAX(r.started) FROM runs r WHERE r.owner IS q.owner AND r.started IS NOT NULL), 0),
             q.created, q.rowid
    LIMIT ?"""


# Runs holding a local worker slot: running, and not a trial that runs on a Ray cluster (sweeps/ray_runner.py).
_LOCAL_RUNNING = """
    SELECT COUNT(*) FROM runs r WHERE r.status = 'running' AND NOT EXISTS (
        SELECT 1 FROM sweeps s WHERE s.id = r.sweep AND json_extract(s.spec, '$.runner.kind') = 'ray')"""


def start_elsewhere(run_id: str, pid: int, message: str) -> None:
    """Mark a queued run `running` outside the local queue (a sweep trial on a Ray cluster); `pid` is the process
    that answers for it (its heartbeat and outcome)."""
    with _opened() as conn, transaction(conn):
        now = time.time()
        conn.execute("UPDATE runs SET status = 'running', started = ?, heartbeat = ?, updated = ?, pid = ?, "
                     "message = ? WHERE id = ? AND status = 'queued'", (now, now, now, pid, message, run_id))


def claim(run_id: str, max_jobs: int, pid: int) -> str:
    """Try to move a queued run to `running`: 'claimed', 'wait' (slots busy or older runs first) or its status.

    Atomic: the running count, the queue order and the update happen in one write transaction. A fair queue: the
    owner served longest ago (or never) goes first, then first in, first out; with one owner (no room mode) it is
    plain first in, first out.
    `started` is read once the write lock is held, so it is never earlier than the `finished` of the run whose slot
    this one takes."""
    with _opened() as conn:
        mark_interrupted(conn)
        with transaction(conn):
            now = time.time()
            row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                return "deleted"
            if row["status"] != "queued":
                return row["status"]
            running = conn.execute(_LOCAL_RUNNING).fetchone()[0]
            free = max_jobs - running
            if free <= 0:
                return "wait"
            first = [r[0] for r in conn.execute(_FAIR_QUEUE, (free,))]
            if run_id not in first:
                return "wait"
            conn.execute("UPDATE runs SET status = 'running', started = ?, heartbeat = ?, updated = ?, pid = ?, "
                         "message = 'started' WHERE id = ? AND status = 'queued'", (now, now, now, pid, run_id))
    return "claimed"


def finish(run_id: str, status: str, error: str | None = None, summary: dict | None = None) -> None:
    """End a run: done | failed | cancelled | interrupted, with the reason (error) and headline results (summary).

    Only a run still active, or one marked interrupted while its worker was in fact alive, changes."""
    if status not in FINISHED:
        raise ValueError(f"not a final status: {status}")
    with _opened() as conn, transaction(conn):
        now = time.time()  # under the write lock: ordered with every other state change
        conn.execute("UPDATE runs SET status = ?, error = ?, summary = COALESCE(?, summary), finished = ?, "
                     "updated = ?, progress = CASE WHEN ? = 'done' THEN 1.0 ELSE progress END "
                     "WHERE id = ? AND status IN ('queued', 'running', 'interrupted')",
                     (status, error, json.dumps(summary, default=float) if summary is not None else None, now, now,
                      status, run_id))


def request_cancel(ref: str) -> str:
    """Ask a run to stop and return its status after the call: a queued run is cancelled at once, a running
    one gets `cancel_requested` (its worker stops at the next step and saves what it has), others are unchanged."""
    with _opened() as conn:
        mark_interrupted(conn)
        with transaction(conn):
            now = time.time()
            run_id = resolve_run(conn, ref)
            status = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
            if status == "queued":
                conn.execute("UPDATE runs SET status = 'cancelled', cancel_requested = 1, finished = ?, updated = ?, "
                             "error = 'cancelled before it started' WHERE id = ?", (now, now, run_id))
                return "cancelled"
            if status == "running":
                conn.execute("UPDATE runs SET cancel_requested = 1, updated = ? WHERE id = ?", (now, run_id))
            return status


def cancel_requested(run_id: str) -> bool:
    """Whether someone asked this run to stop (or removed it)."""
    with _opened() as conn:
        row = conn.execute("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
    return row is None or bool(row[0])


def run_exists(run_id: str) -> bool:
    """Whether the store still has this run (False once it was deleted)."""
    with _opened() as conn:
        return conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None


def delete_run(ref: str) -> str:
    """Remove a run's row, its events and its folder; returns the id. Its worker, if any, sees the row gone as a
    cancel: a queued one exits, a running one stops at its next step and removes whatever it writes after this."""
    with _opened() as conn:
        mark_interrupted(conn)
        run_id = resolve_run(conn, ref)
        folder = run_dir(run_id)
        trash = folder.with_name(f".deleting-{run_id}")
        with transaction(conn):
            if folder.exists():
                shutil.rmtree(trash, ignore_errors=True)  # left by an earlier delete that was killed
                os.replace(folder, trash)  # atomic: the folder is gone before the rows are
            conn.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
    shutil.rmtree(trash, ignore_errors=True)
    return run_id


def pid_alive(pid: int | None) -> bool:
    """Whether process `pid` exists on this machine and is not a zombie (None: unknown, counted as alive)."""
    if not pid:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped by its parent still answers kill(0)
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def mark_gone(conn: sqlite3.Connection, table: str, active: tuple[str, ...], who: str,
              now: float | None = None) -> list[str]:
    """Mark the `active` rows of `table` (runs, sweeps) whose process is gone `interrupted`: a dead pid, or a
    heartbeat older than STALE_AFTER_S. `who` names that process in the reason ("the worker")."""
    now = now or time.time()
    marks = ", ".join("?" * len(active))
    rows = conn.execute(f"SELECT id, pid, heartbeat, created FROM {table} WHERE status IN ({marks})", active).fetchall()
    gone = []
    for r in rows:
        last = r["heartbeat"] or r["created"]
        if now - last > STALE_AFTER_S:
            gone.append((r["id"], f"no heartbeat for {now - last:.0f} s: {who} stopped (killed, crashed or "
                                  "the machine slept)"))
        elif not pid_alive(r["pid"]):
            gone.append((r["id"], f"{who} process {r['pid']} is gone (killed or crashed)"))
    if gone:
        with transaction(conn):
            for row_id, reason in gone:
                conn.execute(f"UPDATE {table} SET status = 'interrupted', error = ?, finished = ?, updated = ? "
                             f"WHERE id = ? AND status IN ({marks})", (reason, now, now, row_id, *active))
    return [g[0] for g in gone]


def mark_interrupted(conn: sqlite3.Connection, now: float | None = None) -> list[str]:
    """Mark active runs whose worker is gone (dead pid, or heartbeat older than STALE_AFTER_S) `interrupted`."""
    return mark_gone(conn, "runs", ACTIVE, "the worker", now)
