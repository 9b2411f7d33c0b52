"""The `distill-lab` command: for `bench`, the measuring processes' fork server starts before the CLI's own imports.

Why: the CLI imports torch (~2.5 s of one core on the 2-core VM) and so does the fork server the measuring processes
come from (measure/processes.py); started first, the server imports on the other core meanwhile, and a `bench`
command finishes ~2 s sooner. Only what the run's folder says is read here (its task's BENCH_PRELOAD, a tuple of
module names in the task package's light __init__); anything unexpected is left to the CLI to report."""

from __future__ import annotations

import importlib
import json
import sys


def bench_preload(run_ref: str) -> tuple[str, ...] | None:
    """The modules the measuring processes of run `run_ref` (a folder or a run id) import, from its config's task;
    None when the run, its task or the task's list cannot be read without importing more."""
    from distill_core.runs.folders import resolve_run_dir

    try:
        task = json.loads((resolve_run_dir(run_ref) / "config.json").read_text())["task"]
        preload = getattr(importlib.import_module(f"distill_core.tasks.{task.replace('-', '_')}"), "BENCH_PRELOAD")
    except Exception:  # noqa: BLE001 (a bad run or a plugin task: the CLI says what is wrong, or starts it later)
        return None
    return tuple(preload) if isinstance(preload, (tuple, list)) else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) > 1 and argv[0] == "bench" and not argv[1].startswith("-"):
        preload = bench_preload(argv[1])
        if preload:
            from distill_core.measure import processes

            processes.start_early(preload)
    from distill_core.cli import main as cli_main

    return cli_main(argv)
