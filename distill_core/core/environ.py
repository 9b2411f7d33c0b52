"""Setting environment variables for a while: what a child process is started with, then put back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def restore_environ(saved: dict[str, str | None]) -> None:
    """Put back each variable of `saved` (name -> its earlier value; None: it was not set, so remove it)."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextmanager
def environ_set(values: dict[str, str]) -> Iterator[None]:
    """Set `values` in this process's environment inside the block; put the earlier values back after."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        restore_environ(saved)
