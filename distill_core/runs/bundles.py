"""Lab bundles: finished runs as one zip, and their import into another data folder.

A bundle holds `manifest.json` (format, version, each run's store row, and each member's size in bytes, sha256 and
modification time in ns) and, per run, `runs/<id>/...`: its folder's files of the kinds bundle_members.py allows
(results, measurements, student and control as safetensors, ONNX exports) plus `runs/<id>/events.json`, the run's
progress events (its live curves). Modification times travel so ONNX exports stay matched to their weights
(onnx_export.source_stamp).

Import is all or nothing: every member is checked (name, kind, size, compression ratio, sha256, safetensors header,
JSON) while it is extracted into a temporary folder under the data folder; only then are the run folders moved in
and the store rows inserted, in one transaction. Ids the store already has are renamed to fresh ones. Any failure
removes the temporary folder and leaves the store and runs/ as they were.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from distill_core.core.atomic import replacing
from distill_core.core.errors import DistillLabError
from distill_core.core.home import data_home
from distill_core.runs import store
from distill_core.runs.bundle_members import (EVENTS, MANIFEST, allowed, check_events, check_name, check_row,
                                              is_symlink, refuse, run_id_of)

FORMAT = "distill-lab-bundle"
VERSION = 1
MAX_BUNDLE_BYTES = 2 * 2**30  # all members together, uncompressed
MAX_MEMBER_BYTES = 2**30  # one member, uncompressed
MAX_MEMBERS = 5000
MAX_MANIFEST_BYTES = 64 * 2**20
MAX_RATIO = 100.0  # uncompressed / compressed bytes of a member; above it looks like a zip bomb
RATIO_FLOOR_BYTES = 2**20  # members smaller than this skip the ratio check (small JSON compresses well)
_CHUNK = 2**20
_STORED = (".safetensors", ".onnx")  # weights barely compress
_ROW_FIELDS = ("id", "name", "status", "created", "updated", "started", "finished", "progress", "phase", "fraction",
               "message", "error", "summary", "config")


@dataclass
class PackSummary:
    """What pack wrote: the zip, its runs, its member count and uncompressed bytes, and the files left out."""

    path: Path | None
    run_ids: list[str]
    files: int
    bytes: int
    left_out: list[str] = field(default_factory=list)  # runs/<id>/<path> of files a bundle does not carry


# ---- pack ----

def finished_runs(run_refs: list[str]) -> list[store.RunRecord]:
    """The runs that ids or unique prefixes name, once each; refuses none, unknown or unfinished ones."""
    if not run_refs:
        raise DistillLabError("name at least one run to pack (ids or unique prefixes; `distill-lab list`)", "run")
    records = {}
    for ref in run_refs:
        record = store.get_run(ref)
        if record.status not in store.FINISHED:
            raise DistillLabError(f"run {record.id} is {record.status}: only finished runs "
                                  f"({', '.join(store.FINISHED)}) can be packed; wait for it or cancel it", "run")
        records[record.id] = record
    return list(records.values())


def _plan(records: list[store.RunRecord]) -> tuple[dict[str, Path | bytes], list[str]]:
    """Member name -> file (or bytes) to pack, and the run files left out (kinds a bundle does not carry, links)."""
    members: dict[str, Path | bytes] = {}
    left_out = []
    for record in records:
        for path in sorted(record.folder.rglob("*")):
            name = f"runs/{record.id}/{path.relative_to(record.folder).as_posix()}"
            if path.is_dir() and not path.is_symlink():
                continue
            if path.is_symlink() or not allowed(name) or name == f"runs/{record.id}/{EVENTS}":
                left_out.append(name)
            else:
                members[name] = path
        events = [{k: v for k, v in e.items() if k != "id"} for e in store.run_history(record.id)]
        members[f"runs/{record.id}/{EVENTS}"] = json.dumps(events).encode()
    return members, left_out


def _size(item: Path | bytes) -> int:
    return len(item) if isinstance(item, bytes) else item.stat().st_size


def plan_bytes(run_refs: list[str]) -> int:
    """Uncompressed bytes a bundle of these runs would hold (to compare with an upload limit before packing)."""
    return sum(_size(item) for item in _plan(finished_runs(run_refs))[0].values())


def _check_plan(members: dict[str, Path | bytes]) -> None:
    """Refuse to write a bundle that unpack would refuse for its size."""
    big = [(name, _size(item)) for name, item in members.items() if _size(item) > MAX_MEMBER_BYTES]
    total = sum(_size(item) for item in members.values())
    if big:
        raise DistillLabError(f"{big[0][0]} is {big[0][1] / 2**20:.0f} MiB; a bundle member may hold up to "
                              f"{MAX_MEMBER_BYTES / 2**20:.0f} MiB", "run")
    if total > MAX_BUNDLE_BYTES or len(members) + 1 > MAX_MEMBERS:
        raise DistillLabError(f"these runs hold {total / 2**20:.0f} MiB in {len(members)} files; a bundle holds up to "
                              f"{MAX_BUNDLE_BYTES / 2**20:.0f} MiB in {MAX_MEMBERS} files: pack fewer runs", "run")


def _add(archive: zipfile.ZipFile, name: str, item: Path | bytes) -> dict:
    """Write one member; returns its manifest entry (size in bytes, sha256, mtime in ns)."""
    mtime_ns = item.stat().st_mtime_ns if isinstance(item, Path) else time.time_ns()
    info = zipfile.ZipInfo(name, max(time.localtime(mtime_ns / 1e9)[:6], (1980, 1, 1, 0, 0, 0)))  # zip: 1980 on
    info.compress_type = zipfile.ZIP_STORED if name.endswith(_STORED) else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    digest, size = hashlib.sha256(), 0
    with archive.open(info, "w", force_zip64=True) as dst:
        source = io.BytesIO(item) if isinstance(item, bytes) else open(item, "rb")
        with source:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                dst.write(chunk)
    return {"size": size, "sha256": digest.hexdigest(), "mtime_ns": mtime_ns}


def write_bundle(records: list[store.RunRecord], out: BinaryIO) -> PackSummary:
    """Write the runs' bundle to the binary file `out`."""
    members, left_out = _plan(records)
    _check_plan(members)
    rows = [{k: getattr(r, k) for k in _ROW_FIELDS} for r in records]
    with zipfile.ZipFile(out, "w") as archive:
        entries = {name: _add(archive, name, item) for name, item in members.items()}
        manifest = {"format": FORMAT, "version": VERSION, "created": time.time(), "runs": rows, "members": entries}
        archive.writestr(MANIFEST, json.dumps(manifest, indent=1), zipfile.ZIP_DEFLATED)
    return PackSummary(None, [r.id for r in records], len(entries) + 1,
                       sum(e["size"] for e in entries.values()), left_out)


