"""Where Distill Lab keeps its data: `DISTILL_LAB_HOME`, else a per-user data folder."""

import os
from pathlib import Path


def data_home() -> Path:
    """The data folder (created if missing): teacher caches, runs, the store."""
    env = os.environ.get("DISTILL_LAB_HOME")
    if env:
        root = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        root = Path(base) / "distill-lab"
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(kind: str) -> Path:
    """A sub-folder of the data folder for cached artifacts of one kind (e.g. 'teachers')."""
    path = data_home() / "cache" / kind
    path.mkdir(parents=True, exist_ok=True)
    return path
