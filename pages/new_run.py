"""New run: start a preset, or compose teacher, student, data, loss and budget, with a live pre-flight panel."""

from __future__ import annotations

import copy
import json

import streamlit as st

from distill_core.core import config as run_config
from distill_core.tasks.classification import data
from distill_core.models import loading as models
from distill_core.views import preflight
from distill_core.tasks import presets
from distill_core.models import students
from distill_core.core.errors import DistillLabError
from pages.shared import fmt_bytes, fmt_count, start_run

DRAFT = "draft"  # the composed config (a RunConfig dict) kept across pages and reruns
PENDING = "pending_draft"  # a config another page asks us to load (Runs: "re-run with edits")

TEMPERATURE_HELP = ("T softens both distributions before they are compared: higher T shows more of the teacher's "
                    "view of the wrong classes (the soft-target term is scaled by T²).")
ALPHA_HELP = "Weight of the soft-target term; the rest (1 − alpha) goes to cross-entropy on the true labels."
HIDDEN_HELP = "Also pull the student's hidden states towards the teacher's mapped layers (0 turns it off)."


@st.cache_data(show_spinner=False, max_entries=64)
def teacher_depth(ref: str, trust_remote_code: bool, task: str) -> int:
    """Layer count of the teacher `ref` (reads its config only)."""
    cfg = preflight.teacher_config_for(run_config.from_dict({"task": task, "teacher": {
        "model": ref, "trust_remote_code": trust_remote_code}}))
    return int(getattr(cfg, models.num_layers_attr(cfg)))


@st.cache_data(show_spinner="Pre-flight: building the models from their configs...", max_entries=64)
def cached_preflight(config_json: str) -> dict:
    return preflight.estimate(run_config.from_json(config_json)).to_dict()


def _load_draft(cfg: dict) -> None:
    """Make `cfg` the draft and reset the compose widgets to its values."""
    st.session_state[DRAFT] = copy.deepcopy(cfg)
    for key in [k for k in st.session_state if str(k).startswith("w:")]:
        del st.session_state[key]


def _widget_default(key: str, value) -> None:
    if f"w:{key}" not in st.session_state:
        st.session_state[f"w:{key}"] = value


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


if PENDING in st.session_state:
    _load_draft(st.session_state.pop(PENDING))
    st.session_state["mode"] = "Compose"
if DRAFT not in st.session_state:
    _load_draft(presets.get_preset("reviews-sentiment").to_dict() | {"name": "my-run"})
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
            st.success(f"Run `{run_id[:8]}` queued: it trains in the background.")
            st.page_link("pages/runs.py", label="Follow it on Runs", icon=":material/monitoring:")
    right.button("Customise it", icon=":material/edit:", on_click=_customise, args=(name,))
    st.stop()

