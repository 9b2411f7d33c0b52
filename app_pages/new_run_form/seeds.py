"""The compose form's "Seeds and control" section: how many training seeds, the data seed, and the control's
budget. Edits the draft (a RunConfig dict) in place, like the other sections."""

from __future__ import annotations

import streamlit as st

from distill_core.core import config as run_config
from app_pages.shared import widget_default

SEEDS_HELP = ("More seeds = a verdict you can trust: the gain gets an interval over seeds, so it covers how much "
              "training luck moves it. Each seed trains the student and the control again (about that many times "
              "the training time); the teacher and its outputs are shared.")
DATA_SEED_HELP = ("Draws the train / validation / test split and fine-tunes the teacher. Every training seed shares "
                  "it, so they are compared on the same test examples.")
LR_CANDIDATES_HELP = ("A fair control: on the first seed, student and control each train once per rate and keep "
                      "the best on the validation split (the same rates and split for both); later seeds reuse it. "
                      "Each rate adds one training of each to the first seed.")
# control_budget -> (label, one line on what the control gets)
CONTROL_BUDGETS = {
    "same-steps": ("same steps", "The control trains as many steps as the student."),
    "teacher-compute": ("teacher compute", "The control also gets the steps that the teacher's labeling passes "
                                           "cost in compute."),
}
CONTROL_BUDGET_HELP = ("Same steps asks: does learning from the teacher beat the labels alone, step for step? "
                       "Teacher compute asks: is the teacher worth its compute, or would plain training with it do "
                       "as well?")


def section(draft: dict) -> None:
    st.subheader("Seeds and control")
    a, b, c = st.columns(3)
    widget_default("seeds", int(draft.get("seeds", 1)))
    draft["seeds"] = a.number_input("Training seeds", 1, run_config.MAX_SEEDS, step=1, key="w:seeds",
                                    help=SEEDS_HELP)
    if draft["seeds"] < 3:
        a.caption("3 or more for a verdict that covers seed-to-seed noise.")
    data_cfg = draft["data"]
    widget_default("data_seed", int(data_cfg.get("seed", 0)))
    data_cfg["seed"] = b.number_input("Data seed", 0, 2**32 - 1, step=1, key="w:data_seed", help=DATA_SEED_HELP)
    budgets = list(run_config.CONTROL_BUDGETS)
    widget_default("control_budget", draft.get("control_budget", budgets[0]))
    draft["control_budget"] = c.selectbox("Control budget", budgets, key="w:control_budget",
                                          format_func=lambda k: CONTROL_BUDGETS.get(k, (k, ""))[0],
                                          help=CONTROL_BUDGET_HELP, disabled=not draft.get("control", True))
    c.caption(CONTROL_BUDGETS.get(draft["control_budget"], ("", ""))[1])
    widget_default("lr_candidates", ", ".join(f"{x:g}" for x in draft.get("learning_rate_candidates") or []))
    text = st.text_input("Learning rates to try (student and control alike)", key="w:lr_candidates",
                         help=LR_CANDIDATES_HELP, placeholder="e.g. 1e-4, 5e-4 (empty: the learning rate above)")
    draft["learning_rate_candidates"] = parse_rates(text)


def parse_rates(text: str) -> list:
    """"1e-4, 5e-4" -> [0.0001, 0.0005]; a part that is not a number is kept as text, for the config's check to
    name the field and what is allowed."""
    rates = []
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if part:
            try:
                rates.append(float(part))
            except ValueError:
                rates.append(part)
    return rates
