"""Distill Lab app entry point. The full dashboard (issue 5) replaces this placeholder page."""

import streamlit as st

from distill_core.presets import preset_names

st.set_page_config(page_title="Distill Lab", layout="wide")
st.title("Distill Lab")
st.write(
    "A small **student** learns to imitate a large **teacher**'s output distributions. "
    "The dashboard is on its way; today the engine runs from the terminal:"
)
st.code("distill-lab run --preset reviews-sentiment", language="bash")
st.subheader("Presets")
for name, description in preset_names().items():
    st.markdown(f"- **{name}**: {description}")
