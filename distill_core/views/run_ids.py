"""How a run id is shown where the whole id does not fit (pickers, captions, table cells).

Ids are "YYYYMMDD-HHMMSS-xxxxxx" (runs/store.py new_run_id): the first 8 characters are the date alone, the same for
every run of a day, so the label keeps the time and the random suffix that tell two such runs apart.
"""

from __future__ import annotations

import re

_ID = re.compile(r"^\d{4}(\d\d)(\d\d)-(\d\d)(\d\d)\d\d-([0-9a-f]+)$")  # month, day, hour, minute, suffix


def short_id(run_id: str) -> str:
    """"12-01 21:52 ·4d7d74" for "20261201-215203-4d7d74": month-day hour:minute and the random suffix. An id in
    another form (older or hand-made) is shown whole."""
    m = _ID.match(run_id or "")
    if m is None:
        return run_id
    month, day, hour, minute, suffix = m.groups()
    return f"{month}-{day} {hour}:{minute} ·{suffix}"
