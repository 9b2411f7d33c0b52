"""Distill Lab: navigation and the sidebar's active run. Each page is a short script in app_pages/ (not pages/:
Streamlit would serve a folder of that name as an old-style multipage app, without this script, to a first visitor
who opens a page's URL directly)."""

from pathlib import Path

import streamlit as st

from distill_core.core.errors import DistillLabError
from distill_core.core.home import data_home
from app_pages.room_access import room_sidebar
from app_pages.shared import sidebar_active_run

# A local file, not a ":material/...:" icon: Streamlit fetches a material favicon from fonts.gstatic.com, which
# fails offline (the icons elsewhere come from the font it bundles).
st.set_page_config(page_title="Distill Lab", page_icon=Path(__file__).parent / "assets" / "favicon.svg",
                   layout="wide")

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/new_run.py", title="New run", icon=":material/add_circle:"),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/monitoring:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("app_pages/sweeps.py", title="Sweeps", icon=":material/grid_view:"),
    st.Page("app_pages/playground.py", title="Playground", icon=":material/chat:"),
    st.Page("app_pages/learn.py", title="Learn", icon=":material/school:"),
]

page = st.navigation(PAGES)
try:
    data_home()
except DistillLabError as exc:  # nothing works without a writable data folder: say which and how to fix it
    st.error(f"**{exc.field}**: {exc.message}")
    st.stop()
try:
    room_sidebar()
except DistillLabError as exc:  # room mode without a usable key: refuse to serve rather than serve it open
    st.error(f"**{exc.field}**: {exc.message}")
    st.stop()
sidebar_active_run()
page.run()
