"""Distill Lab: navigation and the sidebar's active run. Each page is a short script in pages/."""

import streamlit as st

from pages.shared import sidebar_active_run

st.set_page_config(page_title="Distill Lab", page_icon=":material/science:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/new_run.py", title="New run", icon=":material/add_circle:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/monitoring:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("pages/playground.py", title="Playground", icon=":material/chat:"),
    st.Page("pages/learn.py", title="Learn", icon=":material/school:"),
]

page = st.navigation(PAGES)
sidebar_active_run()
page.run()
