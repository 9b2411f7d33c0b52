"""Compare: runs side by side — quality vs latency with the Pareto front, costs and speedups with their intervals,
retention and gain with its verdict, a run's gain per training seed, config diff, and the exports (HTML report,
CSV, JSON, the student folder)."""

from __future__ import annotations

import json

import streamlit as st

from distill_core.core import run_files
from distill_core.core.errors import DistillLabError
from distill_core.runs import export, store
from distill_core.sweeps import records
from distill_core.views import charts, compare, display, headline, report, verdict
from distill_core.views.configs import config_diff
from distill_core.views.run_ids import short_id
from app_pages.shared import run_label

HEADLINE_RUNS = 3  # runs whose four headline figures lead the page

st.title("Compare")
finished = compare.runs_with_results()
if not finished:
    st.info("Nothing to compare yet: a run appears here once it has results. The workshop preset on **Home** gets "
            "you there in a few minutes.")
    st.page_link("app_pages/home.py", label="Home", icon=":material/home:")
    st.stop()

by_id = {r.id: r for r in finished}
default = [i for i in [st.session_state.get("run_id")] if i in by_id] or [finished[0].id]
swept = {s.id: s for s in records.list_sweeps() if any(r.sweep == s.id for r in finished)}


def _add_sweep_trials() -> None:
    """Put the chosen sweep's finished trials into the runs picked (a callback: before the multiselect is drawn)."""
    sweep_id = st.session_state.get("compare_sweep")
    if sweep_id:
        trials = [r.id for r in finished if r.sweep == sweep_id]
        st.session_state["compare_runs"] = list(dict.fromkeys(st.session_state.get("compare_runs", default) + trials))


if swept:
    st.selectbox("Add a sweep's trials", [None, *swept], key="compare_sweep", on_change=_add_sweep_trials,
                 format_func=lambda i: "—" if i is None else f"{swept[i].name} ({i})",
                 help="Every finished trial of the sweep joins the runs below; the Sweeps page has its own charts.")
picked = st.multiselect("Runs", list(by_id), default=default, format_func=lambda i: run_label(by_id[i]),
                        key="compare_runs")
if not picked:
    st.info("Pick one or more runs.")
    st.stop()

table = compare.results_table(picked)
rows = table.rows
threads = sorted({r["threads"] for r in rows if r.get("threads")})
if len(threads) > 1:  # latencies at different thread counts do not belong on one chart
    chosen_threads = st.segmented_control("Threads when measured", threads, default=threads[0], key="threads")
    rows = [r for r in rows if r.get("threads") in (None, chosen_threads)]
elif threads:
    st.caption(f"Measured with {threads[0]} threads.")

results = {i: run_files.read_json_or_none(by_id[i].folder, "results.json") for i in picked}
for i in picked[:HEADLINE_RUNS]:  # the answer first: faster, smaller, quality kept, did the teacher help
    figures = headline.headline_figures([r for r in rows if r.get("run_id") == i], results[i])
    if figures:
        if len(picked) > 1:
            st.markdown(f"**{run_label(by_id[i])}**")
        for column, figure in zip(st.columns(len(figures)), figures):
            column.metric(figure.label, figure.value)
            column.caption(figure.detail)

headline = list(dict.fromkeys(display.row_metric(r) for r in rows))  # the runs' tasks' headline metrics
quality_options = sorted((c for c in charts.QUALITY_METRICS if any(r.get(c) is not None for r in rows)),
                         key=lambda c: c not in headline)  # headline metrics first
cost_options = sorted(charts.available_metrics(rows, "cost"),
                      key=lambda c: (not c.startswith(("p50_ms", "prefill_ms", "decode")), c))  # latencies first
a, b = st.columns(2)
quality = a.selectbox("Quality", quality_options or headline[:1] or [display.row_metric({})],
                      format_func=charts.metric_label, key="quality_metric")
