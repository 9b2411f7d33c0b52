"""The compose form's sections every task shares: teacher, student, data, loss and budget. Each edits the draft (a
RunConfig dict) in place and calls the task's form hooks (app_pages/task_forms/) at fixed places."""

from __future__ import annotations

from types import SimpleNamespace

import streamlit as st

from distill_core.core import config as run_config
from distill_core.core import textfiles as data_files  # upload and preview helpers, for every task
from distill_core.core.errors import DistillLabError
from distill_core.core.variants import RUNTIME_LABELS, RUNTIMES
from distill_core.models import loading as models
from distill_core.models import students
from distill_core.tasks import get_task
from distill_core.tasks import preflight
from app_pages.new_run_form.texts import (ALPHA_HELP, RUNTIMES_HELP, SHRINK_INIT_HELP, SHRINK_INITS, STUDENT_KINDS,
                                     TEMPERATURE_HELP)
from app_pages.room_access import ONLY_INSTRUCTOR, check_upload, config_refusal, is_visitor
from app_pages.shared import widget_default
from app_pages.task_forms import any_builtin_source, form_for


@st.cache_data(show_spinner=False, max_entries=64)
def teacher_depth(ref: str, trust_remote_code: bool, task: str) -> int:
    """Layer count of the teacher `ref` (reads its config only)."""
    cfg = preflight.teacher_config_for(run_config.from_dict({"task": task, "teacher": {
        "model": ref, "trust_remote_code": trust_remote_code}}))
    return int(getattr(cfg, models.num_layers_attr(cfg)))


def teacher(draft: dict, form: SimpleNamespace) -> None:
    st.subheader("Teacher")
    t = draft["teacher"]
    preset_keys = list(form.teacher_choices())
    origins = (["preset"] if preset_keys else []) + ["hub id", "local folder"]
    widget_default("teacher_origin", "preset" if t["model"] in preset_keys else (
        "local folder" if t["model"].startswith(("/", ".", "~")) else "hub id"))
    origin = st.radio("Where it comes from", origins, horizontal=True, key="w:teacher_origin")
    if origin == "preset":
        widget_default("teacher_preset", t["model"] if t["model"] in preset_keys else preset_keys[0])
        if st.session_state["w:teacher_preset"] not in preset_keys:
            st.session_state["w:teacher_preset"] = preset_keys[0]
        t["model"] = st.selectbox("Preset model", preset_keys, key="w:teacher_preset")
    else:
        widget_default("teacher_ref", "" if t["model"] in preset_keys else t["model"])
        placeholder = "e.g. distilbert-base-uncased-finetuned-sst-2-english" if origin == "hub id" else \
            "/path/to/a/save_pretrained/folder"
        t["model"] = st.text_input("Model", key="w:teacher_ref", placeholder=placeholder).strip()
    form.teacher_fields(t)
    widget_default("trust", bool(t["trust_remote_code"]))
    visitor = is_visitor()  # room mode: a visitor never runs a model's own code on the host
    t["trust_remote_code"] = st.checkbox("Trust remote code (runs the model's own Python code)", key="w:trust",
                                         disabled=visitor, help=ONLY_INSTRUCTOR if visitor else None) and not visitor


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
    depth = None
    if t["model"] and config_refusal(draft) is None:  # room mode: nothing a visitor may not use is ever read
        try:
            depth = teacher_depth(t["model"], bool(t["trust_remote_code"]), draft["task"])
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
        widget_default("intermediate_size", int(s["intermediate_size"] or 0))
        s["intermediate_size"] = d.number_input("Feed-forward width (0: the teacher's ratio)", 0, 65536, step=64,
                                                key="w:intermediate_size") or None
    elif s["kind"] == "model":
        widget_default("student_model", s["model"] or "")
        s["model"] = st.text_input("Student model (hub id or local folder)", key="w:student_model").strip() or None
        s["layers"] = None
    form_for(draft["task"]).student_fields(s)


def _file_source(data_cfg: dict, form: SimpleNamespace) -> None:
    upload = st.file_uploader("Upload CSV, TSV, JSONL (or .txt for language models)",
                              type=["csv", "tsv", "jsonl", "txt"], key="upload")
    if upload is not None:
        try:
            check_upload(upload.size)
            data_cfg["source"] = str(data_files.save_upload(upload.name, upload.getvalue()))
        except DistillLabError as exc:
            st.error(f"**{exc.field or 'data'}**: {exc.message}")
    elif any_builtin_source(data_cfg["source"]) or data_cfg["source"].startswith("hub:"):
        data_cfg["source"] = ""
    if data_cfg["source"] and not data_cfg["source"].endswith(".txt"):
        try:
            columns, rows = data_files.preview_file(data_cfg["source"])
            st.dataframe(rows, hide_index=True, width="stretch")
            a, b = st.columns(2)
            data_cfg["text_column"] = a.selectbox("Text column", columns, index=columns.index(
                data_cfg["text_column"]) if data_cfg["text_column"] in columns else 0, key="w:text_column")
            form.data_columns(data_cfg, b, columns)
        except DistillLabError as exc:
            st.error(f"**{exc.field or 'data'}**: {exc.message}")
    elif not data_cfg["source"]:
        st.info("Upload a file to preview it and pick its columns.")


