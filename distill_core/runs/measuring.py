"""Measuring a stored run: find its folder from what a person typed, and hand it to its task's harness.

`measure_run` and `format_bench_table` ask the run's task (the registry's, by config.json's / bench.json's "task") to
measure it or print its bench.json.
"""

from __future__ import annotations

from pathlib import Path

from distill_core.core.errors import DistillLabError
from distill_core.core.run_files import read_json_or_none


def resolve_run_dir(ref: str) -> Path:
    """A run's folder from a path, a run id (the data folder's runs/<id>) or a unique id prefix the store knows."""
    from distill_core.core.home import data_home

    path = Path(ref).expanduser()
    if path.is_dir():
        return path
    candidate = data_home() / "runs" / ref
    if "/" not in ref and candidate.is_dir():
        return candidate
    try:
        from distill_core.runs import store

        return store.get_run(ref).folder
    except Exception:
        raise DistillLabError(f"{ref!r} is neither a run folder nor a run id in {data_home() / 'runs'}",
                              "run") from None


def measure_run(run_dir: str | Path, cfg=None, variants: list[str] | None = None, on_progress=None,
                should_stop=None, write: bool = True, after_run: bool = False) -> dict:
    """Measure a finished run with its task's harness (`cfg`: a measure.records.BenchConfig) and write bench.json;
    returns its dict. A folder without a readable config.json goes to the classification harness, which says what
    is missing."""
    from distill_core.tasks import get_task

    task = (read_json_or_none(run_dir, "config.json") or {}).get("task") or "classification"
    return get_task(task).measure(Path(run_dir), cfg, variants, on_progress, should_stop, write, after_run)


def format_bench_table(data: dict) -> str:
    """A bench.json dict as text, by the task that wrote it (files without a "task" key: classification)."""
    from distill_core.tasks import get_task

    return get_task(data.get("task") or "classification").format_bench(data)
