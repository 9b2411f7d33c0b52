"""The Runs page's lab bundles: download finished runs as one zip, import one into this data folder.
UI only: packing, checking and importing are distill_core.runs.bundles."""

from __future__ import annotations

import streamlit as st

from distill_core.core.errors import DistillLabError
from distill_core.runs import bundles, store
from app_pages.room_access import is_visitor
from app_pages.shared import run_label


def upload_limit_mib() -> int:
    """Streamlit's upload limit (server.maxUploadSize in .streamlit/config.toml), in MiB."""
    return int(st.get_option("server.maxUploadSize"))


def download_panel(runs: list[store.RunRecord]) -> None:
    finished = {r.id: r for r in runs if r.status in store.FINISHED}
    with st.expander("Download runs as a lab bundle"):
        if not finished:
            st.caption("Only finished runs (done, failed, cancelled, interrupted) can be packed.")
            return
        picked = st.multiselect("Runs to pack", list(finished), format_func=lambda i: run_label(finished[i]),
                                key="bundle_runs")
        if not picked:
            st.caption("Pick runs: the bundle holds their results, measurements, curves, and student and control "
                       "as safetensors (not the teacher). Open it on another machine with **Import a lab bundle** "
                       "or `distill-lab unpack`.")
            return
        size_mib = bundles.plan_bytes(picked) / 2**20
        st.caption(f"{len(picked)} run(s), about {size_mib:.1f} MiB.")
        if size_mib > upload_limit_mib():
            st.warning(f"Larger than the app's upload limit ({upload_limit_mib()} MiB): import it with "
                       "`distill-lab unpack FILE` instead.", icon=":material/warning:")
        st.download_button("Download the bundle", data=lambda: bundles.bundle_bytes(picked),
                           file_name=bundles.bundle_filename(picked), mime="application/zip",
                           icon=":material/download:", key="bundle_download")


def _import(upload) -> None:
    try:
        renames = bundles.unpack_bundle(upload)
    except DistillLabError as exc:
        st.session_state["bundle_result"] = ("error", f"**{exc.field}**: {exc.message}")
        return
    lines = [f"- `{new}` {store.get_run(new).name}" + (f" (was `{old}`: that id is taken here)" if new != old else "")
             for old, new in renames]
    st.session_state["bundle_result"] = ("ok", f"Imported {len(renames)} run(s):\n" + "\n".join(lines))
    st.session_state["bundle_imported"] = upload.file_id


def import_panel() -> None:
    with st.expander("Import a lab bundle", expanded="bundle_result" in st.session_state):
        if is_visitor():  # room mode: importing writes runs (and their students) into the instructor's data folder
            st.caption(":material/lock: In room mode only the instructor can import lab bundles.")
            return
        st.caption(f"A zip from **Download runs as a lab bundle** or `distill-lab pack`, up to {upload_limit_mib()} "
                   "MiB here (larger ones: `distill-lab unpack FILE`). Its runs join this data folder; ids already "
                   "here get fresh ones. A damaged or unsafe bundle is refused whole: nothing is imported.")
        upload = st.file_uploader("Lab bundle", type=["zip"], key="bundle_upload")
        done = upload is not None and st.session_state.get("bundle_imported") == upload.file_id
        if st.button("Import", disabled=upload is None or done, icon=":material/upload:", key="bundle_import"):
            _import(upload)
            st.rerun()  # the runs table above lists the imported runs
        kind, text = st.session_state.get("bundle_result", (None, ""))
        if kind == "ok":
            st.success(text)
        elif kind == "error":
            st.error(text)
