"""The compose form's sections every task shares: teacher, data, loss and budget (the student's: student.py). Each
edits the draft (a RunConfig dict) in place and calls the task's form hooks (app_pages/task_forms/) at fixed places."""

from __future__ import annotations

from types import SimpleNamespace

import streamlit as st

from distill_core.core import config as run_config
from distill_core.core import textfiles as data_files  # upload and preview helpers, for every task
from distill_core.core.errors import DistillLabError
from distill_core.core.variants import RUNTIME_LABELS, RUNTIMES
from distill_core.tasks import get_task
from app_pages.new_run_form.texts import ALPHA_HELP, RUNTIMES_HELP, TEMPERATURE_HELP
from app_pages.room_access import ONLY_INSTRUCTOR, check_upload, is_visitor
from app_pages.shared import widget_default
from app_pages.task_forms import any_builtin_source


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