def data(draft: dict, form: SimpleNamespace) -> None:
    st.subheader("Data")
    data_cfg = draft["data"]
    builtin = form.builtin_sources(get_task(draft["task"]))
    origins = (["built-in"] if builtin else []) + ["file", "hub dataset"]
    widget_default("data_origin", "built-in" if builtin and any_builtin_source(data_cfg["source"]) else (
        "hub dataset" if data_cfg["source"].startswith("hub:") else "file"))
    data_origin = st.radio("Texts from", origins, horizontal=True, key="w:data_origin")
    if data_origin == "built-in":
        widget_default("data_builtin", data_cfg["source"] if data_cfg["source"] in builtin else next(iter(builtin)))
        data_cfg["source"] = st.selectbox("Built-in data", list(builtin), format_func=lambda k: f"{k}: {builtin[k]}",
                                          key="w:data_builtin")
    elif data_origin == "file":
        _file_source(data_cfg, form)
    else:
        widget_default("hub_id", data_cfg["source"][4:] if data_cfg["source"].startswith("hub:") else "")
        hub_id = st.text_input("Hub dataset id", key="w:hub_id", placeholder="e.g. stanfordnlp/sst2").strip()
        data_cfg["source"] = f"hub:{hub_id}" if hub_id else ""
        a, b = st.columns(2)
        widget_default("hub_text", data_cfg["text_column"])
        data_cfg["text_column"] = a.text_input("Text column", key="w:hub_text")
        form.data_columns(data_cfg, b, None)
    form.data_fields(data_cfg)


def loss(draft: dict, form: SimpleNamespace) -> None:
    st.subheader("Loss")
    loss_cfg = draft["loss"]
    a, b, c = st.columns(3)
    widget_default("temperature", float(loss_cfg["temperature"]))
    loss_cfg["temperature"] = a.slider("Temperature T", 0.5, 10.0, step=0.5, key="w:temperature",
                                       help=TEMPERATURE_HELP)
    a.caption(TEMPERATURE_HELP)
    widget_default("alpha", float(loss_cfg["alpha"]))
    loss_cfg["alpha"] = b.slider("Alpha (soft-target weight)", 0.0, 1.0, step=0.05, key="w:alpha", help=ALPHA_HELP)
    b.caption(ALPHA_HELP)
    form.loss_fields(draft, c)


def budget(draft: dict, form: SimpleNamespace) -> None:
    st.subheader("Budget")
    budget_cfg = draft["budget"]
    a, b, c, d = st.columns(4)
    widget_default("unit", budget_cfg["unit"])
    budget_cfg["unit"] = a.selectbox("Unit", list(run_config.BUDGET_UNITS), key="w:unit")
    widget_default("budget_value", float(budget_cfg["value"]))
    budget_cfg["value"] = b.number_input("How many", 0.1, 100000.0, step=1.0, key="w:budget_value")
    widget_default("batch_size", int(draft["batch_size"]))
    draft["batch_size"] = c.number_input("Batch size", 1, 4096, key="w:batch_size")
    widget_default("max_length", int(draft["max_length"]))
    draft["max_length"] = d.number_input(form.MAX_LENGTH_LABEL, 8, 8192, step=8, key="w:max_length")
    a, b, c = st.columns(3)
    widget_default("learning_rate", float(draft["learning_rate"]))
    draft["learning_rate"] = a.number_input("Learning rate", 1e-6, 1.0, format="%.0e", step=1e-5,
                                            key="w:learning_rate")
    widget_default("control", bool(draft["control"]))
    draft["control"] = b.checkbox("Train the control student", key="w:control",
                                  help="Same architecture, init, data and steps without the teacher: shows the "
                                       "gain from distillation itself.")
    widget_default("measure", bool(draft["measure"]))
    draft["measure"] = c.checkbox("Measure all variants at the end", key="w:measure",
                                  help="Latency, memory and size of teacher, int8 teacher, student, int8 student "
                                       "and control, each in a fresh process.")
    if draft["measure"]:
        widget_default("runtimes", list(draft.get("runtimes") or ["pytorch"]))
        draft["runtimes"] = c.multiselect("Measure on", list(RUNTIMES), key="w:runtimes", help=RUNTIMES_HELP,
                                          format_func=RUNTIME_LABELS.get) or ["pytorch"]
