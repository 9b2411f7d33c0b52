"""Room mode in real browsers: the app served as `scripts/start.sh --room` serves it, one browser without the key (a
visitor) and one with it (the instructor), each with its own cookies. What each may do is asserted on the page and
in the store."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import new_page
from tests.e2e.test_browser import serve, wait_idle

KEY = "room-test-key-0123456789abcdef"
ACTIONS = ("Cancel", "Re-run with edits", "Delete", "Stop and delete")


@pytest.fixture
def room_app(home_with_run):
    """The app in room mode over a copy of the shared finished tiny run, which the instructor started (no owner)."""
    env = {"DISTILL_LAB_ROOM": "1", "DISTILL_LAB_INSTRUCTOR_KEY": KEY}
    yield from serve(Path(os.environ["DISTILL_LAB_HOME"]), env)


def visible_actions(page) -> set[str]:
    """The run actions drawn on the page. A button's accessible name starts with its icon's ligature ("stop",
    "edit", "delete"), so match the label at the end."""
    return {name for name in ACTIONS if page.get_by_role("button", name=re.compile(rf"{re.escape(name)}$")).count()}


def open_page(page, url: str, heading: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name=heading, exact=True).first.wait_for()
    wait_idle(page)


def cookie(page, name: str) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == name), None)


def wait_for_status(run_id: str, wanted: set[str], timeout_s: float = 120) -> str:
    from distill_core.runs import store

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = store.get_run(run_id).status
        if status in wanted:
            return status
        time.sleep(1)
    pytest.fail(f"run {run_id} stayed {store.get_run(run_id).status}, wanted {wanted}")


@pytest.mark.browser
def test_a_visitor_and_the_instructor_in_one_room(room_app, chromium_browser, home_with_run):
    from distill_core.runs import room, store

    # A visitor: sees the instructor's run, cannot touch it.
    visitor = new_page(chromium_browser)
    open_page(visitor, f"{room_app}/runs", "Runs")
    assert "Room mode · visitor" in visitor.inner_text("[data-testid='stSidebar']")
    visitor.get_by_text("Started by someone else").wait_for()
    assert visible_actions(visitor) == set()
    visitor.get_by_text("Import a lab bundle", exact=True).last.click()
    visitor.get_by_text("only the instructor can import lab bundles").wait_for()

    # ... nor guess the key.
    visitor.get_by_label("Instructor key").fill("not-the-key-at-all")
    visitor.get_by_role("button", name="Unlock").click()
    visitor.get_by_text("That is not the instructor key.").wait_for()
    assert visible_actions(visitor) == set()

    # ... nor run a model's own code, nor fetch one from the hub.
    open_page(visitor, f"{room_app}/new_run", "New run")
    visitor.get_by_role("radio", name="Compose", exact=True).click()
    wait_idle(visitor)
    assert visitor.get_by_role("checkbox", name="Trust remote code (runs the model's own Python code)").is_disabled()
    visitor.get_by_text("hub id", exact=True).click()
    wait_idle(visitor)
    model = visitor.get_by_label("Model", exact=True)
    model.fill("someone/remote-model")
    model.press("Enter")
    wait_idle(visitor)
    refusal = visitor.locator("[data-testid='stAlert']").filter(has_text="would come from the Hugging Face hub")
    refusal.wait_for()
    assert refusal.inner_text().count("teacher.model") == 1  # the field, named once
    assert visitor.get_by_role("button", name="Start run").is_disabled()

    # The visitor's own run: theirs to cancel, also after a reload (the browser keeps its secret in a cookie).
    open_page(visitor, room_app, "Distill Lab")
    visitor.get_by_role("button", name="Start the workshop preset").click()
    visitor.wait_for_url("**/runs")  # Home switches to Runs once the run is queued
    visitor.get_by_role("heading", name="Runs", exact=True).wait_for()
    wait_idle(visitor)
    mine = next(r for r in store.list_runs() if r.id != home_with_run)
    token = cookie(visitor, "distill_lab_visitor")
    assert token and mine.owner == room.owner_of(token) and token not in mine.owner  # the store keeps a hash
    visitor.reload()
    visitor.get_by_role("heading", name="Runs", exact=True).wait_for()
    visitor.get_by_role("button", name=re.compile("Cancel$")).wait_for()
    visitor.get_by_role("button", name=re.compile("Re-run with edits$")).wait_for()  # drawn just after Cancel
    wait_idle(visitor)
    assert {"Cancel", "Re-run with edits"} <= visible_actions(visitor)

    # One run at a time per person: a second press is refused while the first is active.
    open_page(visitor, room_app, "Distill Lab")
    visitor.get_by_role("button", name="Start the workshop preset").click()
    visitor.get_by_text("per person").first.wait_for()
    assert len(store.list_runs()) == 2

    open_page(visitor, f"{room_app}/runs", "Runs")
    visitor.get_by_role("button", name=re.compile("Cancel$")).click()
    assert wait_for_status(mine.id, {"cancelled"}) == "cancelled"

    # The instructor: the key in the sidebar unlocks everything, in this browser only, and survives a reload.
    instructor = new_page(chromium_browser)
    open_page(instructor, room_app, "Distill Lab")
    instructor.get_by_label("Instructor key").fill(KEY)
    instructor.get_by_role("button", name="Unlock").click()
    instructor.get_by_text("Room mode · instructor").wait_for()
    open_page(instructor, f"{room_app}/runs", "Runs")  # a new session: the pass cookie keeps it unlocked
    assert "Room mode · instructor" in instructor.inner_text("[data-testid='stSidebar']")
    assert {"Cancel", "Re-run with edits", "Delete"} <= visible_actions(instructor)  # the visitor's run
    instructor.get_by_text("Import a lab bundle", exact=True).last.click()
    instructor.locator("[data-testid='stFileUploader']").wait_for()  # the bundle uploader: imports are the instructor's
    pass_cookie = cookie(instructor, "distill_lab_instructor")
    assert pass_cookie and KEY not in pass_cookie
    assert cookie(visitor, "distill_lab_instructor") is None

    instructor.get_by_text("Really delete (removes its files)").click()
    wait_idle(instructor)
    instructor.get_by_role("button", name=re.compile("Delete$")).click()
    wait_idle(instructor)
    assert [r.id for r in store.list_runs()] == [home_with_run]

    # The visitor is still a visitor; the key was never written anywhere under the data folder (logs included).
    open_page(visitor, f"{room_app}/runs", "Runs")
    visitor.get_by_text("Started by someone else").wait_for()
    assert visible_actions(visitor) == set()
    home = Path(os.environ["DISTILL_LAB_HOME"])
    leaked = [p for p in home.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert leaked == []
