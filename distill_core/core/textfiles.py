"""Reading the user's text files (CSV, TSV, JSONL, TXT) with clear errors, and keeping uploads under the data folder.
Every task's data loading reads files through here."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from distill_core.core.atomic import write_bytes
from distill_core.core.errors import DistillLabError
from distill_core.core.home import data_home

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


def read_text(p: Path, field: str = "data.source", hint: str = "give a .csv or .jsonl path") -> str:
    """The UTF-8 text of a data file; clear errors for missing, empty, oversized, binary or non-UTF-8 files."""
    if not p.is_file():
        raise DistillLabError(f"file {p} does not exist ({hint})", field)
    size = p.stat().st_size
    if size == 0:
        raise DistillLabError(f"file {p.name} is empty", field)
    if size > MAX_UPLOAD_BYTES:
        raise DistillLabError(f"file {p.name} is {size / 1e6:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB",
                              field)
    raw = p.read_bytes()
    if b"\x00" in raw[:4096]:
        raise DistillLabError(f"file {p.name} looks binary; expected UTF-8 text (CSV, JSONL or TXT)", field)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DistillLabError(f"file {p.name} is not UTF-8 (byte {exc.start}); save it as UTF-8", field) from None


def read_rows(path: str | Path, field: str = "data.source", hint: str = "give a .csv or .jsonl path") -> list[dict]:
    """Rows of a .csv or .jsonl file as dicts; clear errors for missing, oversized, binary or malformed files."""
    import pandas as pd

    p = Path(path).expanduser()
    text = read_text(p, field, hint)
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        rows = []
        # Lines end at \n, \r\n or \r (never inside valid JSON); str.splitlines would also cut a JSON string at U+2028.
        for n, line in enumerate(re.split(r"\r\n?|\n", text), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError) as exc:  # also an integer too long to convert, or too deep nesting
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)[:80]
                raise DistillLabError(f"{p.name} line {n} is not valid JSON ({reason})", field) from None
            if not isinstance(row, dict):
                raise DistillLabError(f"{p.name} line {n} is not a JSON object", field)
            rows.append(row)
        return rows
    if suffix in (".csv", ".tsv"):
        import io
        import warnings

        sep = "\t" if suffix == ".tsv" else ","
        try:
            with warnings.catch_warnings():  # a row longer than the header would silently become an index
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, index_col=False)
        except Exception as exc:
            hint = f"; a text containing {'a tab' if sep == chr(9) else 'a comma'} must be in double quotes" \
                if isinstance(exc, (pd.errors.ParserError, pd.errors.ParserWarning)) else ""
            raise DistillLabError(f"{p.name} is not a readable CSV: {str(exc).splitlines()[0]}{hint}",
                                  field) from None
        return frame.to_dict("records")
    raise DistillLabError(f"unsupported file type {suffix!r}; allowed: .csv, .tsv, .jsonl", field)


def read_text_file(path, text_column: str = "text") -> list[str]:
    """Unlabeled texts from .txt (one per line), .csv or .jsonl (the text column), with the same file checks."""
    p = Path(path).expanduser()
    if p.suffix.lower() == ".txt":
        if not p.is_file():
            raise DistillLabError(f"file {p} does not exist", "data.transfer")
        return [line.strip() for line in read_text(p, "data.transfer").splitlines() if line.strip()]
    rows = read_rows(p, "data.transfer")
    if rows and text_column not in rows[0]:
        raise DistillLabError(f"column {text_column!r} is missing in {p.name}", "data.transfer")
    return [str(r[text_column]) for r in rows if str(r.get(text_column) or "").strip()]


def preview_file(path, n: int = 5) -> tuple[list[str], list[dict]]:
    """(column names, first `n` rows) of a .csv/.tsv/.jsonl file, with the same checks as reading it for a run."""
    rows = read_rows(path)
    if not rows:
        raise DistillLabError(f"{Path(path).name} has no rows", "data.source")
    return list(rows[0].keys()), rows[:n]


def save_upload(filename: str, content: bytes) -> Path:
    """Keep an uploaded data file under the data folder (uploads/<content hash>.<ext>) and return its path, so a run
    config can name it and a rerun finds it. Refuses oversized files and unsupported types."""
    suffix = Path(filename).suffix.lower()
    if suffix not in (".csv", ".tsv", ".jsonl", ".ndjson", ".txt"):
        raise DistillLabError(f"unsupported file type {suffix or filename!r}; allowed: .csv, .tsv, .jsonl, .txt",
                              "data.source")
    if len(content) > MAX_UPLOAD_BYTES:
        raise DistillLabError(f"file {filename} is {len(content) / 1e6:.1f} MB; the limit is "
                              f"{MAX_UPLOAD_BYTES / 1e6:.0f} MB", "data.source")
    folder = data_home() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(content).hexdigest()[:16]}{suffix}"
    if not path.exists():
        write_bytes(path, content)
    return path
