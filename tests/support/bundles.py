"""Helpers for the lab bundle tests: a cheap finished run, a data folder's state, and zips rewritten member by
member (with a manifest that matches them, so each hostile zip is wrong in one way only)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from distill_core.core.config import RunConfig
from distill_core.core.home import data_home
from distill_core.runs import store, worker
from tests.support.runs import fake_results

MANIFEST = "manifest.json"


def fake_done_run(name: str = "fake", student: float = 0.8, control: float = 0.7) -> store.RunRecord:
    """A `done` run without training: results.json, an event, and a student of one tensor in safetensors."""
    record = store.create_run(RunConfig(name=name).to_dict(), name=name)
    assert store.claim(record.id, 1, None) == "claimed"
    store.record_event(record.id, {"phase": "student", "step": 2, "total": 4, "fraction": 0.5,
                                   "metrics": {"loss": 0.61}, "message": "step 2"}, progress=0.3)
    results = fake_results(student, control)
    (record.folder / "results.json").write_text(json.dumps(results))
    (record.folder / "student").mkdir()
    save_file({"w": np.arange(4, dtype=np.float32)}, str(record.folder / "student" / "model.safetensors"))
    (record.folder / "student" / "config.json").write_text("{}")
    store.finish(record.id, "done", summary=worker.summarize(results))
    return store.get_run(record.id)


def home_state() -> dict:
    """What an import may change: the store's rows and events, the files under runs/, the data folder's entries."""
    home = data_home()
    runs = home / "runs"
    rows = [(r.to_dict(), store.run_history(r.id)) for r in store.list_runs()] if store.db_path().exists() else []
    files = sorted(str(p.relative_to(runs)) for p in runs.rglob("*")) if runs.exists() else []
    entries = sorted(p.name for p in home.iterdir() if not p.name.startswith("store.sqlite3"))
    return {"rows": rows, "files": files, "entries": entries}


def read_zip(path: Path) -> tuple[dict, dict[str, bytes]]:
    """A bundle's manifest and its other members' bytes."""
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    return json.loads(members.pop(MANIFEST)), members


def write_zip(path: Path, manifest: dict | None, members: dict[str, bytes], listed: bool = True,
              infos: dict[str, zipfile.ZipInfo] | None = None) -> Path:
    """Write `members` (and `manifest`, its member list recomputed when `listed`) as a zip at `path`; `infos` gives
    chosen headers (e.g. a symlink's mode) for some members."""
    infos = infos or {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(infos.get(name, name), data)
        if manifest is not None:
            manifest = json.loads(json.dumps(manifest))
            if listed:
                manifest["members"] = {n: {"size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                                       for n, d in members.items()}
            archive.writestr(MANIFEST, json.dumps(manifest))
    return path
