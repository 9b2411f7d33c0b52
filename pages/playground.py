"""Playground: one text, every variant of a run answering side by side, with probabilities and time taken."""

from __future__ import annotations

import streamlit as st

from distill_core.views import charts

from distill_core.views import compare

from distill_core.views import playground
from distill_core.core.errors import DistillLabError
from pages.shared import pick_run

st.title("Playground")
runs = compare.runs_with_results()
if not runs:
    st.info("The playground needs a run with results: start the workshop preset on **Home**.")
    st.page_link("pages/home.py", label="Home", icon=":material/home:")
    st.stop()

run_id = pick_run("Run", runs, key="play_run").id
try:
    variants = list(playground.run_variants(run_id))
except DistillLabError as exc:
    st.error(f"**{exc.field}**: {exc}")
    st.stop()
task = playground.run_task(run_id)
picked = st.multiselect("Variants", variants, default=variants, key="play_variants")

if task == "causal-lm":
    from distill_core.tasks.causal_lm import generate as lm_generate

    prompt = st.text_area("Prompt", "The product arrived quickly and", key="play_prompt")
    new_tokens = st.slider("New tokens (greedy)", 8, 128, 32, step=8, key="play_tokens")
    if st.button("Generate", type="primary", icon=":material/play_arrow:") and prompt.strip():
        columns = st.columns(max(1, len(picked)))
        for column, variant in zip(columns, picked):
            with column, st.spinner(f"{variant}..."):
                try:
                    item = playground.loaded(run_id, variant)
                    out = lm_generate.continue_text(item.model, item.tokenizer, prompt, new_tokens)
                except DistillLabError as exc:
                    st.error(f"**{exc.field}**: {exc}")
                    continue
                with st.container(border=True):
                    st.markdown(f"**{variant}**")
                    st.write(prompt + out.text)
                    st.caption(f"{out.decode_tokens_per_s:.1f} tokens/s · prefill {out.prefill_ms:.0f} ms")
    st.stop()

examples = playground.example_texts(run_id)
choice = st.selectbox("Pick a held-out text, or type your own below", ["(type your own)"] + examples,
                      key="play_example")
text = st.text_area("Text", "" if choice == "(type your own)" else choice,
                    placeholder="e.g. The battery died after two days, but support replaced it at once.",
                    key=f"play_text-{choice[:40]}")
if not text.strip():
    st.caption("Type or pick a text to see each variant's answer.")
    st.stop()

answers = []
with st.spinner("Loading and running the variants (models stay cached)..."):
    for variant in picked:
        try:
            answers.append(playground.classify(run_id, variant, text))
        except DistillLabError as exc:
            st.error(f"**{variant} / {exc.field}**: {exc}")
if answers:
    columns = st.columns(len(answers))
    for column, answer in zip(columns, answers):
        with column.container(border=True):
            st.markdown(f"**{answer.variant}**")
            st.metric("answer", answer.top, f"{max(answer.probs):.0%}", delta_color="off")
            st.caption(f"{answer.ms:.1f} ms, one forward pass here")
    st.plotly_chart(charts.class_probabilities(answers[0].labels, {a.variant: a.probs for a in answers}),
                    width="stretch", key="play_probs")
    st.caption("Times are one pass in this app's process (a quick feel); Compare shows the measured latencies.")