def pack_runs(run_refs: list[str], out_path: str | Path) -> PackSummary:
    """Write the finished runs `run_refs` (ids or unique prefixes) as a bundle zip at `out_path` (all or nothing)."""
    records = finished_runs(run_refs)
    out = Path(out_path).expanduser()
    if not out.parent.is_dir():
        raise DistillLabError(f"cannot write {out}: the folder {out.parent} does not exist", "--out")
    try:
        with replacing(out) as tmp, open(tmp, "wb") as handle:
            summary = write_bundle(records, handle)
    except OSError as exc:
        raise DistillLabError(f"cannot write {out}: {exc.strerror or exc}", "--out") from None
    summary.path = out
    return summary


def bundle_filename(run_ids: list[str]) -> str:
    """A file name for a download: distill-lab-bundle-<first run id>[-and-N-more].zip."""
    more = f"-and-{len(run_ids) - 1}-more" if len(run_ids) > 1 else ""
    return f"distill-lab-bundle-{run_ids[0] if run_ids else 'empty'}{more}.zip"


def bundle_bytes(run_refs: list[str]) -> bytes:
    """The bundle of `run_refs` as bytes (the app's download; the CLI writes a file with pack_runs)."""
    buffer = io.BytesIO()
    write_bundle(finished_runs(run_refs), buffer)
    return buffer.getvalue()


# ---- unpack ----

def _open(source: str | Path | BinaryIO) -> zipfile.ZipFile:
    label = getattr(source, "name", None) or str(source)
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise DistillLabError(f"no file {source}", "bundle")
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise refuse(f"{label} is not a readable zip file (a lab bundle is the zip `distill-lab pack` writes)"
                     ) from None


