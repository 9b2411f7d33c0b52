"""New run's pre-flight panel: validate the draft, estimate teacher and student costs, and start the run."""

from __future__ import annotations

import json

import streamlit as st

from distill_core.core import config as run_config
from distill_core.core.errors import DistillLabError
from distill_core.tasks import preflight
from distill_core.views.run_ids import short_id
from app_pages.room_access import config_refusal
from app_pages.shared import fmt_bytes, fmt_count, start_run


@st.cache_data(show_spinner="Pre-flight: building the models from their configs...", max_entries=64)
def cached_preflight(config_json: str) -> dict:
    return preflight.estimate(run_config.from_json(config_json)).to_dict()


def _report(report: dict) -> None:
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


def draw(draft: dict) -> None:
    """The panel for `draft` (a RunConfig dict): problems or costs, the config as JSON, and Start run."""
    st.subheader("Pre-flight")
    problem, report, config, estimated = None, None, None, True
    try:
        config = run_config.validate(run_config.from_dict(draft))
    except DistillLabError as exc:
        problem = exc
    problem = problem or config_refusal(draft)  # room mode: refused before any model config is read
    if config is not None and problem is None:
        try:
            report = cached_preflight(config.to_json())
        except DistillLabError as exc:
            problem = exc
        except NotImplementedError:  # a task without pre-flight hooks (Task.teacher_config...): nothing to show
            estimated = False
            st.info(f"No pre-flight estimate: the task {draft['task']} does not describe its models before a run.")
    if problem is not None:
        st.error(f"**{problem.field or 'config'}**: {problem.message}")
    if report:
        _report(report)
    blocked = problem is not None or (estimated and not report) or bool(report and report.get("blocking"))
    with st.expander("Config as JSON"):
        st.code(json.dumps(draft, indent=2), language="json")
    if st.button("Start run", type="primary", disabled=blocked, icon=":material/play_arrow:"):
        run_id = start_run(config, name=draft["name"])
        if run_id:
            st.session_state["started_from_new_run"] = run_id
    started = st.session_state.get("started_from_new_run")
    if started:
        st.success(f"Run `{short_id(started)}` queued: it trains in the background.")
        st.page_link("app_pages/runs.py", label="Follow it on Runs", icon=":material/monitoring:")
