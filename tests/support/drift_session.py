"""Measuring sessions for tests of the rounds harness: a clock that drifts, one that needs its process to itself,
one that says it needs much memory."""

import itertools
import os

_CALLS = itertools.count(1)  # per process: every sample in this process, in the order they were taken
_LOADED: list[str] = []  # per process: the sessions set up in it


class DriftSession:
    """Each sample returns how many samples this process has taken so far, the last one included: a machine that
    gets steadily slower. `pid` says which process timed it (a timing field)."""

    timing_fields = ("pid",)

    def __init__(self, keys=("b1",)):
        _LOADED.append(type(self).__name__)
        self.report = {"pid": os.getpid()}
        self.keys = list(keys)

    def sample(self, key: str) -> float:
        return float(next(_CALLS))

    def finish(self) -> dict:
        return {"finished_pid": os.getpid()}


class LonerSession(DriftSession):
    """Fails to set up in a process that already holds another session (the timing process)."""

    def __init__(self):
        if _LOADED:
            raise MemoryError("no room next to " + _LOADED[0])
        super().__init__()


class HungrySession(DriftSession):
    """Reports that loading it took 1 PiB of memory."""

    def __init__(self):
        super().__init__()
        self.report["memory"] = {"baseline_rss_bytes": 0, "peak_rss_bytes": 2**50}


class WarmSession(DriftSession):
    """Has a `warm` step that counts as no sample and sets its timing field `warmed_in` (the pid that warmed it);
    `opened_for` says whether the timing setup (`timing_only`) or the variant's own setup opened it."""

    timing_fields = ("pid", "warmed_in", "opened_for")

    def __init__(self, opened_for: str = "memory"):
        super().__init__()
        self.report.update(warmed_in=None, opened_for=opened_for)

    def warm(self, key: str) -> float:
        self.report["warmed_in"] = os.getpid()
        return 0.0


def timing_only(*args) -> WarmSession:
    """WarmSession as the timing process opens it."""
    return WarmSession("timing")
