"""Learn: soft targets, temperature, dark knowledge and KL vs cross-entropy, on a real teacher's outputs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from distill_core.core.errors import DistillLabError
from distill_core.views import charts, compare, learn, playground
from app_pages.shared import pick_run

WHY_FEW_LABELS = (
    "A student trained on every label the teacher saw learns almost what the teacher knows from the labels alone, "
    "and the teacher adds little (on the reviews: a gain within noise). Distillation earns its keep when the student "
    "can learn from the teacher what the labels do not give it: here the teacher fine-tunes on all 3,600 labeled "
    "reviews, the student and the control see only 300 labels, and the teacher's soft targets on the other 3,300 "
    "reviews are the student's extra lesson (Hinton et al. report 57% frame accuracy from soft targets against 44.5% "
    "from hard ones on 3% of their speech data). The control is no straw man: it gets the same labels and steps, "
    "and picks its own learning rate on validation like the student. Compare shows the gain over three seeds with its "
    "interval and verdict.")

SAMPLE_TEXT = "Works fine, though the manual is confusing and setup took an hour."  # data without examples

st.title("Learn: how distillation works")
st.markdown(
    "A classifier ends in **logits**, one number per class; softmax turns them into probabilities. Trained on hard "
    "labels, a student only hears *which* class is right. A teacher's probabilities also say *how wrong* the other "
    "classes are — that is what a student imitates in distillation. Dividing the logits by a **temperature T** "
    "before the softmax flattens the distribution so those small probabilities carry more weight.")

# The lessons need a teacher that answers with probabilities over named classes.
runs = [r for r in compare.runs_with_results() if getattr(compare.record_task(r), "class_distributions", False)]
if not runs:
    st.info("Everything below runs on a real teacher's outputs: finish a run (the workshop preset on **Home**, or "
            "**courses-fields** on New run for a teacher with eight classes, where dark knowledge shows best) and "
            "come back. Meanwhile, the comparison at the bottom of this page holds.")
else:
    run_id = pick_run("Teacher of run", runs, key="learn_run").id
    try:
        # Start from the run's held-out example the teacher is least sure of: there its dark knowledge shows most.
        examples = playground.example_texts(run_id)
        start = (examples[learn.most_ambiguous([playground.teacher_logits(run_id, t)[1] for t in examples])]
                 if examples else SAMPLE_TEXT)
    except DistillLabError as exc:
        st.error(f"**{exc.field or 'teacher'}**: {exc.message}")
        st.stop()
    text = st.text_input("A text for the teacher", start, key=f"learn_text:{run_id}",
                         help="Starts on the held-out example of this run's data where the teacher is least sure.")
    temperature = st.slider("Temperature T", 0.5, 10.0, 4.0, step=0.5, key="learn_T")
    if text.strip():
        try:
            labels, logits = playground.teacher_logits(run_id, text)
        except DistillLabError as exc:
            st.error(f"**{exc.field or 'teacher'}**: {exc.message}")
            st.stop()
        st.subheader("1 · The temperature flattens the soft targets")
        st.plotly_chart(charts.soft_targets_bars(labels, logits, [1.0, temperature]), width="stretch",
                        key="learn_bars")
        p1, pt = learn.soft_targets(logits, 1.0), learn.soft_targets(logits, temperature)
        a, b = st.columns(2)
        a.metric("Entropy at T = 1", f"{learn.entropy_bits(p1):.2f} bits")
        b.metric(f"Entropy at T = {temperature:g}", f"{learn.entropy_bits(pt):.2f} bits",
                 f"{learn.entropy_bits(pt) - learn.entropy_bits(p1):+.2f}")

        st.subheader("2 · Dark knowledge: what the teacher thinks of the wrong labels")
        dark = learn.dark_knowledge(labels, pt)
        st.dataframe(pd.DataFrame([{"label": name, f"probability at T = {temperature:g}": p,
                                    "probability at T = 1": p1[labels.index(name)]} for name, p in dark]),
                     hide_index=True, width="stretch")
        st.caption(learn.dark_knowledge_note(dark, temperature))

        st.subheader("3 · KL to soft targets vs cross-entropy on the label")
        label = st.selectbox("Suppose the true label is", labels, index=max(range(len(p1)), key=p1.__getitem__),
                             key="learn_label")
        try:
            student = playground.classify(run_id, "student", text)
        except DistillLabError:
            student = None
        if student is not None:
            cmp = learn.compare_losses(logits, student.logits, labels.index(label), temperature)
            a, b = st.columns(2)
            a.metric("Cross-entropy, hard label", f"{cmp.cross_entropy:.3f} nats",
                     help="Only the student's probability of the true label counts.")
            b.metric(f"KL to the teacher × T², T = {temperature:g}", f"{cmp.kl_soft:.3f} nats",
                     help="Every class counts: the student is pulled towards the teacher's whole distribution.")
            st.caption(f"For this run's student, which answered **{student.top}**. The distillation loss mixes "
                       "them: alpha × KL + (1 − alpha) × cross-entropy.")

st.divider()
st.subheader("Where the teacher's knowledge matters: few labels, plenty of text")
st.markdown(WHY_FEW_LABELS)

st.divider()
st.subheader("Distillation, quantization, fine-tuning: side by side")
st.table(pd.DataFrame({
    "": ["what changes", "training needed", "architecture / FLOPs", "weights", "typical quality"],
    "distillation": ["a smaller student learns from the teacher", "yes: the student, with the teacher's outputs",
                     "fewer layers or narrower: fewer FLOPs", "smaller (fewer parameters)",
                     "most of the teacher's, better than the same student trained alone"],
    "quantization": ["weights stored as int8", "no", "unchanged", "about 4x smaller",
                     "close to the model it came from"],
    "fine-tuning": ["weights adapted to a task", "yes: the full model, on labels", "unchanged", "unchanged",
                    "the best on its task; as slow as before"],
}).set_index(""))
st.caption("They combine: the int8 student on Compare is distilled and then quantized.")
