"""Sweeps: define one (a preset, the config fields that vary, samples, seeds, where it runs) with its estimated cost
and start it; watch one: progress, the trial table, quality vs speed with the Pareto front, the axes in parallel
coordinates, the best trial per constraint, cancel, delete and the HTML report. UI only: every number comes from
distill_core.views (sweeps, sweep_display)."""

from __future__ import annotations

import json

import streamlit as st

from distill_core.core.config import MAX_SEEDS
from distill_core.core.errors import DistillLabError
from distill_core.runs import room
from distill_core.sweeps import estimate, launch, records
from distill_core.sweeps.spec import MAX_SAMPLES, SweepSpec, spec_to_file
from distill_core.tasks import presets
from distill_core.views import sweep_display, sweeps
from app_pages.room_access import current_person, worker_env
from app_pages.shared import POLL_SECONDS

MODE = "sweep_mode"
PICKED = "sweep_pick"
STARTED = "sweep_started"  # ("ok" | "error", text) of the last Start
ESTIMATE = "sweep_estimate"  # (spec JSON, SweepEstimate or DistillLabError): the estimate of the spec on screen
MAX_AXES = 4
FIRST_AXIS = ("loss.temperature", "1,2,4")  # what the form starts with
RUNNERS = {"local queue": "local", "Ray cluster": "ray"}
AXIS_HELP = ("A config field, dotted (loss.temperature, loss.alpha, student.num_layers, learning_rate...), and its "
             "values: a list `1,2,4`, a range `range(1,3,1)` (stop included), or a random draw per trial "
             "`uniform(0.3,0.9)`, `loguniform(1e-5,1e-3)`, `randint(2,6)`.")


def _error(exc: DistillLabError) -> None:
    st.error(f"**{exc.field or 'sweep'}**: {exc.message}")


def _start(spec: SweepSpec) -> None:
    """Start callback (before the page redraws): start the sweep and show it under Watch."""
    who = current_person()
    try:
        if not who.instructor:  # the button is not drawn for visitors; a stale session must not start one either
            raise DistillLabError("in room mode only the instructor can start sweeps", "room")
        sweep_id = launch.start(spec, owner=room.new_run_owner(who), extra_env=worker_env(who))
    except (DistillLabError, OSError) as exc:  # OSError: the driver process could not start
        field, message = getattr(exc, "field", None) or "sweep", getattr(exc, "message", str(exc))
        st.session_state[STARTED] = ("error", f"**{field}**: {message}")
        return
    st.session_state[STARTED] = ("ok", f"Sweep `{sweep_id}` started: its trials run in the background.")
    st.session_state[PICKED] = sweep_id
    st.session_state[MODE] = "Watch"


def _estimate(spec: SweepSpec):
    """The spec's estimate, computed once per spec in this session (it builds the models' configs)."""
    key, held = spec.to_json(), st.session_state.get(ESTIMATE)
    if not held or held[0] != key:
        try:
            with st.spinner("Estimating each trial's cost…"):
                held = (key, estimate.estimate_sweep(spec))
        except DistillLabError as exc:
            held = (key, exc)
        st.session_state[ESTIMATE] = held
    return held[1]


def define() -> None:
    who = current_person()
    if not who.instructor:
        st.info(":material/lock: In room mode only the instructor can start sweeps: a sweep queues many runs at "
                "once and would fill everyone's queue. You can watch the sweeps here and compare their trials.")
        return
    names = presets.preset_names()
    preset = st.selectbox("Base preset", list(names), key="sw:preset", help="Every trial starts from its config.")
    st.caption(names[preset])
    name = st.text_input("Sweep name", key="sw:name", placeholder=f"{preset}-sweep").strip() or f"{preset}-sweep"
    count = st.number_input("Axes", min_value=1, max_value=MAX_AXES, value=2, step=1, key="sw:axes",
                            help="How many config fields vary; the trials are their grid.")
    axis_rows = []
    for i in range(int(count)):
        field, values = FIRST_AXIS if i == 0 else ("", "")
        left, right = st.columns([2, 3])
        axis_rows.append((left.text_input(f"Field {i + 1}", field, key=f"sw:field{i}", help=AXIS_HELP),
                          right.text_input(f"Values {i + 1}", values, key=f"sw:values{i}", help=AXIS_HELP)))
    left, right = st.columns(2)
    samples = left.number_input("Samples", min_value=1, max_value=MAX_SAMPLES, value=1, step=1, key="sw:samples",
                                help="Repeats of the grid; random axes are drawn anew for each.")
    seeds = right.number_input("Training seeds per trial (0: the preset's)", min_value=0, max_value=MAX_SEEDS,
                               value=0, step=1, key="sw:seeds")
    runner = RUNNERS[st.radio("Runs on", list(RUNNERS), horizontal=True, key="sw:runner",
                              help="The local worker queue of this machine, or Ray tasks on a cluster.")]
    address = storage = ""
    if runner == "ray":
        left, right = st.columns(2)
        address = left.text_input("Ray address", key="sw:address", placeholder="auto, HOST:PORT or ray://HOST:10001",
                                  help="Blank: start a Ray instance on this machine.")
        storage = right.text_input("Storage folder", key="sw:storage", placeholder="the data folder",
                                   help="A folder every node can write (shared on a multi-node cluster).")
    try:
        spec = sweeps.spec_from_form(name, presets.get_preset(preset).to_dict(), axis_rows, int(samples),
                                     int(seeds) or None, runner, address, storage)
    except DistillLabError as exc:
        _error(exc)
        return
    with st.expander("The sweep file (for `distill-lab sweep`)"):
        st.code(json.dumps(spec_to_file(spec), indent=2), language="json")
    cost = _estimate(spec)
    if isinstance(cost, DistillLabError):
        _error(cost)
        return
    st.subheader("Pre-flight: each trial's cost")
    st.dataframe(sweep_display.estimate_table(cost), hide_index=True, width="stretch")
    st.markdown(f"**{sweep_display.estimate_summary(cost)}**")
    st.caption(f"Estimated {cost.basis}.")
    st.button("Start the sweep", type="primary", icon=":material/play_arrow:", on_click=_start, args=(spec,),
              key="sw:start")


