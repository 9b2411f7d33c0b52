"""Playground: one input, every variant of a run answering side by side, with what it answered and the time taken.
How variants answer is the run's task's (`Task.playground`): class probabilities, or a continuation of a prompt."""

from __future__ import annotations

import streamlit as st

from distill_core.core.errors import DistillLabError
from distill_core.views import charts, compare, playground, teacher_helped
from app_pages.shared import pick_run


def classes_panel(run_id: str, picked: list[str]) -> None:
    """A text (typed, or a held-out one) classified by every picked variant: top class, probabilities, ms."""
    examples = playground.example_texts(run_id)
    choice = st.selectbox("Pick a held-out text, or type your own below", ["(type your own)"] + examples,
                          key="play_example")
    text = st.text_area("Text", "" if choice == "(type your own)" else choice,
                        placeholder="e.g. The battery died after two days, but support replaced it at once.",
                        key=f"play_text-{choice[:40]}")
    if not text.strip():
        st.caption("Type or pick a text to see each variant's answer.")
        return
    answers = []
    with st.spinner("Loading and running the variants (models stay cached)..."):
        for variant in picked:
            try:
                answers.append(playground.classify(run_id, variant, text))
            except DistillLabError as exc:
                st.error(f"**{variant} / {exc.field or 'model'}**: {exc.message}")
    if not answers:
        return
    for column, answer in zip(st.columns(len(answers)), answers):
        with column.container(border=True):
            st.markdown(f"**{answer.variant}**")
            st.metric("answer", answer.top, f"{max(answer.probs):.0%}", delta_color="off")
            st.caption(f"{answer.ms:.1f} ms, one forward pass here")
    st.plotly_chart(charts.class_probabilities(answers[0].labels, {a.variant: a.probs for a in answers}),
                    width="stretch", key="play_probs")
    st.caption("Times are one pass in this app's process (a quick feel); Compare shows the measured latencies.")


def continuation_panel(run_id: str, picked: list[str]) -> None:
    """A prompt continued greedily by every picked variant, with its decode speed and prefill time."""
    prompt = st.text_area("Prompt", "The product arrived quickly and", key="play_prompt")
    new_tokens = st.slider("New tokens (greedy)", 8, 128, 32, step=8, key="play_tokens")
    if not (st.button("Generate", type="primary", icon=":material/play_arrow:") and prompt.strip()):
        return
    for column, variant in zip(st.columns(max(1, len(picked))), picked):
        with column, st.spinner(f"{variant}..."):
            try:
                out = playground.continue_text(run_id, variant, prompt, new_tokens)
            except DistillLabError as exc:
                st.error(f"**{exc.field or 'model'}**: {exc.message}")
                continue
            with st.container(border=True):
                st.markdown(f"**{variant}**")
                st.write(prompt + out.text)
                st.caption(f"{out.decode_tokens_per_s:.1f} tokens/s · prefill {out.prefill_ms:.0f} ms")


def helped_section(run_id: str) -> None:
    """The test examples the student and the control disagree on, by who was right, with the teacher's soft
    targets; filterable by true class. Runs without saved test outputs get nothing."""
    found = teacher_helped.disagreements(run_id)
    if found is None:
        return
    st.subheader("Where the teacher helped")
    label = st.selectbox("True class", ["(all)"] + found.label_names, key="helped_class")
    if label != "(all)":
        found = teacher_helped.disagreements(run_id, label)
    st.write(found.summary())
    for tab, (key, words) in zip(st.tabs([f"{w.capitalize()} ({found.counts[k]})"
                                         for k, w in teacher_helped.GROUPS.items()]), teacher_helped.GROUPS.items()):
        with tab:
            st.dataframe(found.tables[key], hide_index=True, width="stretch", key=f"helped_{key}")
    st.caption(f"Held-out test examples, training seed {found.seed}'s student and control; the teacher's soft "
               f"targets are at the run's temperature T = {found.temperature:g}, what the student learned from. "
               "The most telling first: the largest gap in the right class's probability.")


PANELS = {"classes": classes_panel, "continuation": continuation_panel}  # by Task.playground

st.title("Playground")
runs = compare.runs_with_results()
if not runs:
    st.info("The playground needs a run with results: start the workshop preset on **Home**.")
    st.page_link("app_pages/home.py", label="Home", icon=":material/home:")
    st.stop()

run_id = pick_run("Run", runs, key="play_run").id
try:
    variants = list(playground.run_variants(run_id))
    task = playground.run_task(run_id)
except DistillLabError as exc:
    st.error(f"**{exc.field or 'model'}**: {exc.message}")
    st.stop()
panel = PANELS.get(task.playground)
if panel is None:
    st.info(f"Runs of the task {task.title or task.name!r} have no Playground.")
    st.stop()
picked = st.multiselect("Variants", variants, default=variants, key="play_variants")
panel(run_id, picked)
helped_section(run_id)
