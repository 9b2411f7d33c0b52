"""Room mode in the browser: this browser's token (a random secret the server hands it, kept in a cookie so a reload
keeps its runs), the instructor key box in the sidebar, and who this browser is. The rules are in runs/room.py."""

from __future__ import annotations

import streamlit as st

from distill_core.core.config import RunConfig
from distill_core.core.errors import DistillLabError
from distill_core.runs import room

COOKIE = "distill_lab_visitor"
INSTRUCTOR_COOKIE = "distill_lab_instructor"  # room.instructor_pass once the key was entered in this browser
TOKEN = "room_token"  # session_state: this browser's token
INSTRUCTOR = "room_instructor"  # session_state: True unlocked, False not (or left), absent: ask the cookie
COOKIE_DAYS = 30
ONLY_INSTRUCTOR = "Only the instructor can tick this in room mode."


def _cookie(name: str) -> str | None:
    """A cookie as the browser sent it when this session opened (None without a browser, as in AppTest)."""
    try:
        value = st.context.cookies.get(name)
    except Exception:  # no browser behind the session (AppTest)
        return None
    return value if isinstance(value, str) else None


def _cookie_token() -> str | None:
    value = _cookie(COOKIE)
    return value if value and room.owner_of(value) else None


def _unlocked(settings: room.Room) -> bool:
    """Whether this session holds the instructor key: entered here, or by this browser before (its pass cookie)."""
    if st.session_state.get(INSTRUCTOR) is None:
        st.session_state[INSTRUCTOR] = room.is_instructor_pass(_cookie(INSTRUCTOR_COOKIE), settings)
    return bool(st.session_state[INSTRUCTOR])


def browser_token() -> str:
    """This browser's token: the one it already holds (session, then cookie), else a new one."""
    token = st.session_state.get(TOKEN) or _cookie_token() or room.new_visitor_token()
    st.session_state[TOKEN] = token
    return token


def current_person() -> room.Person:
    """Who this browser is (everyone is the instructor outside room mode)."""
    settings = room.room_settings()
    if not settings.enabled:
        return room.Person(None, True)
    return room.Person(room.owner_of(browser_token()), _unlocked(settings))


def check_run(config: RunConfig, who: room.Person) -> None:
    """Raise DistillLabError when `who` may not start `config` in this room."""
    room.check_visitor_run(config, room.room_settings(), who)


def config_refusal(draft: dict) -> DistillLabError | None:
    """Why this browser may not use what the draft config names (None when it may), before anything is loaded."""
    try:
        room.check_visitor_config(draft, room.room_settings(), current_person())
    except DistillLabError as exc:
        return exc
    return None


def check_upload(size_bytes: int) -> None:
    """Raise DistillLabError when this browser may not upload a file of `size_bytes` (room mode's visitor limit)."""
    room.check_visitor_upload(size_bytes, room.room_settings(), current_person())


def is_visitor() -> bool:
    return not current_person().instructor


def worker_env(who: room.Person) -> dict[str, str]:
    return room.worker_env(room.room_settings(), who)


def _hand_cookie(name: str, value: str, days: int = COOKIE_DAYS) -> None:
    """Set a cookie in the browser (same site only; days=0 removes it), so a reload keeps who it is. Values are
    URL-safe or hex: nothing to escape."""
    st.html(f"<script>document.cookie = '{name}={value}; path=/; max-age={days * 86400}; "
            "SameSite=Strict';</script>", unsafe_allow_javascript=True)


def _sync_cookies(settings: room.Room, token: str) -> None:
    """The browser's cookies follow the session: its token, and the instructor pass while unlocked."""
    if _cookie_token() != token:
        _hand_cookie(COOKIE, token)
    has_pass = room.is_instructor_pass(_cookie(INSTRUCTOR_COOKIE), settings)
    if _unlocked(settings) and not has_pass:
        _hand_cookie(INSTRUCTOR_COOKIE, room.instructor_pass(settings))
    elif not _unlocked(settings) and _cookie(INSTRUCTOR_COOKIE) is not None:
        _hand_cookie(INSTRUCTOR_COOKIE, "", days=0)


def room_sidebar() -> None:
    """In room mode: who you are, and the instructor key box (or leaving instructor mode)."""
    settings = room.room_settings()
    if not settings.enabled:
        return
    _sync_cookies(settings, browser_token())
    with st.sidebar:
        if _unlocked(settings):
            st.caption(":material/key: Room mode · **instructor**: you may manage every run.")
            if st.button("Leave instructor mode", key="room_leave"):
                st.session_state[INSTRUCTOR] = False
                st.rerun()
            return
        st.caption(f":material/groups: Room mode · **visitor**: start up to {settings.runs_per_person} run(s) at a "
                   "time; you can cancel, delete and re-run your own.")
        with st.form("room_key_form", clear_on_submit=True, border=False):
            key = st.text_input("Instructor key", type="password", key="room_key")
            if st.form_submit_button("Unlock", icon=":material/lock_open:"):
                if room.is_instructor_key(key, settings):
                    st.session_state[INSTRUCTOR] = True
                    st.rerun()
                st.error("That is not the instructor key.")
