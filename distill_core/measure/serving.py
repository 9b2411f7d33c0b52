"""What runs inside the measuring processes that measure/rounds.py starts: a variant's own process (`serve_variant`:
set up, report, then samples, probes, timing fields and the finish on request) and the timing process (`serve_all`:
every variant set up for timing, then samples on request). The messages are tuples over a multiprocessing pipe;
rounds.py documents the session interface."""

from __future__ import annotations

import os

from distill_core.core.device import set_threads
from distill_core.core.errors import DistillLabError
from distill_core.measure import allocator, contention


def error_text(exc: BaseException, what: str = "") -> str:
    """A one-line reason for an entry the user can read."""
    if isinstance(exc, DistillLabError):
        return str(exc)
    first = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}{' while ' + what if what else ''}: {first}"


def _open(setup, args: tuple, threads: int):
    """`setup(*args)` (its memory measured), then the thread pool at its timing size and freed memory kept for the
    next pass (measure/allocator.py). The untimed round before the first (time_interleaved) warms it."""
    session = setup(*args)
    session.report["threads"] = set_threads(threads)
    session.report["allocator"] = allocator.retain_freed_memory()
    if isinstance(session.report.get("machine"), dict):  # recorded while setting up on other thread counts
        session.report["machine"]["threads"] = session.report["threads"]
    return session


def _adopt(environ: dict, threads: int) -> None:
    """A measuring process's first step: the parent's environment (see serve_variant) and its thread pool size."""
    os.environ.clear()
    os.environ.update(environ)
    set_threads(threads)


def serve_variant(setup, args: tuple, threads: int, setup_threads: int, conn, environ: dict) -> None:
    """A variant's own process: `setup(*args)` on `setup_threads` threads (every process sets up at once: more
    threads than cores would only spin), report; then `threads` threads, one sample per ("sample" or "warm", key),
    a speed probe per ("probe",) (contention.timing_probe_ms), its timing fields per ("fields",) and the session's
    finish on ("finish",), until "close".
    `environ`: the parent's environment when it asked for this process (a fork server's children inherit the
    server's, from when it started: another DISTILL_LAB_HOME, say)."""
    _adopt(environ, setup_threads)
    try:
        session = _open(setup, args, threads)
        conn.send(("ready", session.report, list(session.keys)))
    except BaseException as exc:  # any failure becomes an entry the user can read
        conn.send(("error", error_text(exc), []))
        return
    while True:
        message = conn.recv()
        if message[0] == "close":
            return
        try:
            if message[0] == "finish":  # after the rounds: on every core
                set_threads(0)
                conn.send(("finished", session.finish()))
            elif message[0] == "probe":
                conn.send(("probe", contention.timing_probe_ms()))
            elif message[0] == "fields":
                conn.send(("fields", _timing_fields(session)))
            else:
                conn.send(("sample", _take(session, *message)))
        except BaseException as exc:
            conn.send(("error", error_text(exc, message[0])))
            return


def _timing_fields(session) -> dict:
    """The session's report entries that describe its timing (session.timing_fields)."""
    return {f: session.report.get(f) for f in getattr(session, "timing_fields", ())}


def _take(session, kind: str, key: str) -> float:
    """A "sample" of `key` (ms), or for "warm" the session's warm-up and calibration (its sample if it has none)."""
    take = getattr(session, "warm", session.sample) if kind == "warm" else session.sample
    return float(take(key))


def serve_all(jobs: list[tuple], threads: int, conn, environ: dict) -> None:
    """The timing process: every job's session (its timing_setup where the job has one), set up one after another
    on `threads` threads; sends ("ready", {name: keys or error text}); then per ("sample" or "warm", name, key) one
    sample, per ("probe",) a speed probe, per ("fields",) every session's timing fields, until "close". A variant
    that fails is reported and left out; the others go on."""
    _adopt(environ, threads)
    sessions, ready = {}, {}
    for name, setup, args, *timing_setup in jobs:
        try:
            session = _open(timing_setup[0] if timing_setup else setup, args, threads)
        except BaseException as exc:
            ready[name] = error_text(exc, "loading for the timing")
            continue
        sessions[name] = session
        ready[name] = list(session.keys)
    conn.send(("ready", ready))
    while True:
        message = conn.recv()
        if message[0] == "close":
            return
        try:
            if message[0] == "probe":
                conn.send(("probe", contention.timing_probe_ms()))
            elif message[0] == "fields":
                conn.send(("fields", {name: _timing_fields(s) for name, s in sessions.items()}))
            else:
                kind, name, key = message
                conn.send(("sample", _take(sessions[name], kind, key)))
        except BaseException as exc:
            conn.send(("error", error_text(exc, "timing")))