form, panel = st.columns([3, 2], gap="large")
with form:
    _widget_default("name", draft.get("name", "my-run"))
    draft["name"] = st.text_input("Run name", key="w:name", help="A label for you; runs are keyed by their id.")
    _widget_default("task", draft.get("task", "classification"))
    draft["task"] = st.segmented_control("Task", ["classification", "causal-lm"], key="w:task",
                                         on_change=_switch_task) or draft.get("task", "classification")

    st.subheader("Teacher")
    teacher = draft["teacher"]
    preset_keys = list(models.preset_model_keys())
    if draft["task"] == "causal-lm":
        from distill_core.tasks.causal_lm import teacher as lm_teacher

        preset_keys = list(lm_teacher.preset_model_keys())
    origin_default = "preset" if teacher["model"] in preset_keys else (
        "local folder" if teacher["model"].startswith(("/", ".", "~")) else "hub id")
    _widget_default("teacher_origin", origin_default)
    origin = st.radio("Where it comes from", ["preset", "hub id", "local folder"], horizontal=True,
                      key="w:teacher_origin")
    if origin == "preset":
        _widget_default("teacher_preset", teacher["model"] if teacher["model"] in preset_keys else preset_keys[0])
        if st.session_state["w:teacher_preset"] not in preset_keys:
            st.session_state["w:teacher_preset"] = preset_keys[0]
        teacher["model"] = st.selectbox("Preset model", preset_keys, key="w:teacher_preset")
    else:
        _widget_default("teacher_ref", "" if teacher["model"] in preset_keys else teacher["model"])
        placeholder = "e.g. distilbert-base-uncased-finetuned-sst-2-english" if origin == "hub id" else \
            "/path/to/a/save_pretrained/folder"
        teacher["model"] = st.text_input("Model", key="w:teacher_ref", placeholder=placeholder).strip()
    if draft["task"] == "classification":
        a, b = st.columns(2)
        _widget_default("finetune_epochs", float(teacher["finetune_epochs"]))
        teacher["finetune_epochs"] = a.number_input(
            "Fine-tune the teacher first (epochs)", 0.0, 20.0, step=0.5, key="w:finetune_epochs",
            help="0 uses the model's own trained head. The fine-tuned teacher is cached for every later run.")
        _widget_default("finetune_layers", int(teacher["finetune_layers"]))
        teacher["finetune_layers"] = b.number_input("…training only its top N layers (0: all)", 0, 96,
                                                    key="w:finetune_layers")
    _widget_default("trust", bool(teacher["trust_remote_code"]))
    teacher["trust_remote_code"] = st.checkbox("Trust remote code (runs the model's own Python code)", key="w:trust")

    st.subheader("Student")
    student = draft["student"]
    kinds = {"keep-layers": "keep some teacher layers", "shrink": "shrink depth / width (fresh weights)",
             "model": "another model"}
    _widget_default("student_kind", student["kind"])
    student["kind"] = st.radio("Build it by", list(kinds), format_func=kinds.get, horizontal=True,
                               key="w:student_kind")
    depth = None
    if teacher["model"]:
        try:
            depth = teacher_depth(teacher["model"], bool(teacher["trust_remote_code"]), draft["task"])
        except DistillLabError as exc:
            st.error(f"**teacher.model**: {exc}")
    if student["kind"] == "keep-layers" and depth:
        if st.session_state.get("layers_depth") != depth:  # another teacher: its own default layers
            st.session_state.pop("w:layers", None)
            st.session_state["layers_depth"] = depth
        default_layers = student["layers"] or students.evenly_spaced_layers(depth, min(student["num_layers"], depth))
        if any(i >= depth for i in default_layers):
            default_layers = students.evenly_spaced_layers(depth, min(len(default_layers), depth))
        _widget_default("layers", default_layers)
        kept = st.multiselect(f"Teacher layers to keep (of 0–{depth - 1})", list(range(depth)), key="w:layers",
                              help="Evenly spaced layers, ending at the top one, usually work best.")
        student["layers"] = sorted(kept) or None
        student["num_layers"] = max(1, len(kept))
    elif student["kind"] == "shrink":
        a, b, c = st.columns(3)
        _widget_default("num_layers", int(student["num_layers"]))
        student["num_layers"] = a.number_input("Layers", 1, 96, key="w:num_layers")
        _widget_default("hidden_size", int(student["hidden_size"] or 0))
        student["hidden_size"] = b.number_input("Width (0: teacher's)", 0, 8192, step=32, key="w:hidden_size") or None
        _widget_default("num_heads", int(student["num_heads"] or 0))
        student["num_heads"] = c.number_input("Heads (0: teacher's)", 0, 128, key="w:num_heads") or None
        student["layers"] = None
    elif student["kind"] == "model":
        _widget_default("student_model", student["model"] or "")
        student["model"] = st.text_input("Student model (hub id or local folder)", key="w:student_model").strip() \
            or None
        student["layers"] = None

    st.subheader("Data")
    data_cfg = draft["data"]
    origin_default = "built-in" if data_cfg["source"] in data.BUILTIN_SOURCES or data_cfg["source"] == "tweets" \
        else ("hub dataset" if data_cfg["source"].startswith("hub:") else "file")
    _widget_default("data_origin", origin_default)
    data_origin = st.radio("Texts from", ["built-in", "file", "hub dataset"], horizontal=True, key="w:data_origin")
    if data_origin == "built-in":
        builtin = dict(data.BUILTIN_SOURCES)
        if draft["task"] == "causal-lm":
            builtin["tweets"] = "tweets (R dslabs trump_tweets), unlabeled text"
        _widget_default("data_builtin", data_cfg["source"] if data_cfg["source"] in builtin else "reviews")
        data_cfg["source"] = st.selectbox("Built-in data", list(builtin), format_func=lambda k: f"{k}: {builtin[k]}",
                                          key="w:data_builtin")
    elif data_origin == "file":
        upload = st.file_uploader("Upload CSV, TSV, JSONL (or .txt for language models)",
                                  type=["csv", "tsv", "jsonl", "txt"], key="upload")
        if upload is not None:
            try:
                data_cfg["source"] = str(data.save_upload(upload.name, upload.getvalue()))
            except DistillLabError as exc:
                st.error(f"**{exc.field}**: {exc}")
        elif data_cfg["source"] in data.BUILTIN_SOURCES or data_cfg["source"].startswith("hub:"):
            data_cfg["source"] = ""
        if data_cfg["source"] and not data_cfg["source"].endswith(".txt"):
            try:
                columns, rows = data.preview_file(data_cfg["source"])
                st.dataframe(rows, hide_index=True, width="stretch")
                a, b = st.columns(2)
                data_cfg["text_column"] = a.selectbox("Text column", columns, index=columns.index(
                    data_cfg["text_column"]) if data_cfg["text_column"] in columns else 0, key="w:text_column")
                if draft["task"] == "classification":
                    data_cfg["label_column"] = b.selectbox("Label column", columns, index=columns.index(
                        data_cfg["label_column"]) if data_cfg["label_column"] in columns else min(1, len(columns) - 1),
                        key="w:label_column")
            except DistillLabError as exc:
                st.error(f"**{exc.field}**: {exc}")
        elif not data_cfg["source"]:
            st.info("Upload a file to preview it and pick its columns.")
    else:
        _widget_default("hub_id", data_cfg["source"][4:] if data_cfg["source"].startswith("hub:") else "")
        hub_id = st.text_input("Hub dataset id", key="w:hub_id", placeholder="e.g. stanfordnlp/sst2").strip()
        data_cfg["source"] = f"hub:{hub_id}" if hub_id else ""
        a, b = st.columns(2)
        _widget_default("hub_text", data_cfg["text_column"])
        data_cfg["text_column"] = a.text_input("Text column", key="w:hub_text")
        if draft["task"] == "classification":
            _widget_default("hub_label", data_cfg["label_column"])
            data_cfg["label_column"] = b.text_input("Label column", key="w:hub_label")
    if draft["task"] == "classification":
        transfers = {"": "none", "augment": "augmented copies of the training texts", "tweets": "tweets"}
        _widget_default("transfer", data_cfg["transfer"] if data_cfg["transfer"] in transfers else "")
        data_cfg["transfer"] = st.selectbox(
            "Extra transfer text (only the teacher labels it)", list(transfers), format_func=transfers.get,
            key="w:transfer") or None
        _widget_default("max_train", int(data_cfg["max_train_examples"] or 0))
        data_cfg["max_train_examples"] = st.number_input("Cap on labeled training examples (0: all)", 0, 10**7,
                                                         step=100, key="w:max_train") or None

    st.subheader("Loss")
    loss = draft["loss"]
    a, b, c = st.columns(3)
    _widget_default("temperature", float(loss["temperature"]))
    loss["temperature"] = a.slider("Temperature T", 0.5, 10.0, step=0.5, key="w:temperature", help=TEMPERATURE_HELP)
    a.caption(TEMPERATURE_HELP)
    _widget_default("alpha", float(loss["alpha"]))
    loss["alpha"] = b.slider("Alpha (soft-target weight)", 0.0, 1.0, step=0.05, key="w:alpha", help=ALPHA_HELP)
    b.caption(ALPHA_HELP)
    if draft["task"] == "classification":
        _widget_default("hidden_weight", float(loss["hidden_weight"]))
        loss["hidden_weight"] = c.number_input("Hidden-state weight", 0.0, 100.0, step=0.1, key="w:hidden_weight")
        c.caption(HIDDEN_HELP)
    else:
        lm = draft["lm"]
        _widget_default("divergence", lm["divergence"])
        lm["divergence"] = c.selectbox("Divergence", list(run_config.DIVERGENCES), key="w:divergence",
                                       help="Forward KL covers all the teacher's likely tokens; reverse KL focuses on "
                                            "its top ones; JSD is in between (beta).")
        c.caption("Compared on the teacher's top-k tokens plus one bucket for the rest of the vocabulary.")
        a, b, c = st.columns(3)
        _widget_default("top_k", int(lm["top_k"]))
        lm["top_k"] = a.number_input("Teacher tokens cached per position (top-k)", 1, 1024, key="w:top_k")
        if lm["divergence"] == "jsd":
            _widget_default("beta", float(lm["beta"]))
            lm["beta"] = b.slider("JSD beta (0: forward KL, 1: reverse KL)", 0.0, 1.0, step=0.1, key="w:beta")
        _widget_default("train_blocks", int(lm["train_blocks"] or 0))
        lm["train_blocks"] = c.number_input("Cap on training blocks (0: all)", 0, 10**6, key="w:train_blocks") or None

    st.subheader("Budget")
    budget = draft["budget"]
    a, b, c, d = st.columns(4)
    _widget_default("unit", budget["unit"])
    budget["unit"] = a.selectbox("Unit", list(run_config.BUDGET_UNITS), key="w:unit")
    _widget_default("budget_value", float(budget["value"]))
    budget["value"] = b.number_input("How many", 0.1, 100000.0, step=1.0, key="w:budget_value")
    _widget_default("batch_size", int(draft["batch_size"]))
    draft["batch_size"] = c.number_input("Batch size", 1, 4096, key="w:batch_size")
    _widget_default("max_length", int(draft["max_length"]))
    draft["max_length"] = d.number_input("Tokens per block" if draft["task"] == "causal-lm" else
                                         "Max tokens per input", 8, 8192, step=8, key="w:max_length")
    a, b, c = st.columns(3)
    _widget_default("learning_rate", float(draft["learning_rate"]))
    draft["learning_rate"] = a.number_input("Learning rate", 1e-6, 1.0, format="%.0e", step=1e-5,
                                            key="w:learning_rate")
    _widget_default("control", bool(draft["control"]))
    draft["control"] = b.checkbox("Train the control student", key="w:control",
                                  help="Same architecture, init, data and steps without the teacher: shows the "
                                       "gain from distillation itself.")
    _widget_default("measure", bool(draft["measure"]))
    draft["measure"] = c.checkbox("Measure all variants at the end", key="w:measure",
                                  help="Latency, memory and size of teacher, int8 teacher, student, int8 student "
                                       "and control, each in a fresh process.")

