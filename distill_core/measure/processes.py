"""Measuring processes: where they come from (a fork server that imported the heavy modules once, or spawn) and a
child process with its pipe, asked one message at a time with a deadline."""

from __future__ import annotations

import multiprocessing
import os
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
        ctx.set_forkserver_preload(list(preload))  # ignored once the server runs; modules that fail are skipped
        return ctx
    return multiprocessing.get_context("spawn")


def start_early(preload: tuple[str, ...]) -> None:
    """Start the fork server now, so its imports overlap the caller's own preparation."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        from multiprocessing import forkserver

        process_context(preload)
        forkserver.ensure_running()
