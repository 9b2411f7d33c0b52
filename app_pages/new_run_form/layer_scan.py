"""The compose form's layer-importance scan: for a student that keeps teacher layers, measure how much each teacher
block changes its input on the run's own data (in a background process, runs/scans.py), draw it, and offer the
suggested layers. Edits the draft in place when the user takes the suggestion."""

from __future__ import annotations

import streamlit as st

from distill_core.core.config import from_dict
from distill_core.core.errors import DistillLabError
from distill_core.runs import scans
from distill_core.models.students import kept_layers
from distill_core.views.layer_scan import for_student, scan_figure, summary
from app_pages.room_access import config_refusal

HELP = ("Block influence (ShortGPT): 1 minus the mean cosine between what enters a teacher layer and what leaves it, "
        "over 64 of your training texts. A layer that barely turns its input is the cheapest to drop; the scan "
        "suggests keeping the layers that change it most. It is a hint, not a guarantee: compare both in runs.")


def _take(layers: list[int]) -> None:
    """Button callback: the suggested layers into the layer picker (before it is drawn again)."""
    st.session_state["w:layers"] = list(layers)


@st.fragment(run_every=2)
def _wait(key: str) -> None:
    if scans.state(key).status != "running":
        st.rerun(scope="app")
    st.caption("Scanning the teacher's layers on your data...")


def section(draft: dict) -> None:
    student = draft["student"]
    from_layers = student["kind"] == "keep-layers" or (student["kind"] == "shrink" and student["init_from"] != "random")
    if not from_layers or not draft["teacher"]["model"]:
        return
    with st.expander("Which teacher layers matter? Scan them on your data", icon=":material/insights:"):
        st.caption(HELP)
        try:
            config = from_dict(draft)
        except DistillLabError as exc:
            st.caption(f"Fix the form first: {exc}")
            return
        refused = config_refusal(draft)  # room mode: a visitor's scan loads only what their run could
        if refused is not None:
            st.caption(f"Fix the form first: {refused}")
            return
        key = scans.scan_key(config)
        current = scans.state(key)
        if current.status == "running":
            _wait(key)
            return
        if current.status == "done":
            try:
                scan = for_student(current.scan, kept_layers(config.student, len(current.scan["influence"])))
            except DistillLabError as exc:  # layers this teacher does not have: the picker above says so
                st.caption(f"Fix the form first: {exc}")
                return
            st.plotly_chart(scan_figure(scan), width="stretch", key=f"scan-{key}")
            notes = "; ".join(scan.get("notes") or [])
            st.caption(summary(scan)[0].upper() + summary(scan)[1:] + "." + (f" Scanned: {notes}." if notes else ""))
            st.button("Keep the suggested layers", key="take_scan", on_click=_take, args=(scan["suggested"],),
                      disabled=scan["suggested"] == scan["configured"])
            return
        if current.status == "failed":
            st.error(f"The scan failed: {current.error}")
        if st.button("Scan the teacher's layers", key="start_scan", icon=":material/play_arrow:"):
            scans.start(config)
            st.rerun()
