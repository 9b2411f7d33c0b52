"""The causal language model's part of the New run form: its preset teachers and unlabeled built-in texts, and the
`lm` section's divergence, top-k, JSD beta, cap on training blocks and unlikelihood weight. The teacher is used as it
is (no fine-tune fields) and the data has no label column."""

from __future__ import annotations

import streamlit as st

from distill_core.tasks.causal_lm import teacher as lm_teacher
from distill_core.tasks.causal_lm.config import DIVERGENCES
from app_pages.shared import widget_default

MAX_LENGTH_LABEL = "Tokens per block"
DIVERGENCE_HELP = ("Forward KL covers all the teacher's likely tokens; reverse KL focuses on its top ones; JSD is in "
                   "between (beta).")

UNLIKELIHOOD_HELP = ("Penalises putting probability on tokens already in the text (Welleck et al., 2019), for student "
                     "and control alike: fewer greedy loops.")


def teacher_choices() -> dict[str, str]:
    return lm_teacher.preset_model_keys()


def builtin_sources(task) -> dict[str, str]:
    from distill_core.tasks.causal_lm.data import BUILTIN_TEXT_SOURCES  # imports torch: only when drawn

    return dict(BUILTIN_TEXT_SOURCES)


def loss_fields(draft: dict, slot) -> None:
    lm = draft["lm"]
    widget_default("divergence", lm["divergence"])
    lm["divergence"] = slot.selectbox("Divergence", list(DIVERGENCES), key="w:divergence", help=DIVERGENCE_HELP)
    slot.caption("Compared on the teacher's top-k tokens plus one bucket for the rest of the vocabulary.")
    a, b, c = st.columns(3)
    widget_default("top_k", int(lm["top_k"]))
    lm["top_k"] = a.number_input("Teacher tokens cached per position (top-k)", 1, 1024, key="w:top_k")
    if lm["divergence"] == "jsd":
        widget_default("beta", float(lm["beta"]))
        lm["beta"] = b.slider("JSD beta (0: forward KL, 1: reverse KL)", 0.0, 1.0, step=0.1, key="w:beta")
    widget_default("train_blocks", int(lm["train_blocks"] or 0))
    lm["train_blocks"] = c.number_input("Cap on training blocks (0: all)", 0, 10**6, key="w:train_blocks") or None
    widget_default("unlikelihood", float(lm.get("unlikelihood") or 0.0))
    lm["unlikelihood"] = slot.number_input(
        "Unlikelihood weight (0: off)", 0.0, 10.0, step=0.25, key="w:unlikelihood", help=UNLIKELIHOOD_HELP)
