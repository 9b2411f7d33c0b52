"""Room mode's rules: who is the instructor, whose runs a browser may manage, what a visitor may run, and the fair
queue (runs/room.py, store.claim)."""

import sqlite3

import pytest

from distill_core.core.config import RunConfig
from distill_core.core.config import from_dict as config_from_dict
from distill_core.core.errors import DistillLabError
from distill_core.core.home import data_home
from distill_core.runs import room, store

KEY = "k" * 24


@pytest.fixture
def in_room(monkeypatch):
    monkeypatch.setenv(room.ROOM_ENV, "1")
    monkeypatch.setenv(room.KEY_ENV, KEY)
    return room.room_settings()


def visitor(token: str | None = None) -> room.Person:
    return room.Person(room.owner_of(token or room.new_visitor_token()), False)


def test_outside_room_mode_everyone_is_the_instructor(monkeypatch):
    monkeypatch.delenv(room.ROOM_ENV, raising=False)
    settings = room.room_settings()
    assert not settings.enabled
    assert room.person(settings, None, None) == room.Person(None, True)


def test_room_mode_needs_a_long_key_and_never_shows_it(monkeypatch, in_room):
    assert in_room.enabled and in_room.runs_per_person == 1 and not in_room.allow_hub
    assert KEY not in repr(in_room)
    monkeypatch.setenv(room.KEY_ENV, "short")
    with pytest.raises(DistillLabError, match="at least 16 characters"):
        room.room_settings()
    monkeypatch.setenv(room.KEY_ENV, KEY)
    monkeypatch.setenv(room.RUNS_PER_PERSON_ENV, "lots")
    with pytest.raises(DistillLabError, match="whole number from 1 to 20") as err:
        room.room_settings()
    assert err.value.field == room.RUNS_PER_PERSON_ENV


def test_only_the_exact_key_makes_an_instructor(in_room):
    assert room.is_instructor_key(KEY, in_room) and room.is_instructor_key(f" {KEY}\n", in_room)
    for wrong in ("", None, KEY[:-1], KEY + "x", "K" * 24):
        assert not room.is_instructor_key(wrong, in_room)
    assert room.person(in_room, None, KEY).instructor
    assert not room.person(in_room, room.new_visitor_token(), "guess").instructor


def test_the_instructor_pass_is_not_the_key_and_dies_with_it(in_room, monkeypatch):
    import hashlib
    import hmac

    given = room.instructor_pass(in_room)
    assert KEY not in given
    assert given == hmac.new(KEY.encode(), b"distill-lab instructor pass", hashlib.sha256).hexdigest()
    assert room.is_instructor_pass(given, in_room)
    for wrong in (None, "", given[:-1], given.upper(), KEY, 42):
        assert not room.is_instructor_pass(wrong, in_room)
    monkeypatch.setenv(room.KEY_ENV, "another-key-" + "y" * 16)  # the room restarted with a new key
    assert not room.is_instructor_pass(given, room.room_settings())
    assert not room.is_instructor_pass(given, room.Room())  # outside room mode nobody needs a pass


def test_who_started_a_run_reads_from_the_readers_side():
    mine, theirs = room.new_visitor_token(), room.new_visitor_token()
    me = visitor(mine)
    assert room.started_by(me, room.owner_of(mine)) == "you"
    assert room.started_by(me, room.owner_of(theirs)) == "another visitor"
    assert room.started_by(me, None) == "instructor"
    instructor = room.Person(None, True)
    assert room.started_by(instructor, None) == "you"
    assert room.started_by(instructor, room.owner_of(theirs)) == "a visitor"


def test_the_store_keeps_a_hash_of_the_browser_token_and_refuses_malformed_ones():
    token = room.new_visitor_token()
    assert len(token) >= 43 and room.owner_of(token) == room.owner_of(token)
    assert room.owner_of(token) != token and len(room.owner_of(token)) == 64
    assert room.owner_of(room.new_visitor_token()) != room.owner_of(token)
    for bad in ("", None, "short", "x" * 31, "a b" * 20, "../" * 20):
        assert room.owner_of(bad) is None