st.session_state[DRAFT] = draft

with panel:
    st.subheader("Pre-flight")
    problem, report, config = None, None, None
    try:
        config = run_config.validate(run_config.from_dict(draft))
    except DistillLabError as exc:
        problem = exc
    if config is not None:
        try:
            report = cached_preflight(config.to_json())
        except DistillLabError as exc:
            problem = exc
    if problem is not None:
        st.error(f"**{problem.field or 'config'}**: {problem}")
    if report:
        t, s = report["teacher"], report["student"]
        st.caption(f"Student: {report['student_description']}. FLOPs per input of {s['seq_len']} tokens.")
        st.table({
            "": ["parameters", "weights", "FLOPs per input", "layers × width"],
            "teacher": [fmt_count(t["parameters"]), fmt_bytes(t["weight_bytes"]), fmt_count(t["flops_per_input"]),
                        f"{t['layers']} × {t['hidden_size']}"],
            "student": [fmt_count(s["parameters"]), fmt_bytes(s["weight_bytes"]), fmt_count(s["flops_per_input"]),
                        f"{s['layers']} × {s['hidden_size']}"],
        })
        a, b = st.columns(2)
        a.metric("Estimated speedup", f"{report['flops_ratio']:.1f}×", help="Teacher FLOPs / student FLOPs: the "
                 "ideal; measured latency is on Compare after the run.")
        b.metric("Size", f"{report['size_ratio']:.1f}× smaller")
        a.metric("Training memory (est.)", fmt_bytes(report["train_memory_bytes"]),
                 help="Student weights, gradients and AdamW state (16 bytes per parameter) plus the teacher's weights.")
        b.metric("Student inference weights", fmt_bytes(s["weight_bytes"]))
        for note in report["notes"]:
            st.info(note)
        if report["blocking"]:
            st.error(f"**{report['blocking_field']}**: {report['blocking']}")
    blocked = problem is not None or not report or bool(report.get("blocking"))
    with st.expander("Config as JSON"):
        st.code(json.dumps(draft, indent=2), language="json")
    if st.button("Start run", type="primary", disabled=blocked, icon=":material/play_arrow:"):
        run_id = start_run(config, name=draft["name"])
        if run_id:
            st.session_state["started_from_new_run"] = run_id
    started = st.session_state.get("started_from_new_run")
    if started:
        st.success(f"Run `{started[:8]}` queued: it trains in the background.")
        st.page_link("pages/runs.py", label="Follow it on Runs", icon=":material/monitoring:")
