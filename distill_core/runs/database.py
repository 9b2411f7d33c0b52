"""The run store's SQLite file: connections (WAL, busy timeout), the schema and its migrations, transactions.

The schema version is SQLite's `PRAGMA user_version`; `MIGRATIONS[i]` takes a store from version i to i + 1, so a
later release appends a step instead of rewriting the file. Every write is one short transaction (`BEGIN
IMMEDIATE`), and every connection waits up to `BUSY_TIMEOUT_MS` for the write lock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from distill_core.core.errors import DistillLabError
from distill_core.core.home import data_home

BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for another writer's transaction
SCHEMA_VERSION = 3


def _migrate_0_to_1(conn: sqlite3.Connection) -> None:
    conn.execute("""
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,            -- a label, never a path
            status TEXT NOT NULL,          -- queued | running | done | failed | cancelled | interrupted
            created REAL NOT NULL,         -- epoch seconds
            updated REAL NOT NULL,
            started REAL,                  -- when a worker claimed it
            finished REAL,
            heartbeat REAL,                -- last sign of life from its worker
            pid INTEGER,                   -- the worker process
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            progress REAL NOT NULL DEFAULT 0,  -- 0..1 of the whole run (rough: phases weighted)
            phase TEXT,
            fraction REAL NOT NULL DEFAULT 0,  -- 0..1 of the current phase
            message TEXT,
            error TEXT,                    -- why it did not finish: failure, cancel note or interruption
            config TEXT NOT NULL,          -- RunConfig as JSON
            summary TEXT                   -- headline results and timings as JSON, once done
        )""")
    conn.execute("CREATE INDEX runs_status ON runs(status)")
    conn.execute("CREATE INDEX runs_created ON runs(created)")
    conn.execute("""
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            time REAL NOT NULL,
            phase TEXT NOT NULL,
            step INTEGER NOT NULL,
            total INTEGER,
            fraction REAL NOT NULL,
            metrics TEXT NOT NULL,         -- JSON object, e.g. {"loss": 0.41, "val_accuracy": 0.82}
            message TEXT NOT NULL
        )""")
    conn.execute("CREATE INDEX events_run ON events(run_id, id)")


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    # Room mode: the SHA-256 of the browser token that started the run (NULL: the instructor's, or a CLI run).
    conn.execute("ALTER TABLE runs ADD COLUMN owner TEXT")


def _migrate_2_to_3(conn: sqlite3.Connection) -> None:
    # Sweeps (distill_core/sweeps/): one row per sweep; its trials are ordinary runs tagged with its id.
    conn.execute("""
        CREATE TABLE sweeps (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,            -- a label, never a path
            status TEXT NOT NULL,          -- preparing | running | done | failed | cancelled | interrupted
            created REAL NOT NULL,         -- epoch seconds
            updated REAL NOT NULL,
            finished REAL,
            heartbeat REAL,                -- last sign of life from its driver
            pid INTEGER,                   -- the driver process
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            message TEXT,
            error TEXT,
            spec TEXT NOT NULL,            -- SweepSpec as JSON (base config, axes, seeds, runner)
            trials INTEGER NOT NULL,       -- how many trials the spec expands to
            owner TEXT                     -- room mode's owner id, as for runs
        )""")
    conn.execute("ALTER TABLE runs ADD COLUMN sweep TEXT")  # the sweep a trial belongs to (NULL: a plain run)
    conn.execute("ALTER TABLE runs ADD COLUMN trial INTEGER")  # its index in the sweep's expansion
    conn.execute("CREATE INDEX runs_sweep ON runs(sweep)")


MIGRATIONS = [_migrate_0_to_1, _migrate_1_to_2, _migrate_2_to_3]  # MIGRATIONS[i]: schema version i -> i + 1
assert len(MIGRATIONS) == SCHEMA_VERSION

_ready: set[str] = set()  # store files whose schema this process has checked
_setup_lock = threading.Lock()  # one thread at a time sets up a store file


def db_path() -> Path:
    return data_home() / "store.sqlite3"


def connect(path: Path | None = None) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, migrated to SCHEMA_VERSION."""
    path = Path(path) if path else db_path()
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous=NORMAL")  # with WAL: committed transactions survive a killed process
    conn.execute("PRAGMA foreign_keys=ON")
    key = str(path.resolve())
    if key not in _ready:
        with _setup_lock:
            if key not in _ready:
                _retry_while_locked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
                _migrate(conn)
                _ready.add(key)
    return conn


def _retry_while_locked(statement) -> None:
    """Run `statement`, retrying for up to BUSY_TIMEOUT_MS while the file is locked: switching a new store to WAL
    fails at once (SQLite calls no busy handler for it) while another process is creating the same store."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _migrate(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise DistillLabError(f"the run store {db_path()} has schema version {version}; this Distill Lab "
                                  f"reads up to {SCHEMA_VERSION}: upgrade Distill Lab", "store")
        for step in MIGRATIONS[version:]:
            step(conn)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


@contextmanager
def transaction(conn: sqlite3.Connection):
    """One write transaction; takes the write lock at the start so read-then-write cannot race."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def opened(path: Path | None = None):
    conn = connect(path)
    try:
        yield conn
    finally:
        conn.close()


def integrity_ok(path: Path | None = None) -> bool:
    """SQLite's own consistency check of the store file."""
    with opened(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