def sweep_detail(sweep_id: str, polled_status: str) -> None:
    try:
        record = records.get_sweep(sweep_id)
    except DistillLabError:
        st.warning("This sweep was deleted.")
        return
    if polled_status in records.ACTIVE and record.status not in records.ACTIVE:
        st.rerun(scope="app")  # it just ended: redraw the page (buttons, labels)
    rows = sweeps.trial_rows(sweep_id)
    ended = sweeps.trials_ended(rows)
    a, b, c = st.columns([2, 2, 3])
    a.metric("Status", record.status)
    b.metric("Trials ended", f"{ended} / {record.trials}")
    c.progress(min(1.0, ended / max(1, record.trials)), text=record.message or "")
    if record.error:
        st.error(record.error)
    if not rows:
        st.caption("No trials yet: the driver prepares the teacher once, then queues them.")
        return
    st.dataframe(sweep_display.trial_table(rows), hide_index=True, width="stretch")
    st.plotly_chart(sweeps.pareto_figure(rows), width="stretch", key=f"pareto-{sweep_id}")
    st.plotly_chart(sweeps.parallel_coordinates_figure(rows, sweep_display.axis_fields(rows)), width="stretch",
                    key=f"parcoords-{sweep_id}")
    st.subheader("Best trials")
    tolerance = st.number_input("Within how much of the teacher (points for accuracy-like metrics, % for perplexity)",
                                min_value=0.0, max_value=100.0, value=1.0, step=0.5, key="sw:tolerance")
    st.dataframe(sweep_display.best_table(sweeps.best_trials(rows, tolerance)), hide_index=True, width="stretch")


def sweep_actions(record: records.SweepRecord) -> None:
    """Cancel, delete and the report, for the instructor (sweeps belong to the instructor in room mode)."""
    st.download_button("Download the sweep report (HTML)", data=lambda: sweeps.sweep_report_html(record.id),
                       file_name=sweeps.report_filename(record.id), mime="text/html", icon=":material/download:",
                       key="sw:report")
    if not room.may_manage(current_person(), record.owner):
        st.caption(":material/lock: In room mode only the instructor can cancel or delete a sweep.")
        return
    left, right = st.columns(2)
    active = record.status in records.ACTIVE
    if left.button("Cancel sweep", disabled=not active, icon=":material/stop:", key="sw:cancel"):
        try:
            st.toast(f"cancel requested: {launch.cancel(record.id)}")
            st.rerun()
        except DistillLabError as exc:
            _error(exc)
    confirm = right.checkbox("Really delete (stops its trials and removes them with their files)" if active else
                             "Really delete (removes its trials and their files)", key=f"sw:confirm-{record.id}")
    if right.button("Delete sweep", disabled=not confirm, icon=":material/delete:", key="sw:delete"):
        try:
            launch.delete(record.id)
            st.session_state.pop(PICKED, None)
            st.rerun()
        except DistillLabError as exc:
            _error(exc)


def watch(all_sweeps: list[records.SweepRecord]) -> None:
    if not all_sweeps:
        st.info("No sweeps yet: define one under **Define**, or run `distill-lab sweep` in a terminal.")
        return
    by_id = {s.id: s for s in all_sweeps}
    if st.session_state.get(PICKED) not in by_id:
        st.session_state.pop(PICKED, None)
    picked = by_id[st.selectbox("Sweep", list(by_id), key=PICKED,
                                format_func=lambda i: f"{by_id[i].name} · {by_id[i].status} · {i}")]
    st.caption(" · ".join(a.describe() for a in picked.spec.axes))
    polling = POLL_SECONDS if picked.status in records.ACTIVE else None
    st.fragment(sweep_detail, run_every=polling)(picked.id, picked.status)  # polls while the sweep is active
    sweep_actions(picked)


st.title("Sweeps")
kind, text = st.session_state.pop(STARTED, (None, ""))
if kind:
    (st.success if kind == "ok" else st.error)(text)
listed = records.list_sweeps()
mode = st.segmented_control("Show", ["Watch", "Define"], default="Watch" if listed else "Define", key=MODE) \
    or ("Watch" if listed else "Define")
if mode == "Define":
    define()
else:
    watch(listed)
