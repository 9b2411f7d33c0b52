"""What the tests that start real worker processes share: polling the store, long runs, folder digests.
They also use conftest's `one_slot` fixture."""

import hashlib
import time

from distill_core.core.config import BudgetConfig
from distill_core.runs import store
from tests.support.runs import tiny_run_config

TIMEOUT_S = 120


def wait_for(predicate, timeout=TIMEOUT_S, every=0.1):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s")


def finished(run_id):
    run = store.get_run(run_id)
    return run if run.status in store.FINISHED else None


def student_step(run_id) -> int:
    """The student's last step as seen in the store (0 before it trains)."""
    return max((e["step"] for e in store.run_history(run_id) if e["phase"] == "student"), default=0)


def training(run_id, min_step=2):
    """The run once its student has taken `min_step` steps (as seen in the store)."""
    return student_step(run_id) >= min_step


def long_config(teacher_dir, name="long"):
    """Tiny model, a budget far beyond the test: only a cancel or a kill ends it."""
    return tiny_run_config(teacher_dir, name=name, budget=BudgetConfig(unit="steps", value=100_000, eval_every=1000))


def folder_digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
