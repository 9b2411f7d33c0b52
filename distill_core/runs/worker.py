"""The worker: executes one stored run and reports to the store. `python -m distill_core.runs.worker RUN_ID`.

Life of a run here: record our pid and start the heartbeat thread -> wait for a free slot while `queued` (polling
the store; first in, first out) -> claim it (`running`) -> run_experiment with progress written to the store and
`should_stop` reading the cancel flag -> `done` | `failed` | `cancelled`. The CLI's foreground `run` calls
`execute` in its own process, so both paths record the same things.

Heavy libraries (torch, transformers) are imported only after the claim, so the queue costs no memory and the
first progress event ("start") lands before the imports.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sqlite3
import sys
import threading
import time
import traceback

from distill_core.core.errors import DistillLabError, RunCancelled
from distill_core.core.home import data_home
from distill_core.runs import store

HEARTBEAT_S = 2.0  # seconds between heartbeats (store.STALE_AFTER_S is the limit)
QUEUE_POLL_S = 0.25  # seconds between looks at the queue while waiting for a slot
CANCEL_POLL_S = 1.0  # at most one cancel-flag read per this many seconds
EVENT_MIN_GAP_S = 0.25  # progress events within a phase are written at most this often (evaluations always)

# Rough share of the whole run spent in each phase: (start, end) of the overall progress bar.
PHASE_SPAN = {"start": (0.0, 0.02), "data": (0.02, 0.05), "teacher-finetune": (0.05, 0.3),
              "teacher-outputs": (0.3, 0.35), "student": (0.35, 0.65), "control": (0.65, 0.9),
              "evaluate": (0.9, 0.93), "bench": (0.93, 0.995), "done": (1.0, 1.0)}


def max_jobs() -> int:
    """Runs allowed to train at once: env DISTILL_LAB_MAX_JOBS, default 1 (two runs on two cores just fight)."""
    raw = os.environ.get("DISTILL_LAB_MAX_JOBS", "1")
    try:
        value = int(raw)
    except ValueError:
        raise DistillLabError(f"{raw!r} is not a whole number >= 1", "DISTILL_LAB_MAX_JOBS") from None
    if value < 1:
        raise DistillLabError(f"{value} is not allowed; allowed: a whole number >= 1", "DISTILL_LAB_MAX_JOBS")
    return value


def overall_progress(phase: str, fraction: float) -> float | None:
    """The run's progress 0..1 from a phase's own fraction (None for phases without a span)."""
    span = PHASE_SPAN.get(phase)
    if span is None:
        return None
    lo, hi = span
    return lo + (hi - lo) * min(1.0, max(0.0, fraction))


class ProgressRecorder:
    """on_progress callback writing events to the store: phase changes, evaluations and messages always,
    other steps at most every EVENT_MIN_GAP_S (the latest held back and written before the next phase)."""

    def __init__(self, run_id: str, forward=None):
        self.run_id = run_id
        self.forward = forward  # another callback to feed too (the CLI's progress bar)
        self.phase = None
        self.last_write = 0.0
        self.pending = None

    def __call__(self, event) -> None:
        if self.forward is not None:
            self.forward(event)
        data = event.to_dict()
        evaluation = any(key.startswith("val_") for key in data["metrics"])  # every task's validation scores
        important = data["phase"] != self.phase or data["message"] or evaluation or data["phase"] == "done"
        if data["phase"] != self.phase:
            self.flush()
        self.phase = data["phase"]
        if important or time.monotonic() - self.last_write >= EVENT_MIN_GAP_S:
            self._write(data)
        else:
            self.pending = data

    def flush(self) -> None:
        if self.pending is not None:
            self._write(self.pending)

    def _write(self, data: dict) -> None:
        self.pending = None
        self.last_write = time.monotonic()
        store.record_event(self.run_id, data, overall_progress(data["phase"], data["fraction"]))


class CancelWatch:
    """should_stop callback: True once the store's cancel flag is set (read at most every CANCEL_POLL_S) or
    `request()` was called (SIGTERM, Ctrl-C)."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.flag = threading.Event()
        self.last_read = 0.0

    def request(self) -> None:
        self.flag.set()

    def __call__(self) -> bool:
        if self.flag.is_set():
            return True
        now = time.monotonic()
        if now - self.last_read >= CANCEL_POLL_S:
            self.last_read = now
            if store.cancel_requested(self.run_id):
                self.flag.set()
        return self.flag.is_set()