def test_a_visitor_manages_only_their_own_runs_the_instructor_all():
    alice, bob = visitor(), visitor()
    assert room.may_manage(alice, alice.owner) and not room.may_manage(alice, bob.owner)
    assert not room.may_manage(alice, None)  # the instructor's (or a CLI) run
    assert not room.may_manage(room.Person(None, False), None)  # no token: nothing
    assert room.may_manage(room.Person(None, True), bob.owner)
    run = store.create_run(RunConfig().to_dict(), name="bobs run", owner=bob.owner)
    assert room.require_manage(bob, run.id, "delete") == run.id
    with pytest.raises(DistillLabError, match="only the person who started 'bobs run' or the instructor may delete"):
        room.require_manage(alice, run.id, "delete")


@pytest.mark.parametrize("field, value, message", [
    ("teacher.trust_remote_code", True, "own Python code"),
    ("teacher.model", "/etc", "outside the data folder"),
    ("teacher.model", "~/models/x", "outside the data folder"),
    ("teacher.model", "someone/remote-model", "Hugging Face hub"),
    ("data.source", "hub:imdb", "Hugging Face hub"),
    ("data.source", "../../secrets.csv", "outside the data folder"),
    ("data.transfer", "/tmp/other.txt", "outside the data folder"),
])
def test_a_visitors_run_that_could_harm_the_host_is_refused_naming_the_field(in_room, field, value, message):
    section, key = field.split(".")
    cfg = RunConfig().to_dict()
    cfg[section][key] = value
    with pytest.raises(DistillLabError, match=message) as err:
        room.check_visitor_run(config_from_dict(cfg), in_room, visitor())
    assert err.value.field == field


def test_presets_and_the_visitors_own_uploads_are_allowed_and_the_instructor_may_do_anything(in_room):
    room.check_visitor_run(RunConfig(), in_room, visitor())  # the packaged teacher and reviews
    upload = data_home() / "uploads" / "abc.csv"
    upload.parent.mkdir(parents=True)
    upload.write_text("text,label\na,b\n")
    cfg = RunConfig().to_dict()
    cfg["data"]["source"] = str(upload)
    room.check_visitor_run(config_from_dict(cfg), in_room, visitor())
    cfg["teacher"] |= {"model": "someone/remote-model", "trust_remote_code": True}
    room.check_visitor_run(config_from_dict(cfg), in_room, room.Person(None, True))
    hub_ok = room.Room(True, KEY, allow_hub=True)
    cfg["teacher"]["trust_remote_code"] = False
    room.check_visitor_run(config_from_dict(cfg), hub_ok, visitor())


@pytest.mark.parametrize("task, field, name", [
    ("classification", "data.transfer", "tweets"), ("classification", "data.transfer", "augment"),
    ("classification", "data.source", "courses"), ("causal-lm", "data.source", "tweets"),
])
def test_every_packaged_data_name_is_allowed_even_when_no_preset_uses_it(in_room, task, field, name):
    cfg = RunConfig(task=task).to_dict()
    section, key = field.split(".")
    cfg[section][key] = name
    room.check_visitor_config(cfg, in_room, visitor())  # not mistaken for a hub dataset


def test_each_tasks_offline_data_names_what_its_data_module_loads():
    from distill_core.tasks import get_task
    from distill_core.tasks.causal_lm.data import BUILTIN_TEXT_SOURCES
    from distill_core.tasks.classification.data import BUILTIN_SOURCES

    assert set(get_task("classification").offline_data) == set(BUILTIN_SOURCES) | {"augment", "tweets"}
    assert set(get_task("causal-lm").offline_data) == set(BUILTIN_TEXT_SOURCES)


