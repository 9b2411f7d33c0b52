"""A run folder's saved JSON files (results, config, bench, history, preflight), read with one rule: a missing or
damaged file is a DistillLabError naming the file and what to do, or None for readers that can do without it;
never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from distill_core.core.errors import DistillLabError


def read_json(folder: str | Path, name: str) -> dict:
    """The object saved in `folder/name`. Raises DistillLabError (field "run") when it is missing or damaged."""
    path = Path(folder) / name
    if not path.exists():
        raise DistillLabError(f"{path} does not exist; the run has not finished (or was not measured)", "run")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise DistillLabError(f"{path} is damaged ({type(exc).__name__}); re-run the run or delete it", "run") \
            from None
    if not isinstance(data, dict):
        raise DistillLabError(f"{path} is damaged (not a JSON object); re-run the run or delete it", "run")
    return data


def read_json_or_none(folder: str | Path, name: str) -> dict | None:
    """Like read_json, but None when the file is missing or damaged (for listings that skip what they cannot read)."""
    try:
        return read_json(folder, name)
    except DistillLabError:
        return None


def read_run(run_dir: str | Path) -> tuple[dict, dict]:
    """(results.json, config.json) of a finished run, or a DistillLabError saying what is missing."""
    return read_json(run_dir, "results.json"), read_json(run_dir, "config.json")
