"""New run's student section: how the student is built (keep teacher layers, shrink, another model), the teacher
layers it starts from, its widths."""

from __future__ import annotations

import streamlit as st

from distill_core.core import config as run_config
from distill_core.core.errors import DistillLabError
from distill_core.models import loading as models
from distill_core.models import students
from distill_core.models.weight_selection import Widths
from distill_core.tasks import preflight
from app_pages.new_run_form.texts import SHRINK_INIT_HELP, SHRINK_INITS, STUDENT_KINDS
from app_pages.room_access import config_refusal
from app_pages.shared import widget_default
from app_pages.task_forms import form_for


@st.cache_data(show_spinner=False, max_entries=64)
def teacher_shape(ref: str, trust_remote_code: bool, task: str) -> tuple[int, int]:
    """(layers, feed-forward width) of the teacher `ref` (reads its config only)."""
    cfg = preflight.teacher_config_for(run_config.from_dict({"task": task, "teacher": {
        "model": ref, "trust_remote_code": trust_remote_code}}))
    return int(getattr(cfg, models.num_layers_attr(cfg))), Widths.of(cfg).ffn


def _fit_feed_forward(s: dict, ffn: int | None) -> None:
    """Another teacher whose feed-forward is narrower than the width set (a preset's, say): back to the teacher's
    ratio, said in a caption until the field changes. A width typed for this teacher is left for the pre-flight to
    refuse by name."""
    if ffn is not None and st.session_state.get("ffn_teacher") != ffn:
        st.session_state["ffn_teacher"] = ffn
        current = st.session_state.get("w:intermediate_size", s["intermediate_size"] or 0)
        if current and current > ffn:
            st.session_state["w:intermediate_size"] = 0
            s["intermediate_size"] = None
            st.session_state["ffn_note"] = (ffn, f"Feed-forward width {current} is wider than this teacher's {ffn}: "
                                                 "set to the teacher's ratio.")
    note = st.session_state.get("ffn_note")
    if note and note[0] == ffn and not st.session_state.get("w:intermediate_size"):
        st.caption(note[1])
    elif note:
        st.session_state.pop("ffn_note")


def _layer_picker(s: dict, depth: int, help_text: str) -> None:
    """The teacher layers a keep-layers student keeps, or a shrink student selects its weights from."""
    if st.session_state.get("layers_depth") != depth:  # another teacher: its own default layers
        st.session_state.pop("w:layers", None)
        st.session_state["layers_depth"] = depth
    default_layers = s["layers"] or students.evenly_spaced_layers(depth, min(s["num_layers"], depth))
    if any(i >= depth for i in default_layers):
        default_layers = students.evenly_spaced_layers(depth, min(len(default_layers), depth))
    widget_default("layers", default_layers)
    kept = st.multiselect(f"Teacher layers to keep (of 0–{depth - 1})", list(range(depth)), key="w:layers",
                          help=help_text)
    s["layers"] = sorted(kept) or None
    s["num_layers"] = max(1, len(kept))


def student(draft: dict) -> None:
    st.subheader("Student")
    s, t = draft["student"], draft["teacher"]
    widget_default("student_kind", s["kind"])
    s["kind"] = st.radio("Build it by", list(STUDENT_KINDS), format_func=STUDENT_KINDS.get, horizontal=True,
                         key="w:student_kind")
    if s["kind"] != "shrink" and s["init_from"] == "random":  # a shrink choice; kept layers are always copied
        s["init_from"] = "teacher"
    depth = ffn = None
    if t["model"] and config_refusal(draft) is None:  # room mode: nothing a visitor may not use is ever read
        try:
            depth, ffn = teacher_shape(t["model"], bool(t["trust_remote_code"]), draft["task"])
        except DistillLabError as exc:
            st.error(f"**teacher.model**: {exc.message}")
        except NotImplementedError:  # a task without pre-flight hooks: no layer picker, its own defaults
            pass
    if s["kind"] == "keep-layers" and depth:
        _layer_picker(s, depth, "Evenly spaced layers, ending at the top one, usually work best.")
    elif s["kind"] == "shrink":
        widget_default("shrink_init", s["init_from"])
        s["init_from"] = st.radio("Start from", list(SHRINK_INITS), format_func=SHRINK_INITS.get, horizontal=True,
                                  key="w:shrink_init", help=SHRINK_INIT_HELP)
        a, b, c, d = st.columns(4)
        if s["init_from"] != "random" and depth:  # weights selected from teacher layers: pick which
            with a:
                _layer_picker(s, depth, "Student layer i starts from the i-th of these teacher layers.")
        else:
            widget_default("num_layers", int(s["num_layers"]))
            s["num_layers"] = a.number_input("Layers", 1, 96, key="w:num_layers")
            s["layers"] = None
        widget_default("hidden_size", int(s["hidden_size"] or 0))
        s["hidden_size"] = b.number_input("Width (0: teacher's)", 0, 8192, step=32, key="w:hidden_size") or None
        widget_default("num_heads", int(s["num_heads"] or 0))
        s["num_heads"] = c.number_input("Heads (0: the teacher's head size)", 0, 128, key="w:num_heads") or None
        _fit_feed_forward(s, ffn)
        widget_default("intermediate_size", int(s["intermediate_size"] or 0))
        s["intermediate_size"] = d.number_input("Feed-forward width (0: the teacher's ratio)", 0, 65536, step=64,
                                                key="w:intermediate_size") or None
    elif s["kind"] == "model":
        widget_default("student_model", s["model"] or "")
        s["model"] = st.text_input("Student model (hub id or local folder)", key="w:student_model").strip() or None
        s["layers"] = None
    form_for(draft["task"]).student_fields(s)
