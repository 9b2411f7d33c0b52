"""Home: the idea in three cards, the workshop preset one click away, the last runs at a glance."""

import streamlit as st

from distill_core.runs import store
from distill_core.tasks import presets
from distill_core.views import compare, tables, verdict
from distill_core.views.run_ids import short_id
from app_pages.shared import start_run, status_label

WORKSHOP_PRESET = "reviews-sentiment"

st.title("Distill Lab")
st.markdown("Make a big model small, and **see what it costs and what it keeps**: a *student* learns from a "
            "*teacher*, and every run puts it side by side with the teacher, int8 versions of both, and a *control* "
            "student trained on the same data without the teacher.")

CARDS = [
    ("Distillation", ":material/school:",
     "A small **student** is trained to imitate the **teacher's output distribution** (its *soft targets*), not "
     "just the right answer. The wrong-but-plausible classes the teacher considers carry information the labels "
     "do not.",
     "Changes: the architecture (fewer or narrower layers).",
     "Costs: a training run, and the teacher's predictions on the training text.",
     "Keeps: most of the quality, at a fraction of the FLOPs, memory and latency."),
    ("Quantization", ":material/compress:",
     "The **same model** with **lower-precision weights**: here int8 instead of 32-bit floats. No training: the "
     "numbers are rounded onto a coarser grid.",
     "Changes: the number format, not the architecture.",
     "Costs: seconds; some accuracy where the rounding bites.",
     "Keeps: the architecture, so FLOPs stay; weights shrink about 4x, speed depends on kernels."),
    ("Fine-tuning", ":material/tune:",
     "**Adapting** a pretrained model to a task with labeled examples. Here it makes the teacher: a general "
     "encoder learns the review labels once, and the result is cached.",
     "Changes: the weights, for one task.",
     "Costs: labeled data and training time on the full-size model.",
     "Keeps: the size and speed of the model it starts from."),
]

for column, (title, icon, body, changes, costs, keeps) in zip(st.columns(3), CARDS):
    with column.container(border=True):
        st.subheader(f"{icon} {title}")
        st.markdown(body)
        st.markdown(f"- {changes}\n- {costs}\n- {keeps}")

st.divider()
left, right = st.columns([2, 3])
with left:
    st.subheader("Start here")
    st.markdown(presets.preset_names()[WORKSHOP_PRESET])
    st.caption("Why only 300 labels for the student? Soft targets teach most where labels are scarce and text is "
               "plentiful: the Learn page explains. First time: the teacher is fine-tuned and cached (a few minutes on "
               "a laptop); every later run reuses it. The run continues if you close the tab.")
    if st.button("Start the workshop preset", type="primary", icon=":material/play_arrow:"):
        if start_run(presets.get_preset(WORKSHOP_PRESET)):
            st.switch_page("app_pages/runs.py")
    st.page_link("app_pages/new_run.py", label="Or compose your own run", icon=":material/add_circle:")
    st.page_link("app_pages/learn.py", label="Learn how distillation works", icon=":material/school:")

with right:
    st.subheader("Last runs")
    runs = store.list_runs(limit=5)
    if not runs:
        st.info("No runs yet: start the workshop preset, and this list fills in.")
    for record in runs:
        summary = record.summary or {}
        metric = tables.summary_metric(summary)  # the summary is keyed by the run's headline metric
        headline = summary.get(metric) or {}
        with st.container(border=True):
            top, bottom = st.columns([3, 2])
            top.markdown(f"**{record.name}** · `{short_id(record.id)}`  \n{status_label(record.status)}")
            if record.status in ("queued", "running"):
                bottom.progress(min(1.0, record.progress), text=f"{record.progress:.0%} · {record.phase or ''}")
            elif headline:
                percent = metric in tables.FRACTIONS  # a fraction shows in %; other metrics are named
                shown = (f"{v} {x:.1%}" if percent else f"{v} {x:.1f}" for v, x in headline.items())
                bottom.markdown(" · ".join(shown) + ("" if percent else f"  \n({metric})"))
                gain = summary.get("distillation_gain")
                if gain is not None:  # with its 95% interval and the verdict when the run has them
                    task = compare.record_task(record)
                    order = tables.gain_order(task.quality.higher_is_better if task else True).replace("-", "−")
                    cell = verdict.gain_cell(gain, metric, summary.get("gain_interval"), summary.get("verdict"),
                                             1 if percent else 2)
                    bottom.caption(f"distillation gain {cell}" if percent else f"distillation gain ({order}) {cell}")
            elif record.error:
                bottom.caption(record.error.splitlines()[0][:120])
    if runs:
        st.page_link("app_pages/runs.py", label="All runs", icon=":material/monitoring:")
