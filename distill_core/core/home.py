"""Where Distill Lab keeps its data: `DISTILL_LAB_HOME`, else a per-user data folder."""

import os
import tempfile
from pathlib import Path

from distill_core.core.errors import DistillLabError

_checked: set[str] = set()  # data folders this process has proven writable


def _default_root() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "distill-lab"


def data_home() -> Path:
    """The data folder (created if missing and checked writable once per process): teacher caches, runs, the store.

    Raises DistillLabError (field "DISTILL_LAB_HOME") naming the folder when it cannot be created or written."""
    env = os.environ.get("DISTILL_LAB_HOME")
    root = Path(env).expanduser() if env else _default_root()
    key = str(root)
    if key not in _checked:
        _check_writable(root)
        _checked.add(key)
    return root


def _check_writable(root: Path) -> None:
    """Create `root` and write (then remove) a probe file in it; a clear error when either fails."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DistillLabError(f"the data folder {root} cannot be written ({reason}); set DISTILL_LAB_HOME to a "
                              "folder you can write, e.g. `DISTILL_LAB_HOME=~/distill-lab bash scripts/start.sh`",
                              "DISTILL_LAB_HOME") from None


def cache_dir(kind: str) -> Path:
    """A sub-folder of the data folder for cached artifacts of one kind (e.g. 'teachers')."""
    path = data_home() / "cache" / kind
    path.mkdir(parents=True, exist_ok=True)
    return path
