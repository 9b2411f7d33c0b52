"""What several pages draw: the sidebar's active run, status badges, number formats, and starting a run.
UI only: every number comes from distill_core."""

from __future__ import annotations

import streamlit as st

from distill_core.core.config import RunConfig
from distill_core.core.errors import DistillLabError
from distill_core.runs import jobs, room, store
from distill_core.views.run_ids import short_id
from app_pages.room_access import check_run, current_person, worker_env

ACTIVE = ("queued", "running")
# Material icons render everywhere markdown does (emoji need a colour-emoji font the machine may lack).
STATUS_ICONS = {"queued": ":material/schedule:", "running": ":material/autorenew:", "done": ":material/check_circle:",
                "failed": ":material/error:", "cancelled": ":material/cancel:", "interrupted": ":material/warning:"}
POLL_SECONDS = 2.0


def status_label(status: str) -> str:
    """Status with its icon, for markdown (tables and metrics show the plain word)."""
    return f"{STATUS_ICONS.get(status, '')} {status}"


def run_label(record: store.RunRecord) -> str:
    """How a run is named in pickers: its name, status and short id (ids are unique, names are not)."""
    return f"{record.name} · {record.status} · {short_id(record.id)}"


def pick_run(label: str, runs: list[store.RunRecord], key: str) -> store.RunRecord:
    """A run picker over `runs` that starts on the active run (session state) when it is among them."""
    by_id = {r.id: r for r in runs}
    current = selected_run_id()
    chosen = st.selectbox(label, list(by_id), index=list(by_id).index(current) if current in by_id else 0,
                          format_func=lambda i: run_label(by_id[i]), key=key)
    return by_id[chosen]


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "–"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def fmt_count(n: float | None) -> str:
    if n is None:
        return "–"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def selected_run_id() -> str | None:
    return st.session_state.get("run_id")


def select_run(run_id: str) -> None:
    st.session_state["run_id"] = run_id


def widget_default(key: str, value) -> None:
    """Seed the widget keyed "w:<key>" with `value` unless it already holds one (New run's form and task forms)."""
    if f"w:{key}" not in st.session_state:
        st.session_state[f"w:{key}"] = value


def start_run(config: RunConfig, name: str | None = None) -> str | None:
    """Queue `config` in a background worker; remember it as the active run. Shows the error and returns None when
    the config is refused."""
    who = current_person()
    try:
        check_run(config, who)
        run_id = jobs.submit(config, name=name, owner=room.new_run_owner(who), extra_env=worker_env(who))
    except DistillLabError as exc:
        st.error(f"**{exc.field or 'run'}**: {exc.message}")
        return None
    select_run(run_id)
    return run_id


def _active_record() -> store.RunRecord | None:
    """The run the sidebar follows: a queued or running one first, else the one last selected."""
    runs = store.list_runs(limit=50)
    live = [r for r in runs if r.status in ACTIVE]
    if live:  # the one training now, else the next in the queue (runs are newest first)
        return next((r for r in live if r.status == "running"), live[-1])
    chosen = selected_run_id()
    return next((r for r in runs if r.id == chosen), runs[0] if runs else None)


def _draw_active_run() -> None:
    record = _active_record()
    if record is None:
        st.caption("No runs yet. Start one from **Home** or **New run**.")
        return
    st.markdown(f"**{record.name}**  \n{status_label(record.status)} · `{short_id(record.id)}`")
    st.progress(min(1.0, max(0.0, record.progress)), text=f"{record.progress:.0%} · {record.phase or ''}")
    if record.status in ACTIVE and record.message:
        st.caption(record.message.splitlines()[0][:120])
    if record.error:
        st.caption(f"error: {record.error.splitlines()[0][:160]}")


def sidebar_active_run() -> None:
    """The sidebar block every page shows: the active run's name, status and progress (polled while it runs)."""
    jobs.reap_finished()
    with st.sidebar:
        st.subheader("Active run")
        any_active = bool(store.list_runs(status="running", limit=1) or store.list_runs(status="queued", limit=1))
        if any_active:
            st.fragment(_draw_active_run, run_every=POLL_SECONDS)()
        else:
            _draw_active_run()
