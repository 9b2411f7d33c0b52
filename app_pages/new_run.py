"""New run: start a preset, or compose teacher, student, data, loss, budget, seeds, the control's budget and where it
trains (device, processes, precision), with a live pre-flight panel.

The sections every task shares are in new_run_form/; a task's own fields come from its form in task_forms/, found
by the task's name (task_forms.form_for), so a newly registered task gets a working page without edits here."""

from __future__ import annotations

import copy

import streamlit as st

from distill_core.tasks import get_task, presets, task_names
from distill_core.views.run_ids import short_id
from app_pages.new_run_form import hardware, layer_scan, panel, seeds, sections
from app_pages.new_run_form import student as student_section
from app_pages.shared import start_run, widget_default
from app_pages.task_forms import form_for

DRAFT = "draft"  # the composed config (a RunConfig dict) kept across pages and reruns
PENDING = "pending_draft"  # a config another page asks us to load (Runs: "re-run with edits")
FIRST_PRESET = "reviews-sentiment"  # the draft a first visit starts from


def _load_draft(cfg: dict) -> None:
    """Make `cfg` the draft and reset the compose widgets to its values."""
    st.session_state[DRAFT] = copy.deepcopy(cfg)
    for key in [k for k in st.session_state if str(k).startswith("w:")]:
        del st.session_state[key]


def _customise(preset_name: str) -> None:
    """Button callback: load the preset into the compose form (runs before the widgets are drawn)."""
    _load_draft(presets.get_preset(preset_name).to_dict())
    st.session_state["mode"] = "Compose"


def _switch_task() -> None:
    """Task changed: start from the first preset of that task (teacher, data and budget differ a lot)."""
    task = st.session_state.get("w:task")
    if not task:
        return
    base = next((presets.get_preset(n) for n in presets.preset_names() if presets.get_preset(n).task == task), None)
    if base is not None:
        name = st.session_state.get("w:name", "my-run")
        _load_draft(base.to_dict() | {"name": name})


def _task_title(name: str) -> str:
    return get_task(name).title or name


if PENDING in st.session_state:
    _load_draft(st.session_state.pop(PENDING))
    st.session_state["mode"] = "Compose"
if DRAFT not in st.session_state:
    _load_draft(presets.get_preset(FIRST_PRESET).to_dict() | {"name": "my-run"})
draft: dict = copy.deepcopy(st.session_state[DRAFT])

st.title("New run")
mode = st.segmented_control("Start from", ["Preset", "Compose"], default="Preset", key="mode")

if mode == "Preset":
    names = presets.preset_names()
    name = st.selectbox("Preset", list(names), format_func=lambda n: n, key="preset_name")
    st.markdown(names[name])
    chosen = presets.get_preset(name)
    with st.expander("Its full config"):
        st.code(chosen.to_json(), language="json")
    left, right = st.columns(2)
    if left.button("Start this preset", type="primary", icon=":material/play_arrow:"):
        run_id = start_run(chosen)
        if run_id:
            st.success(f"Run `{short_id(run_id)}` queued: it trains in the background.")
            st.page_link("app_pages/runs.py", label="Follow it on Runs", icon=":material/monitoring:")
    right.button("Customise it", icon=":material/edit:", on_click=_customise, args=(name,))
    st.stop()

left, right = st.columns([3, 2], gap="large")
with left:
    widget_default("name", draft.get("name", "my-run"))
    draft["name"] = st.text_input("Run name", key="w:name", help="A label for you; runs are keyed by their id.")
    tasks = task_names()
    widget_default("task", draft.get("task", tasks[0]))
    draft["task"] = st.segmented_control("Task", tasks, format_func=_task_title, key="w:task",
                                         on_change=_switch_task) or draft.get("task", tasks[0])
    form = form_for(draft["task"])
    sections.teacher(draft, form)
    student_section.student(draft)
    layer_scan.section(draft)
    sections.data(draft, form)
    sections.loss(draft, form)
    sections.budget(draft, form)
    seeds.section(draft)
    hardware.section(draft)

st.session_state[DRAFT] = draft

with right:
    panel.draw(draft)
