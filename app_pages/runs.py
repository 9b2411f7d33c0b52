"""Runs: every run with status and progress; the selected run's live curves, results, and actions."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from distill_core.core import run_files
from distill_core.core.errors import DistillLabError
from distill_core.runs import curves, jobs, room, store
from distill_core.views import charts, compare, display, tables, units, verdict
from distill_core.views.run_ids import short_id
from app_pages.bundle_panels import download_panel, import_panel
from app_pages.room_access import current_person
from app_pages.shared import ACTIVE, POLL_SECONDS, fmt_bytes, fmt_count, pick_run, select_run

st.title("Runs")
runs = store.list_runs()
if not runs:
    st.info("No runs yet. Start the workshop preset on **Home**, or compose one on **New run**.")
    st.page_link("app_pages/new_run.py", label="New run", icon=":material/add_circle:")
    import_panel()
    st.stop()


def _runs_table(records: list[store.RunRecord]) -> pd.DataFrame:
    columns, cells = tables.summary_columns(records)  # the student's metric, the gain and its verdict
    who, in_room = current_person(), room.room_settings().enabled
    rows = []
    for r, c in zip(records, cells):
        summary = r.summary or {}
        metric = tables.summary_metric(summary) or ""
        rows.append({"name": r.name, "status": r.status, "progress": r.progress, "phase": r.phase or "",
                     **{k: units.metric_text(c.get(k), metric) for k in columns if k not in ("gain", "verdict")},
                     "gain": verdict.gain_cell(c.get("gain"), metric, summary.get("gain_interval")),
                     "verdict": c.get("verdict") or "", "id": short_id(r.id),
                     "created": pd.Timestamp(r.created, unit="s").strftime("%Y-%m-%d %H:%M"),
                     **({"started by": room.started_by(who, r.owner)} if in_room else {})})
    return pd.DataFrame(rows)


@st.fragment(run_every=POLL_SECONDS if any(r.status in ACTIVE for r in runs) else None)
def runs_table() -> None:
    records = store.list_runs()
    st.dataframe(_runs_table(records), hide_index=True, width="stretch", column_config={
        "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent")})


runs_table()

picked = pick_run("Run", runs, key="runs_pick")
chosen = picked.id
select_run(chosen)


@st.fragment(run_every=POLL_SECONDS if picked.status in ACTIVE else None)
def run_detail(run_id: str, polled_status: str) -> None:
    try:
        record = store.get_run(run_id)
    except DistillLabError:
        st.warning("This run was deleted.")
        return
    if polled_status in ACTIVE and record.status not in ACTIVE:
        st.rerun(scope="app")  # it just ended: redraw the whole page (labels, buttons, results)
    a, b, c = st.columns([2, 2, 3])
    a.metric("Status", record.status)
    b.metric("Progress", f"{record.progress:.0%}")
    c.progress(min(1.0, record.progress), text=f"{record.phase or ''} {record.fraction:.0%}")
    if record.message and record.status in ACTIVE:
        st.caption(record.message)
    if record.error:
        st.error(record.error)
    pre = run_files.read_json_or_none(record.folder, "preflight.json")
    results = run_files.read_json_or_none(record.folder, "results.json") or {}
    for warning in results.get("warnings", (pre or {}).get("warnings")) or []:
        st.warning(warning[0].upper() + warning[1:] + ".", icon=":material/warning:")
    history = curves.run_curves(run_id)
    st.plotly_chart(charts.training_curves(history), width="stretch", key=f"curves-{run_id}")
    if record.status in ACTIVE:
        return
    table = compare.results_table([run_id])
    if table.rows:
        st.subheader("Results on the held-out split")
        st.dataframe(display.retention_table(table.rows), hide_index=True, width="stretch")
        line = verdict.headline(results)
        if line:
            st.markdown(f"**Verdict:** {line}")
        st.page_link("app_pages/compare.py", label="Compare it with other runs", icon=":material/compare_arrows:")
    if pre:
        unit = getattr(compare.record_task(record), "unit_name", "input")  # what one input is, for this task
        with st.expander("Pre-flight: what the student costs"):
            st.caption(pre.get("student_description", ""))
            st.table({"": ["parameters", "weights", f"FLOPs per {unit}"],
                      **{role: [fmt_count(pre[role]["parameters"]), fmt_bytes(pre[role]["weight_bytes"]),
                                fmt_count(pre[role]["flops_per_input"])] for role in ("teacher", "student")}})


run_detail(chosen, picked.status)

record = store.get_run(chosen)
with st.expander("Config"):
    st.code(json.dumps(record.config, indent=2), language="json")
who = current_person()


def run_actions(record: store.RunRecord) -> None:
    """Cancel, re-run with edits and delete, for the person who may manage this run."""
    left, middle, right = st.columns(3)
    if left.button("Cancel", disabled=record.status not in ACTIVE, icon=":material/stop:"):
        try:
            status = jobs.cancel(room.require_manage(who, record.id, "cancel"))
            st.toast(f"cancel requested: {status}")
            st.rerun()
        except DistillLabError as exc:
            st.error(f"**{exc.field or 'run'}**: {exc.message}")
    if middle.button("Re-run with edits", icon=":material/edit:", on_click=_rerun_with_edits, args=(record.config,)):
        st.switch_page("app_pages/new_run.py")
    active = record.status in ACTIVE
    confirm = right.checkbox("Really delete (stops it and removes its files)" if active else
                             "Really delete (removes its files)", key=f"confirm-{record.id}")
    if right.button("Stop and delete" if active else "Delete", disabled=not confirm, icon=":material/delete:"):
        try:
            jobs.delete(room.require_manage(who, record.id, "delete"))
            st.session_state.pop("run_id", None)
            st.rerun()
        except DistillLabError as exc:
            st.error(f"**{exc.field or 'run'}**: {exc.message}")


def _rerun_with_edits(config: dict) -> None:
    st.session_state["pending_draft"] = config | {"name": f"{config.get('name', 'run')}-edit"}


if room.may_manage(who, record.owner):
    run_actions(record)
else:  # room mode: another person's run (or the instructor's)
    st.caption(":material/lock: Started by someone else: only they or the instructor can cancel, delete or re-run "
               "it. You can compare it, try it in the Playground and download it.")

download_panel(runs)
import_panel()
