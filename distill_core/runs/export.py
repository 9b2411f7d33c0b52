"""Exports of a run that are files rather than tables: the student folder as a zip (the tables are compare.py's,
the HTML report is report.py's)."""

from __future__ import annotations

import io
import zipfile

from distill_core.core.errors import DistillLabError
from distill_core.runs import store


def model_zip(run_id: str, variant: str = "student") -> bytes:
    """The run's `variant` save_pretrained folder (safetensors, config, tokenizer) as zip bytes, under `<variant>/`."""
    if variant not in ("student", "control"):
        raise DistillLabError(f"{variant!r} cannot be exported as a folder; allowed: student | control", "variant")
    record = store.get_run(run_id)
    folder = record.folder / variant
    if not (folder / "config.json").exists():
        raise DistillLabError(f"run {record.id[:8]} has no saved {variant} (status: {record.status})", "run")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # safetensors barely compress
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{variant}/{path.relative_to(folder)}")
    return buffer.getvalue()