def _check_members(infos: list[zipfile.ZipInfo]) -> None:
    """Names, kinds, links, duplicates, sizes and compression ratios, from the zip's directory (before reading)."""
    if len(infos) > MAX_MEMBERS:
        raise refuse(f"the zip has {len(infos)} members; a bundle holds up to {MAX_MEMBERS}")
    seen, total = set(), 0
    for info in infos:
        name = info.filename
        if is_symlink(info) or info.is_dir():
            raise refuse(f"member {name!r} is a {'symbolic link' if is_symlink(info) else 'folder entry'}: "
                         "bundles hold plain files only")
        check_name(name)
        if name in seen:
            raise refuse(f"member {name!r} appears twice in the zip")
        seen.add(name)
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise refuse(f"member {name!r} is encrypted or compressed with an unusual method: bundles use stored "
                         "or deflate members")
        if info.file_size > MAX_MEMBER_BYTES:
            raise refuse(f"member {name!r} unpacks to {info.file_size / 2**20:.0f} MiB; a member may hold up to "
                         f"{MAX_MEMBER_BYTES / 2**20:.0f} MiB")
        total += info.file_size
        if total > MAX_BUNDLE_BYTES:
            raise refuse(f"the zip unpacks to more than {MAX_BUNDLE_BYTES / 2**20:.0f} MiB, the limit of a bundle")
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise refuse(f"member {name!r} unpacks to {info.file_size / max(info.compress_size, 1):.0f} times its "
                         f"packed size (a zip bomb?); bundles allow up to {MAX_RATIO:.0f} times")


def _read_manifest(archive: zipfile.ZipFile) -> dict:
    """The manifest, checked: format and version, runs (finished, unique ids), and the same members as the zip."""
    names = set(archive.namelist())
    if MANIFEST not in names:
        raise refuse(f"the zip has no {MANIFEST}: it is not a lab bundle (`distill-lab pack` writes them)")
    try:
        info = archive.getinfo(MANIFEST)
        if info.file_size > MAX_MANIFEST_BYTES:
            raise refuse(f"{MANIFEST} is {info.file_size / 2**20:.0f} MiB; a manifest holds up to "
                         f"{MAX_MANIFEST_BYTES / 2**20:.0f} MiB")
        manifest = json.loads(_read_member(archive, info))
    except ValueError:
        raise refuse(f"{MANIFEST} is not valid JSON: the bundle is damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise refuse(f"{MANIFEST} is not a lab bundle's (format {FORMAT!r} expected)")
    if not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
        raise refuse(f"the bundle has format version {manifest.get('version')!r}; this Distill Lab reads up to "
                     f"{VERSION}: upgrade Distill Lab")
    runs, members = manifest.get("runs"), manifest.get("members")
    if not isinstance(runs, list) or not runs or not isinstance(members, dict):
        raise refuse(f"{MANIFEST} lacks its runs or members: the bundle is damaged")
    ids = [check_row(row) for row in runs]
    if len(set(ids)) != len(ids):
        raise refuse(f"{MANIFEST} lists a run twice")
    for name in sorted(names - {MANIFEST} - set(members)):
        raise refuse(f"unknown member {name!r}: the zip has it but {MANIFEST} does not list it")
    for name in sorted(set(members) - names):
        raise refuse(f"{MANIFEST} lists {name!r} but the zip lacks it: the bundle is damaged")
    for name, entry in members.items():
        if run_id_of(name) not in ids:
            raise refuse(f"member {name!r} belongs to no run of {MANIFEST}")
        if not (isinstance(entry, dict) and isinstance(entry.get("size"), int) and isinstance(entry.get("sha256"), str)
                and isinstance(entry.get("mtime_ns", 0), int)):
            raise refuse(f"{MANIFEST} has no size and sha256 for {name!r}: the bundle is damaged")
    return manifest


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: BinaryIO | None = None) -> bytes:
    """The member's bytes (into `out` when given, returning b""), stopping at its declared size; damage refused."""
    buffer, size = (out or io.BytesIO()), 0
    try:
        with archive.open(info) as src:
            while chunk := src.read(_CHUNK):
                size += len(chunk)
                if size > info.file_size:
                    raise refuse(f"member {info.filename!r} holds more than its declared {info.file_size} bytes")
                buffer.write(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise refuse(f"member {info.filename!r} cannot be read ({exc}): the bundle is damaged") from None
    return b"" if out is not None else buffer.getvalue()


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, entry: dict, staging: Path) -> None:
    """Write one member under `staging`, then check its size, sha256 and content against the manifest."""
    target = staging.joinpath(*info.filename.split("/"))
    if not target.resolve().is_relative_to(staging.resolve()):
        raise refuse(f"member {info.filename!r} points outside the bundle")
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "xb") as handle:
        _read_member(archive, info, handle)
    digest = hashlib.sha256()
    with open(target, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    if target.stat().st_size != entry["size"] or digest.hexdigest() != entry["sha256"]:
        raise refuse(f"member {info.filename!r} does not match its sha256 in {MANIFEST}: the bundle is damaged or "
                     "was changed after packing")
    _check_content(target, info.filename)
    if entry.get("mtime_ns"):
        os.utime(target, ns=(entry["mtime_ns"], entry["mtime_ns"]))


def _check_content(path: Path, name: str) -> None:
    """JSON parses; safetensors open by their header only (no tensor is read, nothing is unpickled)."""
    if name.endswith(".json"):
        try:
            json.loads(path.read_bytes())
        except ValueError:
            raise refuse(f"member {name!r} is not valid JSON") from None
    elif name.endswith(".safetensors"):
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as weights:
                weights.keys()
        except Exception as exc:  # SafetensorError and friends: a damaged or forged header
            raise refuse(f"member {name!r} is not a valid safetensors file ({exc})") from None


def _events(staging: Path, run_id: str) -> list[dict]:
    """The run's events from runs/<id>/events.json (removed from the folder: the store keeps them)."""
    path = staging / "runs" / run_id / EVENTS
    if not path.exists():
        return []
    events = json.loads(path.read_bytes())
    path.unlink()
    return check_events(events, run_id)


def _insert(conn, row: dict, run_id: str, events: list[dict]) -> None:
    conn.execute("INSERT INTO runs (id, name, status, created, updated, started, finished, progress, phase, "
                 "fraction, message, error, config, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (run_id, row["name"], row["status"], row["created"], row.get("updated") or row["created"],
                  row.get("started"), row.get("finished"), row.get("progress") or 0.0, row.get("phase"),
                  row.get("fraction") or 0.0, row.get("message"), row.get("error"), json.dumps(row["config"]),
                  json.dumps(row["summary"]) if row.get("summary") is not None else None))
    conn.executemany("INSERT INTO events (run_id, time, phase, step, total, fraction, metrics, message) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     [(run_id, e["time"], e["phase"], int(e.get("step") or 0), e.get("total"),
                       float(e.get("fraction") or 0.0), json.dumps(e.get("metrics") or {}), e.get("message") or "")
                      for e in events])


