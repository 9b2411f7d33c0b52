"""The sweep driver: prepares the teacher once, then runs the trials where the spec says.
`python -m distill_core.sweeps.driver SWEEP_ID` (started detached by sweeps/launch.py, like a run's worker).

1. Preparing: trials are grouped by what their teacher depends on (`teacher_groups`); for each group one
   `prepare_teacher` fine-tunes the teacher and computes its outputs into the data folder's caches, so every trial
   of the group starts from a cache hit (on Ray this happens in a Ray task, in the storage every node shares).
   When the local queue runs one trial at a time (DISTILL_LAB_MAX_JOBS=1) this step is skipped: the first trial
   prepares the teacher and the queue holds the others until it is done, so they find it cached (a separate step
   would load data and teacher once more: measured ~10 s slower on the tiny preset, bench_sweep.py).
2. Running: the local runner queues the trials as ordinary runs in the local worker queue (DISTILL_LAB_MAX_JOBS at
   a time); the Ray runner (sweeps/ray_runner.py) runs them as Ray tasks and brings their folders back.
3. The driver waits until every trial has ended (cancel: it cancels the active ones) and ends the sweep `done`;
   a failed trial is that trial's status, never the sweep's. It beats the sweep's heartbeat every HEARTBEAT_S.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback

from distill_core.core.errors import DistillLabError, RunCancelled
from distill_core.runs import jobs, store, worker
from distill_core.sweeps import records
from distill_core.sweeps.spec import Trial, expand, teacher_groups

HEARTBEAT_S = 2.0
POLL_S = 1.0
class Heartbeat:
    """Beats the sweep (and, for the Ray runner, the trial runs it stands for) every HEARTBEAT_S in a thread."""

    def __init__(self, sweep_id: str):
        self.sweep_id = sweep_id
        self.runs: set[str] = set()  # trial runs whose liveness this process answers for
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> "Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)

    def _beat(self) -> None:
        while not self.stop.wait(HEARTBEAT_S):
            try:
                records.heartbeat(self.sweep_id)
                for run_id in list(self.runs):
                    store.heartbeat(run_id)
            except Exception as exc:  # a briefly locked store: the next beat tries again
                print(f"heartbeat failed: {exc}", file=sys.stderr, flush=True)


def prepare_locally(sweep_id: str, trials: list[Trial]) -> None:
    """Prepare each teacher group's teacher in this process (the local runner)."""
    from distill_core.runs.pipeline import prepare_teacher

    groups = teacher_groups(trials)
    for i, group in enumerate(groups):
        config = group[0].config
        records.update(sweep_id, message=f"preparing the teacher once for {len(group)} trial(s) "
                                         f"({i + 1} of {len(groups)})")
        info = prepare_teacher(config, records.sweep_dir(sweep_id) / f"teacher-{i + 1}",
                               should_stop=lambda: records.cancel_requested(sweep_id))
        _log(f"teacher group {i + 1}: {len(group)} trials; teacher cached before: "
             f"{(info.get('teacher') or {}).get('cached')}, outputs cached before: {info['teacher_outputs_cached']}, "
             f"{info['seconds']:.1f} s")


def run_locally(sweep_id: str, trials: list[Trial], owner: str | None) -> None:
    """Queue every trial in the local worker queue, then wait for them (cancelling them if the sweep is)."""
    for trial in trials:
        if records.cancel_requested(sweep_id):
            break
        jobs.submit(trial.config, owner=owner, sweep=sweep_id, trial=trial.index)
    records.update(sweep_id, status="running", message=f"{len(trials)} trial(s) in the local queue")
    wait_for_trials(sweep_id)


def wait_for_trials(sweep_id: str) -> None:
    """Poll the sweep's trials until none is active; on a sweep cancel, cancel them (records.request_cancel)."""
    cancelled = False
    while True:
        jobs.reap_finished()
        runs = records.trial_runs(sweep_id)
        active = [r for r in runs if r.status in store.ACTIVE]
        if not active:
            return
        if not cancelled and records.cancel_requested(sweep_id):
            cancelled = True
            for run in active:
                store.request_cancel(run.id)
        done = sum(r.status == "done" for r in runs)
        records.update(sweep_id, message=f"{done} of {len(runs)} trial(s) done, {len(active)} active")
        time.sleep(POLL_S)


def _log(line: str) -> None:
    print(f"[sweep {time.strftime('%H:%M:%S')}] {line}", flush=True)


def drive(sweep_id: str) -> str:
    """Run a stored sweep to its end in this process; returns its final status."""
    record = records.get_sweep(sweep_id)
    spec = record.spec
    records.update(sweep_id, pid=os.getpid(), message="expanding the trials")
    with Heartbeat(sweep_id) as beat:
        try:
            trials = expand(spec)
            if spec.runner.kind == "ray":
                from distill_core.sweeps import ray_runner

                ray_runner.run(sweep_id, spec, trials, record.owner, beat)
            else:
                if worker.max_jobs() > 1:  # trials at once would each prepare the teacher: do it first
                    prepare_locally(sweep_id, trials)
                else:
                    _log("one trial at a time (DISTILL_LAB_MAX_JOBS=1): the first trial of each teacher group "
                         "prepares the teacher, the queue holds the others until it is cached")
                if records.cancel_requested(sweep_id):
                    raise RunCancelled("cancelled while preparing the teacher")
                run_locally(sweep_id, trials, record.owner)
        except RunCancelled as exc:
            records.finish(sweep_id, "cancelled", error=exc.message, message="cancelled")
            return "cancelled"
        except DistillLabError as exc:
            records.finish(sweep_id, "failed", error=str(exc), message="failed")
            return "failed"
        except Exception as exc:
            traceback.print_exc()
            records.finish(sweep_id, "failed", error=f"{type(exc).__name__}: {exc}", message="failed")
            return "failed"
    runs = records.trial_runs(sweep_id)
    counts = {s: sum(r.status == s for r in runs) for s in store.STATUSES if any(r.status == s for r in runs)}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no trials"
    status = "cancelled" if records.cancel_requested(sweep_id) else "done"
    records.finish(sweep_id, status, message=summary, error="cancelled" if status == "cancelled" else None)
    _log(f"sweep {status}: {summary}")
    return status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m distill_core.sweeps.driver SWEEP_ID", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: records.request_cancel(argv[0]))
    status = drive(argv[0])
    return 0 if status in ("done", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())
