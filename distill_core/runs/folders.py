"""Finding a run's folder from what a person typed: a path, a run id or a unique id prefix the store knows."""

from __future__ import annotations

from pathlib import Path

from distill_core.core.errors import DistillLabError


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
