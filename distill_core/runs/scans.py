"""Layer-importance scans for the dashboard, off the Streamlit thread: `start` writes the config under the data
folder's scans/<key>/ and runs `python -m distill_core.cli scan` there in its own process; `state` reads how it went.
A scan is keyed by what it reads (task, teacher, data, length), so asking again for the same teacher and data shows
the earlier answer at once, whatever the student (views/layer_scan.for_student fits it to the student). Never imports torch."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from distill_core.core.config import RunConfig, validate
from distill_core.core.home import data_home
from distill_core.runs.children import PACKAGE_ROOT, child_env

_children: dict[str, subprocess.Popen] = {}  # key -> scan process started by this process


@dataclass
class ScanState:
    status: str  # none | running | done | failed
    scan: dict | None = None  # LayerScan.to_dict() when done
    error: str | None = None  # the scan's own message when failed


def scan_key(config: RunConfig) -> str:
    c = config.to_dict()
    keyed = [c["task"], c["teacher"], c["data"], c["max_length"], c.get("lm")]  # not the student: see for_student
    return hashlib.sha256(json.dumps(keyed, sort_keys=True, default=str).encode()).hexdigest()[:16]


def scan_folder(key: str) -> Path:
    return data_home() / "scans" / key


def start(config: RunConfig) -> str:
    """Start scanning `config`'s teacher in a new process (unless it is scanning or scanned); returns the key."""
    validate(config)
    key = scan_key(config)
    if state(key).status in ("running", "done"):
        return key
    folder = scan_folder(key)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(config.to_json())
    env = child_env(DISTILL_LAB_HOME=str(data_home()))
    with open(folder / "scan.log", "wb") as log:
        _children[key] = subprocess.Popen(
            [sys.executable, "-m", "distill_core.cli", "scan", "--config", str(folder / "config.json"), "--json",
             str(folder / "scan.json")], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, env=env, cwd=PACKAGE_ROOT)
    return key


def state(key: str) -> ScanState:
    """How the scan `key` stands: done (with the scan), running, failed (with its message) or none."""
    folder = scan_folder(key)
    if (folder / "scan.json").exists():
        return ScanState("done", json.loads((folder / "scan.json").read_text()))
    proc = _children.get(key)
    if proc is not None and proc.poll() is None:
        return ScanState("running")
    if not (folder / "scan.log").exists():
        return ScanState("none")
    if proc is None:  # started by another app process (or before a restart) and not finished: treat as failed
        return ScanState("failed", error="the scan did not finish; start it again")
    lines = [ln for ln in (folder / "scan.log").read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln.removeprefix("error: ") for ln in lines if ln.startswith("error: ")]
    return ScanState("failed", error=errors[-1] if errors else (lines[-1] if lines else "the scan ended early"))