def _beat(run_id: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        try:
            store.heartbeat(run_id)
        except Exception as exc:  # a locked or briefly unreachable store: try again next beat
            print(f"heartbeat failed: {exc}", file=sys.stderr, flush=True)


def wait_for_slot(run_id: str, pid: int, on_wait=None, cancel: CancelWatch | None = None) -> str:
    """Poll the queue until this run is claimed ('claimed') or leaves the queue (its status, or 'deleted')."""
    told = False
    while True:
        if cancel is not None and cancel.flag.is_set():
            store.request_cancel(run_id)  # a queued run: cancelled at once
        outcome = store.claim(run_id, max_jobs(), pid)
        if outcome != "wait":
            return outcome
        if on_wait is not None and not told:
            on_wait()
            told = True
        time.sleep(QUEUE_POLL_S)


def summarize(results: dict) -> dict:
    """Headline numbers kept in the store row: the task's quality metric per variant under its own name (e.g.
    accuracy, perplexity), distillation gain (the mean over training seeds), total seconds; and when the run has a
    gain report, its verdict key ("helped" | "no-effect" | "hurt") and the gain's 95% interval [low, high]."""
    q = results["quality"]
    metric = q["metric"]
    summary = {metric: {v: m[metric] for v, m in q["variants"].items()},
               "distillation_gain": q.get("distillation_gain"),
               "total_s": results["timings"].get("total_s")}
    gain = q.get("gain")
    if isinstance(gain, dict) and gain.get("verdict"):
        summary |= {"verdict": gain["verdict"], "gain_interval": gain.get("interval")}
    return summary


def execute(run_id: str, on_progress=None, on_wait=None, cancel: CancelWatch | None = None,
            raise_errors: bool = False) -> str:
    """Run a stored run to its end in this process and return its final status.

    `raise_errors`: re-raise the run's exception after recording it (the CLI's foreground run)."""
    pid = os.getpid()
    store.set_pid(run_id, pid)
    stop = threading.Event()
    beat = threading.Thread(target=_beat, args=(run_id, stop), name="heartbeat", daemon=True)
    beat.start()
    try:
        cancel = cancel or CancelWatch(run_id)
        outcome = wait_for_slot(run_id, pid, on_wait, cancel)
        if outcome != "claimed":
            return outcome
        return _run_claimed(run_id, on_progress, cancel, raise_errors)
    finally:
        stop.set()
        beat.join(timeout=HEARTBEAT_S + 1)
        _remove_if_deleted(run_id)


def _remove_if_deleted(run_id: str) -> None:
    """A run deleted while it ran may have written files after the delete (its last save): remove them."""
    try:
        if not store.run_exists(run_id):
            shutil.rmtree(store.run_dir(run_id), ignore_errors=True)
    except (DistillLabError, OSError, sqlite3.Error) as exc:
        print(f"could not check whether run {run_id} was deleted: {exc}", file=sys.stderr, flush=True)


def _is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` is the disk (or quota) running out: an OSError, SQLite's "disk is full", or a library's
    wrapped "No space left on device" (safetensors reports `os error 28`)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return any(s in text for s in ("No space left on device", "os error 28", "database or disk is full"))


def write_failure(exc: BaseException, run_id: str) -> str | None:
    """The reason a run failed to save its files, in words a user can act on (disk full, folder removed,
    permission denied), or None when `exc` is something else."""
    folder = store.run_dir(run_id)
    if _is_disk_full(exc):
        home = data_home()
        return (f"the disk holding the data folder {home} is full ({exc}); free some space (old runs, or cached "
                f"teachers under {home / 'cache'}) and start the run again; earlier runs are intact")
    if isinstance(exc, FileNotFoundError) and not folder.exists():
        return f"the run's folder {folder} was removed while the run was writing to it; start the run again"
    if isinstance(exc, PermissionError):
        return f"cannot write {exc.filename or folder}: permission denied; earlier runs are intact"
    return None


def _record_end(run_id: str, status: str, error: str | None) -> None:
    """finish() that never raises: on a full disk the store may refuse the write too; then the stopped heartbeat
    marks the run interrupted when someone next looks."""
    try:
        store.finish(run_id, status, error=error)
    except (sqlite3.Error, OSError) as exc:
        print(f"could not record run {run_id} as {status} ({error}): {exc}", file=sys.stderr, flush=True)


def _flush_quietly(recorder: "ProgressRecorder") -> None:
    try:
        recorder.flush()
    except (sqlite3.Error, OSError) as exc:
        print(f"could not write the last progress event: {exc}", file=sys.stderr, flush=True)


def _run_claimed(run_id: str, on_progress, cancel: CancelWatch, raise_errors: bool) -> str:
    recorder = ProgressRecorder(run_id, on_progress)
    try:
        store.record_event(run_id, {"phase": "start", "step": 0, "total": None, "fraction": 0.0,
                                    "metrics": {}, "message": "worker started; loading libraries"}, 0.0)
        from distill_core.core import config as config_mod
        from distill_core.runs.pipeline import run_experiment

        record = store.get_run(run_id)
        results = run_experiment(config_mod.from_dict(record.config), store.run_dir(run_id), recorder, cancel)
        recorder.flush()
        store.finish(run_id, "done", summary=summarize(results))
        return "done"
    except RunCancelled as exc:
        _flush_quietly(recorder)
        _record_end(run_id, "cancelled", exc.message)
        if raise_errors:
            raise
        return "cancelled"
    except DistillLabError as exc:
        _flush_quietly(recorder)
        _record_end(run_id, "failed", str(exc))
        if raise_errors:
            raise
        return "failed"
    except Exception as exc:
        reason = write_failure(exc, run_id)
        if reason is None:
            traceback.print_exc()
            sys.stderr.flush()
        _flush_quietly(recorder)
        _record_end(run_id, "failed", reason or f"{type(exc).__name__}: {exc} (traceback in worker.log)")
        if raise_errors and reason:
            raise DistillLabError(reason, "run") from exc
        if raise_errors:
            raise
        return "failed"
    except BaseException:  # Ctrl-C twice, SystemExit: stopped at once, nothing saved after the last checkpoint
        store.finish(run_id, "interrupted", error="stopped at once (not a graceful cancel)")
        raise


def main(argv: list[str] | None = None) -> int:
    """Worker process entry. Exit status: 0 done, 1 failed, 3 cancelled / not run (deleted, cancelled queued)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m distill_core.runs.worker RUN_ID", file=sys.stderr)
        return 2
    run_id = argv[0]
    cancel = CancelWatch(run_id)
    signal.signal(signal.SIGTERM, lambda signum, frame: cancel.request())  # `kill PID` cancels gracefully
    print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] worker {os.getpid()} for run {run_id}", file=sys.stderr,
          flush=True)
    status = execute(run_id, cancel=cancel)
    print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] run {run_id}: {status}", file=sys.stderr, flush=True)
    return {"done": 0, "failed": 1}.get(status, 3)


if __name__ == "__main__":
    sys.exit(main())
