"""Room mode: one app on the network for a workshop room, an instructor and visitors.

`scripts/start.sh --room` turns it on (env DISTILL_LAB_ROOM=1) and hands the app an instructor key (env
DISTILL_LAB_INSTRUCTOR_KEY; printed once by the script, never logged here). Without room mode everyone is the
instructor, as on a laptop. In room mode:

- a *visitor* (no key) browses everything, uses Playground and Learn, and starts runs: at most `runs_per_person`
  queued or running at once, in a fair queue (store.claim serves each person's first run before anyone's second);
- a run belongs to the browser that started it: the app hands each browser a random token (`new_visitor_token`)
  and the store keeps only its SHA-256 (`owner_of`); only that browser or the instructor may cancel, delete or
  re-run it (`may_manage`, `require_manage`);
- a visitor's run cannot harm the host (`check_visitor_run`): no trust_remote_code, no local path outside the data
  folder, nothing from the Hugging Face hub unless the instructor allows it (DISTILL_LAB_ROOM_ALLOW_HUB=1; the
  worker also runs with the hub offline), uploads within `upload_limit_bytes`;
- the instructor key, entered in the sidebar, gives everything. Keys are compared in constant time.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from distill_core.core.config import RunConfig
from distill_core.core.errors import DistillLabError
from distill_core.core.home import data_home
from distill_core.runs import store
from distill_core.runs.children import INSTRUCTOR_KEY_ENV

ROOM_ENV = "DISTILL_LAB_ROOM"
KEY_ENV = INSTRUCTOR_KEY_ENV
ALLOW_HUB_ENV = "DISTILL_LAB_ROOM_ALLOW_HUB"
RUNS_PER_PERSON_ENV = "DISTILL_LAB_ROOM_RUNS_PER_PERSON"
UPLOAD_MIB_ENV = "DISTILL_LAB_ROOM_UPLOAD_MIB"
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32,64}")  # what new_visitor_token gives; anything else is refused
# Config fields that name something to load: a preset key, a built-in data name, a local path or a hub id.
MODEL_FIELDS = ("teacher.model", "student.model")
DATA_FIELDS = ("data.source", "data.transfer")


@dataclass(frozen=True)
class Room:
    enabled: bool = False
    key: str | None = field(default=None, repr=False)  # never printed
    allow_hub: bool = False  # visitors may name hub models and datasets
    runs_per_person: int = 1  # a visitor's queued + running runs at once
    upload_limit_bytes: int = 10 * 2**20


@dataclass(frozen=True)
class Person:
    """Who is using the app: `owner` is the SHA-256 of their browser's token (None outside room mode, or before the
    browser has one); `instructor` may do everything."""

    owner: str | None
    instructor: bool


def _int_env(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise DistillLabError(f"{name}={raw!r}: give a whole number from {low} to {high}", name)
    return int(raw)


def room_settings() -> Room:
    """Room mode as the environment sets it. Room mode without a key of at least 16 characters is refused."""
    if os.environ.get(ROOM_ENV, "") not in ("1", "true", "yes"):
        return Room()
    key = os.environ.get(KEY_ENV, "")
    if len(key) < 16:
        raise DistillLabError(f"room mode needs an instructor key of at least 16 characters in {KEY_ENV} "
                              "(scripts/start.sh --room makes one)", KEY_ENV)
    return Room(True, key, os.environ.get(ALLOW_HUB_ENV, "") in ("1", "true", "yes"),
                _int_env(RUNS_PER_PERSON_ENV, 1, 1, 20), _int_env(UPLOAD_MIB_ENV, 10, 1, 50) * 2**20)


def new_instructor_key() -> str:
    return secrets.token_urlsafe(18)


def new_visitor_token() -> str:
    """A browser's secret (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def owner_of(token: str | None) -> str | None:
    """The owner id the store keeps for a browser token: its SHA-256 (hex); None for no or a malformed token."""
    if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
        return None
    return hashlib.sha256(token.encode()).hexdigest()


def is_instructor_key(candidate: str | None, room: Room) -> bool:
    """Whether `candidate` is the room's key, compared in constant time."""
    if not room.enabled or not room.key or not candidate:
        return False
    return hmac.compare_digest(candidate.strip().encode(), room.key.encode())


def instructor_pass(room: Room) -> str:
    """What an unlocked browser keeps in a cookie so a reload stays unlocked: an HMAC of a fixed text under the key
    (the key itself never leaves the server; a new key, as each `start.sh --room` makes, voids old passes)."""
    if not room.enabled or not room.key:
        raise DistillLabError("only room mode has instructor passes", ROOM_ENV)
    return hmac.new(room.key.encode(), b"distill-lab instructor pass", hashlib.sha256).hexdigest()


def is_instructor_pass(candidate: str | None, room: Room) -> bool:
    """Whether `candidate` is this room's instructor pass, compared in constant time."""
    if not room.enabled or not room.key or not isinstance(candidate, str) or not candidate:
        return False
    return hmac.compare_digest(candidate.encode(), instructor_pass(room).encode())


def person(room: Room, token: str | None, entered_key: str | None) -> Person:
    """Who this browser is: everyone is the instructor outside room mode."""
    if not room.enabled:
        return Person(None, True)
    return Person(owner_of(token), is_instructor_key(entered_key, room))


