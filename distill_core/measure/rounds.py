"""Interleaved timing: every variant in its own long-lived process, timed in rounds so machine noise falls on all.

Why: timing variant after variant lets a noisy minute land on one of them (two copies of one architecture measured
15% apart). Here each variant is loaded once in a freshly spawned process (threads set first; its memory is its
own), then the parent asks the processes in turn, one at a time, for one *sample* of each setting: the mean time of
one pass over a fixed cycle of batches. A round asks every variant once, in a seeded random order; rounds
repeat until at least `min_rounds` and `min_seconds` (or `max_seconds`). Samples of one round were taken seconds
apart, so a ratio within a round (teacher / student) cancels most of what the machine did meanwhile.

The task's harness supplies `setup(*args) -> session`, run in the child: `session.report` (a picklable dict: memory,
size... or {"error": reason}), `session.keys` (the settings it can time), `session.sample(key) -> ms` and
`session.finish() -> dict` (added to the report after the rounds, one process at a time with all its threads: the
slow part of quality, e.g. the int8 variants' test split, does not hold up the timing or share the cores).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import time
from dataclasses import dataclass, field

from distill_core.core.device import set_threads
from distill_core.core.errors import DistillLabError, RunCancelled
from distill_core.core.progress import ProgressEvent

_POLL_S = 0.5


@dataclass
class RoundsPlan:
    """How long to time: rounds and seconds (of the timing phase, after every process is ready)."""

    min_rounds: int = 9  # 9 samples give a 96% order-statistic interval for the median (x(2), x(8))
    min_seconds: float = 10.0
    max_seconds: float = 60.0  # stop here even short of min_rounds (the intervals say how few samples there were)
    setup_timeout_s: float = 600.0  # a process not ready after this is stopped (an error entry)

    @classmethod
    def of(cls, cfg) -> "RoundsPlan":
        """From a task's bench config (min_rounds, timing_seconds, max_timing_seconds, variant_timeout_s)."""
        return cls(cfg.min_rounds, cfg.timing_seconds, cfg.max_timing_seconds, cfg.variant_timeout_s)


@dataclass
class Timed:
    """What interleaved timing gives back: per variant, the setup report and the samples (ms) per key by round."""

    reports: dict[str, dict]
    samples: dict[str, dict] = field(default_factory=dict)  # name -> key -> [ms per round]
    rounds: int = 0
    setup_seconds: float = 0.0  # spawn to every process ready (s)
    timing_seconds: float = 0.0
    finish_seconds: float = 0.0  # the sessions' finish (quality) after the rounds

    @property
    def wall_seconds(self) -> float:
        return self.setup_seconds + self.timing_seconds + self.finish_seconds


def _serve(setup, args: tuple, threads: int, setup_threads: int, conn, environ: dict) -> None:
    """A variant's process: `setup(*args)` on `setup_threads` threads (every process sets up at once: more threads
    than cores would only spin), report; then `threads` threads and one sample per request until "close".
    `environ`: the parent's environment when it asked for this process (a fork server's children inherit the
    server's, from when it started: another DISTILL_LAB_HOME, say)."""
    os.environ.clear()
    os.environ.update(environ)
    set_threads(setup_threads)
    try:
        session = setup(*args)
        session.report["threads"] = set_threads(threads)
        if isinstance(session.report.get("machine"), dict):  # recorded while setting up on setup_threads
            session.report["machine"]["threads"] = session.report["threads"]
        for key in session.keys:  # the thread pool at its timing size, warm, before the first round
            session.sample(key)
        conn.send(("ready", session.report, list(session.keys)))
    except DistillLabError as exc:
        conn.send(("error", str(exc), []))
        return
    except BaseException as exc:  # anything else still becomes an entry the user can read
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        conn.send(("error", f"{type(exc).__name__}: {first}", []))
        return
    while True:
        message = conn.recv()
        if message[0] == "close":
            return
        try:
            if message[0] == "finish":
                conn.send(("finished", session.finish()))
            else:
                conn.send(("sample", float(session.sample(message[1]))))
        except BaseException as exc:
            conn.send(("error", f"{type(exc).__name__} while {message[0]}: {str(exc)[:300]}"))
            return


class _Variant:
    def __init__(self, ctx, name: str, setup, args: tuple, threads: int, setup_threads: int):
        self.name = name
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(setup, args, threads, setup_threads, child, dict(os.environ)),
                                name=f"distill-lab-bench-{name}", daemon=True)
        self.proc.start()
        child.close()
        self.keys: list[str] = []
        self.report: dict | None = None

    def receive(self, deadline: float, what: str):
        """The child's next message; an ("error", reason) tuple when it dies or misses `deadline`."""
        while not self.conn.poll(_POLL_S):
            if not self.proc.is_alive() and not self.conn.poll(0.1):
                return ("error", f"the measuring process died while {what} (exit code {self.proc.exitcode}); out "
                                 "of memory is the usual cause")
            if time.perf_counter() > deadline:
                self.proc.terminate()
                return ("error", f"stopped: still {what} after the time allowed")
        try:
            return self.conn.recv()
        except EOFError:
            return ("error", f"the measuring process closed while {what}")

    def close(self) -> None:
        try:
            self.conn.send(("close",))
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5)


def process_context(preload: tuple[str, ...] = ()):
    """Where measuring processes come from: a fork server that imported `preload` once (torch and transformers
    take ~10 s of CPU to import here, paid once instead of once per variant; the server runs no torch op, so no
    thread pool is forked), or a fresh interpreter each (spawn) where the platform has no fork server."""
    if preload and "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))  # ignored once the server runs; modules that fail are skipped
        return ctx
    return multiprocessing.get_context("spawn")


