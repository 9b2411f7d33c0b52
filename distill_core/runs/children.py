"""The environment of the processes the lab starts (run workers, layer scans, training ranks)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding distill_core/: their cwd
INSTRUCTOR_KEY_ENV = "DISTILL_LAB_INSTRUCTOR_KEY"  # room mode's key (runs/room.py): never handed to a child


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment plus `extra`, with distill_core importable and without room mode's key."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
               **extra)
    env.pop(INSTRUCTOR_KEY_ENV, None)
    return env