def may_manage(who: Person, run_owner: str | None) -> bool:
    """Whether `who` may cancel, delete or re-run a run of `run_owner` (None: the instructor's or from before room
    mode, so only the instructor)."""
    if who.instructor:
        return True
    return bool(who.owner and run_owner and hmac.compare_digest(who.owner, run_owner))


def new_run_owner(who: Person) -> str | None:
    """The owner a new run of `who` gets: the visitor's id; None for the instructor's (and outside room mode)."""
    return None if who.instructor else who.owner


def started_by(who: Person, run_owner: str | None) -> str:
    """Who started a run, as `who` should read it in room mode: "you", "instructor" or "another visitor"."""
    if run_owner is None:
        return "you" if who.instructor else "instructor"
    if who.owner and hmac.compare_digest(who.owner, run_owner):
        return "you"
    return "a visitor" if who.instructor else "another visitor"


def require_manage(who: Person, run_ref: str, action: str) -> str:
    """The run id if `who` may `action` it; else DistillLabError naming the action."""
    record = store.get_run(run_ref)
    if not may_manage(who, record.owner):
        raise DistillLabError(f"only the person who started {record.name!r} or the instructor may {action} it",
                              "run")
    return record.id


def _get(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _looks_local(ref: str) -> bool:
    return ref.startswith((".", "/", "~")) or "\\" in ref or Path(ref).expanduser().exists()


def _inside_data_folder(ref: str) -> bool:
    try:
        Path(ref).expanduser().resolve().relative_to(data_home().resolve())
        return True
    except (ValueError, OSError):
        return False


@functools.cache  # the registered tasks and their presets do not change while the app runs
def _known_offline_refs() -> tuple[frozenset[str], frozenset[str]]:
    """(model refs, data names) that load without the network: the model preset keys and the tasks' presets'
    teachers; each task's `offline_data` and its presets' data names."""
    from distill_core.models.loading import preset_model_keys
    from distill_core.tasks.registry import all_tasks

    models, data = set(preset_model_keys()), set()
    for task in all_tasks():
        data |= set(task.offline_data)
        for _, preset in task.presets().values():
            models.add(preset.teacher.model)
            data |= {preset.data.source, preset.data.transfer}
    return frozenset(m for m in models if m), frozenset(d for d in data if d)


def check_visitor_run(config: RunConfig, room: Room, who: Person) -> None:
    """Refuse, with the field and what is allowed, a visitor's run that could harm the host or hog the queue."""
    if not room.enabled or who.instructor:
        return
    if who.owner is None:
        raise DistillLabError("this browser has no visitor token yet; reload the page", "room")
    check_visitor_config(config.to_dict(), room, who)
    active = [r for r in store.list_runs() if r.status in store.ACTIVE and r.owner == who.owner]
    if len(active) >= room.runs_per_person:
        raise DistillLabError(f"you already have {len(active)} run(s) queued or running; the room allows "
                              f"{room.runs_per_person} per person at once (wait, or cancel yours on Runs)", "room")


def check_visitor_config(cfg: dict, room: Room, who: Person) -> None:
    """Refuse what a visitor's config (a RunConfig dict, maybe a draft) would load that could harm the host: the
    model's own code, local paths outside the data folder, the hub (unless allowed), oversized data files. New run
    calls it before it reads any model config, so a refused reference is never fetched."""
    if not room.enabled or who.instructor:
        return
    for dotted in ("teacher.trust_remote_code", "student.trust_remote_code"):
        if _get(cfg, dotted):
            raise DistillLabError("visitors in room mode cannot run a model's own Python code; ask the instructor",
                                  dotted)
    models, data = _known_offline_refs()
    for dotted in MODEL_FIELDS + DATA_FIELDS:
        ref = _get(cfg, dotted)
        if not isinstance(ref, str) or not ref:
            continue
        if _looks_local(ref):
            if not _inside_data_folder(ref):
                raise DistillLabError(f"{ref!r} is a local path outside the data folder; visitors in room mode may "
                                      "use the presets, the built-in data and their own uploads only", dotted)
            if dotted.startswith("data.") and Path(ref).is_file() and Path(ref).stat().st_size > \
                    room.upload_limit_bytes:
                raise DistillLabError(f"{Path(ref).name} is larger than the room's upload limit of "
                                      f"{room.upload_limit_bytes / 2**20:.0f} MiB", dotted)
            continue
        known = models if dotted in MODEL_FIELDS else data
        if ref not in known and not room.allow_hub:
            raise DistillLabError(f"{ref!r} would come from the Hugging Face hub, which the instructor has not "
                                  f"allowed; visitors may use: {', '.join(sorted(known))}", dotted)


def check_visitor_upload(size_bytes: int, room: Room, who: Person) -> None:
    """Refuse a visitor's upload above the room's limit (before it is saved)."""
    if room.enabled and not who.instructor and size_bytes > room.upload_limit_bytes:
        raise DistillLabError(f"the file is {size_bytes / 2**20:.1f} MiB; visitors in room mode may upload up to "
                              f"{room.upload_limit_bytes / 2**20:.0f} MiB", "data.source")


def worker_env(room: Room, who: Person) -> dict[str, str]:
    """Extra environment for a visitor's worker: the hub offline unless the instructor allowed it."""
    if not room.enabled or who.instructor or room.allow_hub:
        return {}
    return {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