def test_child_processes_never_get_the_instructor_key(in_room, monkeypatch):
    from distill_core.runs.children import PACKAGE_ROOT, child_env

    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = child_env(DISTILL_LAB_HOME="/data")
    assert room.KEY_ENV not in env and env["DISTILL_LAB_HOME"] == "/data"
    assert env["PYTHONPATH"].split(":") == [PACKAGE_ROOT, "/elsewhere"]


def test_a_new_run_belongs_to_the_visitor_and_the_instructors_to_nobody():
    token = room.new_visitor_token()
    assert room.new_run_owner(visitor(token)) == room.owner_of(token)
    assert room.new_run_owner(room.Person(room.owner_of(token), True)) is None


def test_an_upload_above_the_rooms_limit_is_refused(in_room):
    who = visitor()
    room.check_visitor_upload(in_room.upload_limit_bytes, in_room, who)
    with pytest.raises(DistillLabError, match="up to 10 MiB") as err:
        room.check_visitor_upload(in_room.upload_limit_bytes + 1, in_room, who)
    assert err.value.field == "data.source"
    room.check_visitor_upload(10**9, in_room, room.Person(None, True))
    big = data_home() / "uploads" / "big.csv"
    big.parent.mkdir(parents=True)
    big.write_bytes(b"x" * (in_room.upload_limit_bytes + 1))
    cfg = RunConfig().to_dict()
    cfg["data"]["source"] = str(big)
    with pytest.raises(DistillLabError, match="larger than the room's upload limit"):
        room.check_visitor_run(config_from_dict(cfg), in_room, who)


def test_a_visitor_may_hold_only_so_many_active_runs(in_room):
    who = visitor()
    room.check_visitor_run(RunConfig(), in_room, who)
    store.create_run(RunConfig().to_dict(), owner=who.owner)
    with pytest.raises(DistillLabError, match="1 per person") as err:
        room.check_visitor_run(RunConfig(), in_room, who)
    assert err.value.field == "room"
    room.check_visitor_run(RunConfig(), in_room, visitor())  # someone else still may


def test_a_visitors_worker_runs_with_the_hub_offline(in_room):
    assert room.worker_env(in_room, visitor())["HF_HUB_OFFLINE"] == "1"
    assert room.worker_env(in_room, room.Person(None, True)) == {}
    assert room.worker_env(room.Room(True, KEY, allow_hub=True), visitor()) == {}


def test_the_queue_serves_the_person_served_longest_ago_first():
    a, b = room.owner_of(room.new_visitor_token()), room.owner_of(room.new_visitor_token())
    a1 = store.create_run(RunConfig().to_dict(), owner=a).id
    assert store.claim(a1, 1, None) == "claimed"
    a2 = store.create_run(RunConfig().to_dict(), owner=a).id
    a3 = store.create_run(RunConfig().to_dict(), owner=a).id
    b1 = store.create_run(RunConfig().to_dict(), owner=b).id
    assert store.claim(a2, 1, None) == "wait"  # the slot is busy
    store.finish(a1, "done")
    assert store.claim(a2, 1, None) == "wait"  # b has not been served yet, though a2 is older
    assert store.claim(b1, 1, None) == "claimed"
    store.finish(b1, "done")
    assert store.claim(a3, 1, None) == "wait" and store.claim(a2, 1, None) == "claimed"  # then first in, first out


def test_without_owners_the_queue_is_first_in_first_out():
    first, second = (store.create_run(RunConfig().to_dict()).id for _ in range(2))
    assert store.claim(second, 1, None) == "wait" and store.claim(first, 1, None) == "claimed"


def test_a_store_from_before_room_mode_gains_the_owner_column(isolated_home):
    path = isolated_home / "store.sqlite3"
    conn = sqlite3.connect(path)
    from distill_core.runs import database

    database.MIGRATIONS[0](conn)
    conn.execute("INSERT INTO runs (id, name, status, created, updated, config) VALUES "
                 "('20260101-000000-abcdef', 'old', 'done', 1, 1, '{}')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    database._ready.clear()
    record = store.get_run("20260101-000000-abcdef")
    assert record.name == "old" and record.owner is None
