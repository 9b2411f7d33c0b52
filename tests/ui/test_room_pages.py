"""Room mode through the pages (AppTest): a visitor cannot touch what is not theirs nor run what could harm the
host; the instructor key gives everything; without room mode nothing changes."""

from __future__ import annotations

import pytest

from distill_core.core.config import RunConfig
from distill_core.runs import room, store
from app_pages import room_access
from tests.ui.test_pages import compose, compose_with_local_teacher, open_page, start_button, texts

KEY = "instructor-key-" + "x" * 16


@pytest.fixture
def in_room(monkeypatch):
    monkeypatch.setenv(room.ROOM_ENV, "1")
    monkeypatch.setenv(room.KEY_ENV, KEY)


def _actions(at) -> set[str]:
    return {b.label for b in at.button} & {"Cancel", "Re-run with edits", "Delete", "Stop and delete"}


def test_a_visitor_cannot_cancel_delete_or_rerun_the_instructors_run(in_room, home_with_run):
    before = store.get_run(home_with_run)
    at = open_page("app_pages/runs.py", {"run_id": home_with_run})
    assert _actions(at) == set()
    assert "only they or the instructor can cancel, delete or re-run it" in texts(at)
    assert not [c for c in at.checkbox if c.key and c.key.startswith("confirm-")]
    after = store.get_run(home_with_run)
    assert after.status == before.status == "done" and after.folder.exists()
    home = open_page("app_pages/home.py")  # AppTest draws app.py's sidebar on the page it starts on
    assert any("Room mode" in c.value and "visitor" in c.value for c in home.sidebar.caption)


def test_a_visitor_manages_their_own_run(in_room):
    token = room.new_visitor_token()
    mine = store.create_run(RunConfig().to_dict(), name="mine", owner=room.owner_of(token))
    store.finish(mine.id, "cancelled")
    at = open_page("app_pages/runs.py", {"run_id": mine.id, room_access.TOKEN: token})
    assert _actions(at) == {"Cancel", "Re-run with edits", "Delete"}
    at.checkbox(key=f"confirm-{mine.id}").check().run()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert not at.exception and store.list_runs() == []


def test_in_a_room_the_runs_table_says_who_started_each_run(in_room, home_with_run):
    token = room.new_visitor_token()
    mine = store.create_run(RunConfig().to_dict(), name="mine", owner=room.owner_of(token))
    store.finish(mine.id, "cancelled")
    at = open_page("app_pages/runs.py", {"run_id": mine.id, room_access.TOKEN: token})
    table = at.dataframe[0].value
    assert dict(zip(table["name"], table["started by"])) == {"mine": "you", "tiny-ui": "instructor"}


def test_an_instructor_session_manages_every_run(in_room, home_with_run):
    # Entering the key in the sidebar is driven in a real browser (tests/e2e/test_room.py): AppTest redraws
    # app.py's sidebar only on a session's first run.
    at = open_page("app_pages/runs.py", {"run_id": home_with_run, room_access.INSTRUCTOR: True})
    assert _actions(at) == {"Cancel", "Re-run with edits", "Delete"}


def test_a_visitor_cannot_tick_trust_remote_code_and_a_hub_teacher_is_refused_before_loading(in_room, monkeypatch):
    from distill_core.tasks import preflight

    loaded = []
    for name in ("teacher_config_for", "estimate"):
        real = getattr(preflight, name)

        def recording(config, *args, _real=real, **kwargs):
            loaded.append(config.teacher.model)
            return _real(config, *args, **kwargs)

        monkeypatch.setattr(preflight, name, recording)
    at = compose(open_page("app_pages/new_run.py"))
    trust = at.checkbox(key="w:trust")
    assert trust.disabled and not trust.value
    at.radio(key="w:teacher_origin").set_value("hub id").run()
    at.text_input(key="w:teacher_ref").set_value("someone/remote-model").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("would come from the Hugging Face hub" in e.value for e in at.error)
    start = next(b for b in at.button if b.label == "Start run")
    assert start.disabled
    assert "someone/remote-model" not in loaded  # refused before its config was read


def test_a_visitors_local_folder_outside_the_data_folder_is_refused_naming_the_field(in_room, no_workers,
                                                                                    tiny_teacher_dir):
    at = compose_with_local_teacher(tiny_teacher_dir)  # a real model folder, but in the host's files
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(e.value for e in at.error)
    assert "**teacher.model**" in errors and "outside the data folder" in errors, errors
    assert start_button(at).disabled and store.list_runs() == []


def test_a_visitors_oversized_upload_is_refused_and_not_saved(in_room, monkeypatch, tmp_path):
    import io

    import streamlit

    from distill_core.core.home import data_home

    big = io.BytesIO(b"text,label\n" + b"a long review,1\n" * (11 * 2**20 // 16))  # over the room's 10 MiB
    big.name, big.file_id, big.size = "big.csv", "upload-big", len(big.getvalue())
    monkeypatch.setattr(streamlit, "file_uploader", lambda *args, **kwargs: big)
    at = compose(open_page("app_pages/new_run.py"))
    at.radio(key="w:data_origin").set_value("file").run()
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(e.value for e in at.error)
    assert "**data.source**" in errors and "may upload up to 10 MiB" in errors, errors
    assert not (data_home() / "uploads").exists() or not any((data_home() / "uploads").iterdir())


def test_a_visitor_may_start_one_run_at_a_time(in_room, no_workers):
    token = room.new_visitor_token()
    at = open_page("app_pages/home.py", {room_access.TOKEN: token})
    at.button[0].click().run()
    runs = store.list_runs()
    assert len(runs) == 1 and runs[0].owner == room.owner_of(token)
    at = open_page("app_pages/home.py", {room_access.TOKEN: token})
    at.button[0].click().run()
    assert len(store.list_runs()) == 1
    assert any("1 per person" in e.value for e in at.error)


def test_only_the_instructor_imports_lab_bundles(in_room, home_with_run):
    visitor = open_page("app_pages/runs.py", {"run_id": home_with_run})
    assert "In room mode only the instructor can import lab bundles." in texts(visitor)
    assert not [u for u in visitor.get("file_uploader") if u.proto.label == "Lab bundle"]
    instructor = open_page("app_pages/runs.py", {"run_id": home_with_run, room_access.INSTRUCTOR: True})
    assert [u for u in instructor.get("file_uploader") if u.proto.label == "Lab bundle"]
    assert "In room mode only the instructor can import lab bundles." not in texts(instructor)


def test_without_room_mode_the_pages_are_as_before(monkeypatch, home_with_run):
    monkeypatch.delenv(room.ROOM_ENV, raising=False)
    at = open_page("app_pages/runs.py", {"run_id": home_with_run})
    assert "started by" not in at.dataframe[0].value.columns
    assert _actions(at) == {"Cancel", "Re-run with edits", "Delete"}
    assert not any("Room mode" in c.value for c in open_page("app_pages/home.py").sidebar.caption)
