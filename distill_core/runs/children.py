"""The processes the lab starts (run workers, sweep drivers, layer scans, training ranks): their environment, and
how a detached one is started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding distill_core/: their cwd
INSTRUCTOR_KEY_ENV = "DISTILL_LAB_INSTRUCTOR_KEY"  # room mode's key (runs/room.py): never handed to a child


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment plus `extra`, with distill_core importable and without room mode's key."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
               **extra)
    env.pop(INSTRUCTOR_KEY_ENV, None)
    return env


def start_detached(module: str, arg: str, log_path: Path, env: dict[str, str]) -> subprocess.Popen:
    """`python -m MODULE ARG` in a session of its own (it outlives the caller: a closed terminal or a restarted app
    does not stop it), stdin closed, stdout and stderr appended to `log_path`. Raises OSError when it cannot start."""
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", module, arg], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True, env=env,
                                cwd=PACKAGE_ROOT)
