"""Setting environment variables for a while: what a child process is started with, then put back."""

from __future__ import annotations

import os


def restore_environ(saved: dict[str, str | None]) -> None:
    """Put back each variable of `saved` (name -> its earlier value; None: it was not set, so remove it)."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
