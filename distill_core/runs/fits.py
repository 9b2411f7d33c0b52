"""The trainings of one run that do not wait on each other (candidate learning rates, later seeds): one after
another, or on a CPU with no more cores than such trainings, several at once in forked children with one torch
thread each.

Why: a small student does not use two cores well. On the 2-core dev VM one workshop-student training of 60 steps
took 22.4 s on 2 threads and 34.2 s on 1; two 1-thread trainings side by side took 34.6 s, where two 2-thread ones in
turn take 44.8 s (about 23% less wall time). The children are forked after the parent prepared the teacher and its
outputs, so they share them without copying; like PyTorch's DataLoader workers they run on one thread, because a
forked child must not start the OpenMP pool its parent already used. A child reports progress and its result over
pipes (JSON and safetensors); the parent alone writes the run store and the run folder.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import json
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import wait

import torch

from distill_core.core.device import set_threads
from distill_core.core.errors import DistillLabError
from distill_core.tasks.base import RunContext, Trained

POLL_S = 0.2  # how often the parent forwards progress and asks whether to stop (seconds)


@dataclass(frozen=True)
class Fit:
    """One training to do: a phase (student or control) at one seed and learning rate."""

    phase: str
    seed: int
    learning_rate: float
    steps: int | None  # None: the task's budget
    key: str  # its curve's key in history.json
    keep_state: bool = False  # hand back the trained weights (to choose among candidates, or to save)
    evaluate: bool = False  # hand back the test-split report of the trained weights


@dataclass
class FitResult:
    fit: Fit
    trained: Trained
    state: dict | None  # parameter name -> tensor, when fit.keep_state
    report: dict | None  # task.evaluate's report, when fit.evaluate and the training was not cancelled
    train_s: float
    evaluate_s: float


def cpu_cores() -> int:
    return os.cpu_count() or 1


def workers_for(ctx: RunContext, n_fits: int) -> int:
    """How many of `n_fits` trainings run at once: each on its own core when the run trains on the CPU in one
    process with threads left to auto and the machine has no more cores than trainings (else 1, one after another,
    each with all the run's threads)."""
    cores = cpu_cores()
    if n_fits < 2 or ctx.device != "cpu" or ctx.processes.world > 1 or ctx.config.threads or not 2 <= cores <= n_fits:
        return 1
    return cores


def run_fits(task, ctx: RunContext, prepared, targets, init_state: dict, fits: list[Fit],
             workers: int = 1) -> list[FitResult]:
    """Train every fit from `init_state` (results in the order of `fits`). With `workers` > 1 they run in forked
    children, `workers` at a time; prepared.student is left in an unspecified state either way (load a result's
    state to use it). When the run is asked to stop, the running trainings end with stopped == "cancelled" and the
    ones not started are left out of the results."""
    if workers <= 1:
        results = []
        for fit in fits:
            if results and ctx.should_stop is not None and ctx.should_stop():
                break
            results.append(_train_one(task, _fit_context(ctx, fit), prepared, targets, init_state, fit))
            if results[-1].trained.stopped == "cancelled":
                break
        return results
    return _run_in_children(task, ctx, prepared, targets, init_state, fits, workers)


def _fit_context(ctx: RunContext, fit: Fit, **changes) -> RunContext:
    return dataclasses.replace(ctx, config=ctx.config.replace(seed=fit.seed, learning_rate=fit.learning_rate),
                               **changes)


def _train_one(task, ctx: RunContext, prepared, targets, init_state: dict, fit: Fit) -> FitResult:
    """Reset the student to the run's initial weights and this seed's random state, train, then evaluate and copy
    the weights when the fit asks."""
    prepared.student.load_state_dict(init_state)
    torch.manual_seed(fit.seed)
    task.seed_student(ctx, prepared)
    t0 = time.monotonic()
    trained = task.train(ctx, prepared, targets, fit.phase, fit.steps)
    t1 = time.monotonic()
    report = None
    if fit.evaluate and trained.stopped != "cancelled":
        report = task.evaluate(ctx, prepared, targets)
    state = ({k: v.detach().clone() for k, v in prepared.student.state_dict().items()} if fit.keep_state else None)
    return FitResult(fit, trained, state, report, t1 - t0, time.monotonic() - t1)


def _child(task, ctx: RunContext, prepared, targets, init_state: dict, fit: Fit, index: int, events, stop,
           conn) -> None:
    """A forked child: one thread, one fit; progress on `events`, the result (or the error) on `conn`."""
    _end_with_parent()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the worker's graceful-cancel handler: the parent stops us
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    set_threads(1)
    try:
        fctx = _fit_context(ctx, fit, emit=lambda event: events.put((index, event)), should_stop=stop.is_set,
                            timings={})
        answer = ("ok", _train_one(task, fctx, prepared, targets, init_state, fit))
    except DistillLabError as exc:
        answer = ("error", exc.message, exc.field)
    except BaseException as exc:  # still an answer the parent can report
        answer = ("error", f"{type(exc).__name__}: {str(exc)[:300]}", None)
    try:
        _send(conn, answer)
    finally:
        conn.close()


def _send(conn, answer: tuple) -> None:
    """An answer as two messages: JSON (the training's curve and summary, the report: what the run writes as JSON
    anyway) and the weights as safetensors bytes (empty when none), so nothing is ever unpickled."""
    state = b""
    if answer[0] == "ok":
        result: FitResult = answer[1]
        trained = dataclasses.asdict(result.trained)
        answer = ("ok", {"trained": trained, "report": result.report, "train_s": result.train_s,
                         "evaluate_s": result.evaluate_s})
        if result.state is not None:
            from safetensors.torch import save

            state = save(result.state)
    conn.send_bytes(json.dumps(answer).encode())
    conn.send_bytes(state)


def _receive(conn, fit: Fit):
    """The child's answer (_send), or None when it died first."""
    try:
        answer = json.loads(conn.recv_bytes())
        state = conn.recv_bytes()
    except EOFError:
        return None
    if answer[0] != "ok":
        return answer
    from safetensors.torch import load

    body = answer[1]
    return ("ok", FitResult(fit, Trained(**body["trained"]), load(state) if state else None, body["report"],
                            body["train_s"], body["evaluate_s"]))


def _end_with_parent() -> None:
    """Linux: this process is killed when its parent dies (a killed worker leaves no training behind)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # another platform: the stop event and the daemon flag still apply
        pass


def _run_in_children(task, ctx: RunContext, prepared, targets, init_state: dict, fits: list[Fit],
                     workers: int) -> list[FitResult]:
    mp = multiprocessing.get_context("fork")
    events, stop = mp.Queue(), mp.Event()
    pending = list(enumerate(fits))
    running: dict = {}  # receiving end -> (index, process)
    results: dict[int, FitResult] = {}
    try:
        while pending or running:
            while pending and len(running) < workers and not stop.is_set():
                index, fit = pending.pop(0)
                receive, send = mp.Pipe(duplex=False)
                proc = mp.Process(target=_child, name=f"fit-{fit.key}", daemon=True,
                                  args=(task, ctx, prepared, targets, init_state, fit, index, events, stop, send))
                proc.start()
                send.close()
                running[receive] = (index, proc)
            if stop.is_set():
                pending.clear()
            lead = min((i for i, _ in running.values()), default=-1)
            for conn in wait(list(running), timeout=POLL_S):
                index, proc = running.pop(conn)
                results[index] = _answer(conn, proc, fits[index])
            _forward(ctx, events, lead)
            if ctx.should_stop is not None and ctx.should_stop():
                stop.set()
    finally:
        stop.set()
        for _, proc in running.values():
            proc.kill()
            proc.join(timeout=10)
        _forward(ctx, events, -1)
    return [results[i] for i in sorted(results)]


def _answer(conn, proc, fit: Fit) -> FitResult:
    """The child's result, or a DistillLabError for its error or its death."""
    try:
        answer = _receive(conn, fit)
    finally:
        conn.close()
    proc.join(timeout=30)
    if answer is None:
        raise DistillLabError(f"the process training the {fit.phase} (seed {fit.seed}, learning rate "
                              f"{fit.learning_rate:g}) died (exit code {proc.exitcode}); out of memory is the usual "
                              "cause. threads=N (any N > 0) trains one at a time", "threads")
    if answer[0] == "error":
        raise DistillLabError(answer[1], answer[2])
    return answer[1]


def _forward(ctx: RunContext, events, lead: int) -> None:
    """Pass on the progress of the lead child (the earliest fit still running; -1: nobody's) and every warning, so
    a progress bar and a live curve follow one training at a time."""
    while True:
        try:
            index, event = events.get_nowait()
        except Exception:  # queue.Empty; the queue is drained
            return
        if index == lead or event.phase == "warning":
            ctx.emit(event)
