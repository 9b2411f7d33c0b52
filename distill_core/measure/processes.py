"""Measuring processes: where they come from (a fork server that imported the heavy modules once, or spawn) and a
child process with its pipe, asked one message at a time with a deadline."""

from __future__ import annotations

import inspect
import multiprocessing
import os
import sys
import time

_POLL_S = 0.5


class MeasuringProcess:
    """A child process and its pipe."""

    def __init__(self, ctx, name: str, target, args: tuple):
        self.name = name
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(*args, child, dict(os.environ)), name=f"distill-lab-bench-{name}",
                                daemon=True)
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

    def ask(self, message: tuple, timeout_s: float, what: str):
        self.conn.send(message)
        return self.receive(time.perf_counter() + timeout_s, what)

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
        ctx.set_forkserver_preload(_with_main(preload))  # ignored once the server runs; modules that fail are skipped
        return ctx
    return multiprocessing.get_context("spawn")


def _with_main(preload: tuple[str, ...]) -> list[str]:
    """`preload` and what the parent's main module imports, for the fork server to import once. Before its target a
    child runs the parent's main module again (multiprocessing's "fixup main"); `distill-lab`'s console script
    imports the CLI there, ~1 s a measuring process on 2 busy cores, the parent's start() blocked meanwhile (its five
    processes started 0.6-1.5 s apart; run with -m, whose main is not run again, within 0.3 s). Imported in the
    server, the main's own lines are all a child runs. (The server's "__main__" preload would skip even those, but
    CPython 3.11 passes it no main path.)"""
    main = sys.modules.get("__main__")
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    names = {getattr(value, "__name__", None) if inspect.ismodule(value) else getattr(value, "__module__", None)
             for value in vars(main).values()} if main is not None else set()
    if spec_name and not spec_name.endswith("__main__"):  # run with -m: the child runs this module again
        names.add(spec_name)
    return [*preload, *sorted(n for n in names if isinstance(n, str) and n in sys.modules and n != "__main__"
                                and not n.startswith("_") and n not in sys.builtin_module_names)]


def start_early(preload: tuple[str, ...]) -> None:
    """Start the fork server now, so its imports overlap the caller's own preparation."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        from multiprocessing import forkserver

        process_context(preload)
        forkserver.ensure_running()
