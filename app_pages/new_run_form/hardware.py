"""The compose form's "Where it trains" section: device, training processes and precision. Edits the draft (a
RunConfig dict) in place, like the other sections."""

from __future__ import annotations

import streamlit as st

from distill_core.core import config as run_config
from distill_core.core.device import machine_devices
from app_pages.shared import widget_default

PROCESSES_HELP = ("Training processes (DDP through Hugging Face Accelerate): one per GPU, or CPU processes that "
                  "share the cores. Each trains on its share of every batch and the gradients are averaged, so the "
                  "student is the one a single process trains; the teacher's outputs are still computed once.")
PRECISION_HELP = ("auto: bf16 (else fp16) on a GPU; on CPU bf16 where the CPU has it in hardware (AVX512-BF16, AMX), "
                  "else fp32 (emulated bf16 is slower). fp16 needs a GPU. Measurement always times the saved fp32 "
                  "models.")


def section(draft: dict) -> None:
    st.subheader("Where it trains")
    cores, gpus = machine_devices()
    a, b, c = st.columns(3)
    devices = list(run_config.DEVICES)
    widget_default("device", draft.get("device", "auto"))
    draft["device"] = a.selectbox("Device", devices, key="w:device",
                                  help="auto: the GPU when there is one, else the CPU.")
    a.caption(f"This machine: {cores} CPU cores, " + (f"{gpus} GPU{'s' if gpus > 1 else ''}." if gpus else "no GPU."))
    widget_default("processes", int(draft.get("processes", 1)))
    draft["processes"] = b.number_input("Training processes", 1, run_config.MAX_PROCESSES, step=1,
                                        key="w:processes", help=PROCESSES_HELP)
    on_gpu = gpus > 0 and draft["device"] != "cpu"
    if draft["processes"] > 1 and on_gpu and draft["processes"] > gpus:
        b.warning(f"{draft['processes']} processes on {gpus} GPU{'s' if gpus > 1 else ''}: use at most one per GPU.")
    elif draft["processes"] > 1 and not on_gpu:
        b.caption(f"{draft['processes']} CPU processes share the {cores} cores; on CPU this rarely trains faster "
                  "than one process with all of them (see the README's figures).")
    precisions = list(run_config.PRECISIONS)
    widget_default("precision", draft.get("precision", "auto"))
    draft["precision"] = c.selectbox("Precision", precisions, key="w:precision", help=PRECISION_HELP)
    if draft["precision"] == "fp16" and not on_gpu:
        c.error("fp16 needs a GPU; on CPU choose auto, fp32 or bf16.")
