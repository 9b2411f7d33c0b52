"""Run a function in a freshly spawned process with its torch threads set first: each variant is measured alone,
and a variant that crashes, runs out of memory or hangs becomes an error entry instead of taking the others down."""

from __future__ import annotations

import multiprocessing
import queue as queue_mod
import time

from distill_core.core.device import set_threads
from distill_core.core.errors import DistillLabError


def _child_entry(target, args: tuple, threads: int, out) -> None:
    """Entry of a spawned measuring process: threads first, then `target(*args)`; always answers on `out`."""
    set_threads(threads)
    try:
        out.put(target(*args))
    except DistillLabError as exc:
        out.put({"error": str(exc)})
    except BaseException as exc:  # anything else still becomes an entry the user can read
        out.put({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"})


def run_in_fresh_process(target, args: tuple, threads: int, timeout_s: float, name: str) -> tuple[dict, float]:
    """(payload, wall seconds) of `target(*args)` run in a freshly spawned process with `threads` torch threads
    (0: all cores). `target` is a module-level function returning a picklable dict; a failure (exception, crash,
    timeout) becomes {"error": reason}."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    started = time.perf_counter()
    proc = ctx.Process(target=_child_entry, args=(target, args, threads, out), name=name, daemon=True)
    proc.start()
    payload = None
    while payload is None:
        try:
            payload = out.get(timeout=0.5)
        except queue_mod.Empty:
            if not proc.is_alive():
                try:
                    payload = out.get(timeout=2)
                except queue_mod.Empty:
                    payload = {"error": f"the measuring process died (exit code {proc.exitcode}); "
                                        "out of memory is the usual cause"}
            elif time.perf_counter() - started > timeout_s:
                proc.terminate()
                payload = {"error": f"stopped after {timeout_s:.0f} s (bench.variant_timeout_s)"}
    proc.join(timeout=30)
    if proc.is_alive():
        proc.kill()
    return payload, time.perf_counter() - started