def start_early(preload: tuple[str, ...]) -> None:
    """Start the fork server now, so its imports overlap the caller's own preparation."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        from multiprocessing import forkserver

        process_context(preload)
        forkserver.ensure_running()


def time_interleaved(jobs: list[tuple[str, object, tuple]], threads: int, plan: RoundsPlan,
                     should_stop=None, on_round=None, preload: tuple[str, ...] = ()) -> Timed:
    """Start one process per (name, setup, args) job, wait until all are ready, then time them in rounds.

    A variant whose setup fails keeps its {"error": reason} report and is left out of the rounds; one that fails
    while timing gets an error report and its samples are dropped. `should_stop()` is checked between rounds
    (raise from it to cancel); `on_round(rounds_done, elapsed_s)` reports progress. `preload`: modules the
    processes' setup imports (process_context)."""
    ctx = process_context(preload)
    started = time.perf_counter()
    cores = os.cpu_count() or 1
    setup_threads = max(1, cores // max(1, len(jobs)))
    variants = [_Variant(ctx, name, setup, args, threads, setup_threads) for name, setup, args in jobs]
    timed = Timed(reports={})
    try:
        for v in variants:
            kind, payload, keys = v.receive(started + plan.setup_timeout_s, "loading")
            v.report, v.keys = (payload, keys) if kind == "ready" else ({"error": payload}, [])
            timed.reports[v.name] = v.report
        timed.setup_seconds = time.perf_counter() - started
        live = [v for v in variants if v.keys]
        timed.samples = {v.name: {k: [] for k in v.keys} for v in live}
        t0 = time.perf_counter()
        order = random.Random(0)
        while live:
            if should_stop is not None:
                should_stop()
            # A fresh order each round: a variant's time must not depend on which one ran before it (a big model
            # leaves the caches cold for the next); a fixed rotation would always give it the same predecessor.
            for v in order.sample(live, len(live)):
                for key in v.keys:
                    v.conn.send(("sample", key))
                    kind, *rest = v.receive(time.perf_counter() + plan.setup_timeout_s, "timing")
                    if kind != "sample":
                        timed.reports[v.name] = {"error": rest[0]}
                        timed.samples.pop(v.name, None)
                        break
                    timed.samples[v.name][key].append(rest[0])
            live = [v for v in live if v.name in timed.samples]
            timed.rounds += 1
            elapsed = time.perf_counter() - t0
            if on_round is not None:
                on_round(timed.rounds, elapsed)
            if elapsed >= plan.max_seconds or (timed.rounds >= plan.min_rounds and elapsed >= plan.min_seconds):
                break
        timed.timing_seconds = time.perf_counter() - t0
        for v in live:
            v.conn.send(("finish",))
            kind, payload = v.receive(time.perf_counter() + plan.setup_timeout_s, "finishing")
            if kind == "finished":
                timed.reports[v.name].update(payload)
            else:
                timed.reports[v.name] = {"error": payload}
                timed.samples.pop(v.name, None)
        timed.finish_seconds = time.perf_counter() - t0 - timed.timing_seconds
    finally:
        for v in variants:
            v.close()
    return timed


def load_average() -> list[float] | None:
    """The machine's 1, 5 and 15 minute load averages, where the platform reports them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def speed_probe_ms(repeats: int = 15) -> float:
    """Median ms of a fixed numpy workload (a 256 x 256 float64 matmul, 8 times) in this process: taken before and
    after a measurement, a change says the machine's speed changed between them (load, clocks)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((256, 256)), rng.standard_normal((256, 256))
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(8):
            a @ b
        times.append((time.perf_counter_ns() - start) / 1e6)
    return float(np.median(times))


def machine_conditions() -> dict:
    """The load average and speed probe now: take them before the fork server starts importing."""
    return {"load_before": load_average(), "probe_ms_before": speed_probe_ms()}


def measure_in_rounds(jobs: list[tuple[str, object, tuple]], threads: int, plan: RoundsPlan, preload: tuple[str, ...],
                      emit, should_stop=None, conditions: dict | None = None) -> tuple[Timed, dict]:
    """time_interleaved for a task's harness: progress events (phase "bench", as a fraction), RunCancelled when
    `should_stop()` says so (before the processes start and between rounds), and the machine's conditions (bench.json
    "conditions": `conditions` taken before, or now, plus load and probe after, rounds and phase seconds)."""
    if should_stop and should_stop():
        raise RunCancelled(f"cancelled while measuring (before {jobs[0][0] if jobs else 'any variant'}); bench.json "
                           "was not written")
    conditions = dict(conditions or machine_conditions())
    emit(ProgressEvent("bench", 0, None, 0.05, message=f"loading {len(jobs)} variants, one process each"))

    def stop_check():
        if should_stop and should_stop():
            raise RunCancelled("cancelled while timing the variants; bench.json was not written")

    def on_round(done: int, elapsed: float):
        share = min(done / max(1, plan.min_rounds), elapsed / plan.min_seconds if plan.min_seconds else 1.0)
        emit(ProgressEvent("bench", done, None, min(0.99, 0.3 + 0.7 * share), message=f"timing round {done}"))

    timed = time_interleaved(jobs, threads, plan, stop_check, on_round, preload)
    conditions.update(load_after=load_average(), probe_ms_after=speed_probe_ms(), rounds=timed.rounds,
                      setup_seconds=timed.setup_seconds, timing_seconds=timed.timing_seconds,
                      finish_seconds=timed.finish_seconds)
    return timed, conditions