def _commit(rows: list[dict], events: dict[str, list[dict]], staging: Path) -> list[tuple[str, str]]:
    """Move the run folders in and insert their rows in one transaction; ids the store has get fresh ones."""
    root, renames, moved = store.runs_root(), [], []
    conn = store.connect()
    try:
        with store.transaction(conn):
            for row in rows:
                new_id = row["id"]
                while (new_id in {n for _, n in renames} or (root / new_id).exists()
                       or conn.execute("SELECT 1 FROM runs WHERE id = ?", (new_id,)).fetchone()):
                    new_id = store.new_run_id()
                _insert(conn, row, new_id, events[row["id"]])
                os.replace(staging / "runs" / row["id"], root / new_id)
                moved.append(root / new_id)
                renames.append((row["id"], new_id))
    except BaseException:
        for folder in moved:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        conn.close()
    return renames


def unpack_bundle(source: str | Path | BinaryIO) -> list[tuple[str, str]]:
    """Import a bundle's runs into the data folder; returns (id in the bundle, id here) per run, renamed where the
    id was taken. All or nothing: a refused bundle raises DistillLabError (field "bundle") and changes nothing."""
    with _open(source) as archive:
        _check_members(archive.infolist())
        manifest = _read_manifest(archive)
        staging = Path(tempfile.mkdtemp(prefix=".bundle-import-", dir=data_home()))
        try:
            for name, entry in manifest["members"].items():
                _extract(archive, archive.getinfo(name), entry, staging)
            events = {}
            for row in manifest["runs"]:
                (staging / "runs" / row["id"]).mkdir(parents=True, exist_ok=True)
                events[row["id"]] = _events(staging, row["id"])
            return _commit(manifest["runs"], events, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
