"""What a lab bundle may hold: its members' paths and file kinds, and the shape of the store rows and events it
carries (the sizes are bundles.py's limits).

A bundle holds `manifest.json` and, per run, `runs/<run id>/<path>`: files ending in one of `ALLOWED_SUFFIXES`
(results, measurements, logs, tokenizer files, weights as safetensors, ONNX exports). Path parts are plain names:
no `..`, no absolute paths, no backslashes, no hidden or odd characters. Pickled weights (`PICKLE_SUFFIXES`) are
refused by name: loading one can run any code.
"""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import PurePosixPath

from distill_core.core.errors import DistillLabError
from distill_core.runs import store

MANIFEST = "manifest.json"
EVENTS = "events.json"  # runs/<id>/events.json: the run's progress events from the store (its live curves)
ALLOWED_SUFFIXES = (".json", ".jsonl", ".txt", ".md", ".csv", ".log", ".safetensors", ".onnx", ".model")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz")
MAX_DEPTH = 8  # path parts below runs/<id>/
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,199}")
ALLOWED_TEXT = (f"a bundle holds {MANIFEST} and runs/<run id>/ files ending in {', '.join(ALLOWED_SUFFIXES)} "
                "(weights as .safetensors only)")


def refuse(message: str) -> DistillLabError:
    """The error of a refused bundle (field "bundle"); nothing was imported."""
    return DistillLabError(f"{message}; nothing was imported", "bundle")


def run_id_of(name: str) -> str | None:
    """The run id a member belongs to (runs/<id>/...), None for manifest.json."""
    return None if name == MANIFEST else name.split("/")[1]


def check_name(name: str) -> None:
    """Raise (refuse) unless `name` is a path a bundle may hold: manifest.json or runs/<run id>/<allowed file>."""
    if name.startswith("/") or "\\" in name or re.match(r"[A-Za-z]:", name):
        raise refuse(f"member {name!r} is an absolute path (or uses backslashes): members are relative paths like "
                     "runs/<run id>/results.json")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise refuse(f"member {name!r} climbs out of its folder ('..', '.' or an empty part): members stay under "
                     "runs/<run id>/")
    if name == MANIFEST:
        return
    if len(parts) < 3 or parts[0] != "runs" or not store._RUN_ID.fullmatch(parts[1]):
        raise refuse(f"unknown member {name!r}: {ALLOWED_TEXT}")
    if len(parts) - 2 > MAX_DEPTH or not all(_PART.fullmatch(part) for part in parts[2:]):
        raise refuse(f"member {name!r} has a hidden, deep (over {MAX_DEPTH} folders) or oddly named path: names "
                     "are letters, digits and . _ + = - only")
    check_kind(name)


def check_kind(name: str) -> None:
    """Raise (refuse) unless the file's suffix is one a bundle carries."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise refuse(f"member {name!r} is a pickle ({suffix}): loading pickled weights can run code, so bundles "
                     "carry weights as .safetensors only")
    if suffix not in ALLOWED_SUFFIXES:
        raise refuse(f"member {name!r} is of an unknown kind ({suffix or 'no suffix'}): {ALLOWED_TEXT}")


def is_symlink(info: zipfile.ZipInfo) -> bool:
    """Whether the member is a symbolic link (its Unix mode, in the high 16 bits of external_attr)."""
    return stat.S_ISLNK(info.external_attr >> 16)


def allowed(name: str) -> bool:
    """Whether `name` passes check_name (packing leaves other files out)."""
    try:
        check_name(name)
    except DistillLabError:
        return False
    return True


def check_row(row) -> str:
    """A run's store row from the manifest, checked (a run id, a finished status, the store's types); its id."""
    if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not store._RUN_ID.fullmatch(row["id"]):
        raise refuse(f"{MANIFEST} has a run without a valid id (like 20260101-120000-a1b2c3)")
    if row.get("status") not in store.FINISHED:
        raise refuse(f"run {row['id']} is {row.get('status')!r}: bundles carry finished runs only "
                     f"({', '.join(store.FINISHED)})")
    numbers = ("created", "updated", "started", "finished", "progress", "fraction")
    if (not isinstance(row.get("name"), str) or not isinstance(row.get("config"), dict)
            or not isinstance(row.get("created"), (int, float))
            or not all(isinstance(row.get(k), (int, float, type(None))) for k in numbers)
            or not all(isinstance(row.get(k), (str, type(None))) for k in ("phase", "message", "error"))
            or not isinstance(row.get("summary"), (dict, type(None)))):
        raise refuse(f"{MANIFEST} has a malformed record for run {row['id']}: the bundle is damaged")
    return row["id"]


def check_events(events, run_id: str) -> list[dict]:
    """runs/<id>/events.json's content, checked: a list of progress events of the store's types (times in s)."""
    number, maybe_int = (int, float), (int, type(None))
    ok = isinstance(events, list) and all(
        isinstance(e, dict) and isinstance(e.get("phase"), str) and isinstance(e.get("time"), number)
        and isinstance(e.get("step", 0), int) and isinstance(e.get("total"), maybe_int)
        and isinstance(e.get("fraction", 0.0), number) and isinstance(e.get("metrics", {}), dict)
        and isinstance(e.get("message", ""), (str, type(None))) for e in events)
    if not ok:
        raise refuse(f"runs/{run_id}/{EVENTS} is not a list of progress events")
    return events