cost = b.selectbox("Cost (batch size)", cost_options or ["p50_ms_batch1"], format_func=charts.metric_label,
                   key="cost_metric")
if not cost_options:
    st.info("These runs have no measurements yet: run them with *Measure all variants* on, or "
            "`distill-lab bench RUN_ID`. Quality is below.")
st.plotly_chart(charts.quality_latency_scatter(rows, quality=quality, cost=cost), width="stretch", key="scatter")
st.caption("Each point is a variant of a run; bubble area is the size of its weights; whiskers, where measured, "
           "are the latency's 95% interval. The line joins the Pareto front: nothing else is both faster and better.")

st.subheader("Latency, memory and size")
bar_metrics = [m for m in (cost, "peak_memory_mib", "weight_bytes") if any(r.get(m) is not None for r in rows)]
if bar_metrics:
    st.plotly_chart(charts.cost_bars(rows, metrics=tuple(bar_metrics)), width="stretch", key="bars")
speed = display.speed_table(rows)
for run_id, note in compare.contention_notes([by_id[i] for i in picked]):
    st.warning(f"{run_label(by_id[run_id])}: {note[0].upper()}{note[1:]}.")
if len(speed):
    st.dataframe(speed, hide_index=True, width="stretch")
    st.caption("Speedup: the median of per-round ratios (teacher ms / variant ms, timed in interleaved rounds) with "
               "its 95% interval; where the interval holds 1.0 there is no measurable difference.")

st.subheader("Retention and distillation gain")
st.dataframe(display.retention_table(rows), hide_index=True, width="stretch")
st.caption("Retention: a variant's quality as a share of its teacher's. Distillation gain: the student's quality "
           "minus the control's (same architecture, data and steps, no teacher), with its 95% interval and verdict.")

with_gain = [i for i in picked if verdict.gain_of(results[i])]
if with_gain:
    st.subheader("Did the teacher help? The gain per training seed")
    seed_run = st.selectbox("Run", with_gain, format_func=lambda i: run_label(by_id[i]), key="seed_run") \
        if len(with_gain) > 1 else with_gain[0]
    gain = verdict.gain_of(results[seed_run])
    st.markdown(f"**{verdict.headline(results[seed_run])}**")
    st.dataframe(display.seed_table(results[seed_run]), hide_index=True, width="stretch")
    st.caption(f"{verdict.unit_note(gain)}. Every seed trains the student and the control again on the same split "
               "and teacher; the Compare rows above are the first seed's models.")
    rate = verdict.learning_rate_line(results[seed_run])
    if rate:
        st.caption(rate[0].upper() + rate[1:] + ".")
    for note in verdict.notes(gain):
        st.info(note)

st.subheader("Configs")
configs = {by_id[i].name + f" ({short_id(i)})": store.get_run(i).config for i in picked}
diff = config_diff(configs)
if len(picked) > 1:
    st.caption("Only the settings that differ.")
st.dataframe(diff, width="stretch")

with st.expander("All columns"):
    st.dataframe(rows, hide_index=True, width="stretch")

st.subheader("Export")
c1, c2, c3, c4 = st.columns(4)
c1.download_button("HTML report", lambda: report.html_report(picked), file_name=report.report_filename(picked),
                   mime="text/html", type="primary", icon=":material/description:")
c2.download_button("CSV", table.to_csv(), file_name="distill-lab-results.csv", mime="text/csv")
c3.download_button("JSON", json.dumps(table.to_dict(), indent=2, default=float), file_name="distill-lab-results.json",
                   mime="application/json")
zip_run = picked[0]
if (by_id[zip_run].folder / "student" / "config.json").exists():
    def _student_zip() -> bytes:
        try:
            return export.model_zip(zip_run, "student")
        except DistillLabError as exc:
            return str(exc).encode()

    c4.download_button(f"Student of {by_id[zip_run].name} (.zip)", _student_zip,
                       file_name=f"student-{zip_run}.zip", mime="application/zip")
