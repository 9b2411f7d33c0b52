"""The text classifier's part of the New run form: fine-tuning the teacher first, trimming the student's vocabulary,
the label column, transfer text, the cap on labeled examples and the hidden-state loss term."""

from __future__ import annotations

import streamlit as st

from distill_core.models import loading as models
from distill_core.tasks.classification import data
from app_pages.shared import widget_default

MAX_LENGTH_LABEL = "Max tokens per input"
HIDDEN_HELP = "Also pull the student's hidden states towards the teacher's mapped layers (0 turns it off)."
STUDENT_LABELS_HELP = ("The teacher fine-tunes on every label; the student and the control learn from the first N "
                       "labeled rows only, and the other training texts become transfer text that only the teacher "
                       "labels. Few labels plus plenty of text is where soft targets help most.")
TRIM_HELP = ("Keep only the word-embedding rows of the tokens the training and transfer texts use, plus special "
             "and single-character tokens (unseen words are spelled out in pieces): a much smaller student, "
             "tokenizing those texts exactly as before. For BERT-like (WordPiece) tokenizers.")
TRANSFERS = {"": "none", "augment": "augmented copies of the training texts", "tweets": "tweets"}


def teacher_choices() -> dict[str, str]:
    return models.preset_model_keys()


def teacher_fields(teacher: dict) -> None:
    a, b = st.columns(2)
    widget_default("finetune_epochs", float(teacher["finetune_epochs"]))
    teacher["finetune_epochs"] = a.number_input(
        "Fine-tune the teacher first (epochs)", 0.0, 20.0, step=0.5, key="w:finetune_epochs",
        help="0 uses the model's own trained head. The fine-tuned teacher is cached for every later run.")
    widget_default("finetune_layers", int(teacher["finetune_layers"]))
    teacher["finetune_layers"] = b.number_input("…training only its top N layers (0: all)", 0, 96,
                                                key="w:finetune_layers")


def student_fields(student: dict) -> None:
    widget_default("trim_vocab", bool(student.get("trim_vocab", False)))  # runs from before the field lack it
    student["trim_vocab"] = st.checkbox("Trim the vocabulary to the data's tokens", key="w:trim_vocab",
                                        help=TRIM_HELP)


def builtin_sources(task) -> dict[str, str]:
    return dict(data.BUILTIN_SOURCES)


def data_columns(data_cfg: dict, slot, columns: list[str] | None) -> None:
    """The label column: picked among the file's columns, or typed for a hub dataset."""
    if columns is None:
        widget_default("hub_label", data_cfg["label_column"])
        data_cfg["label_column"] = slot.text_input("Label column", key="w:hub_label")
        return
    index = columns.index(data_cfg["label_column"]) if data_cfg["label_column"] in columns else \
        min(1, len(columns) - 1)
    data_cfg["label_column"] = slot.selectbox("Label column", columns, index=index, key="w:label_column")


def data_fields(data_cfg: dict) -> None:
    widget_default("transfer", data_cfg["transfer"] if data_cfg["transfer"] in TRANSFERS else "")
    data_cfg["transfer"] = st.selectbox("Extra transfer text (only the teacher labels it)", list(TRANSFERS),
                                        format_func=TRANSFERS.get, key="w:transfer") or None
    widget_default("max_train", int(data_cfg["max_train_examples"] or 0))
    data_cfg["max_train_examples"] = st.number_input("Cap on labeled training examples (0: all)", 0, 10**7,
                                                     step=100, key="w:max_train") or None
    widget_default("student_labels", int(data_cfg.get("student_labels") or 0))
    data_cfg["student_labels"] = st.number_input("Labels the student and control see (0: all)", 0, 10**7, step=100,
                                                 key="w:student_labels", help=STUDENT_LABELS_HELP) or None


def loss_fields(draft: dict, slot) -> None:
    loss = draft["loss"]
    widget_default("hidden_weight", float(loss["hidden_weight"]))
    loss["hidden_weight"] = slot.number_input("Hidden-state weight", 0.0, 100.0, step=0.1, key="w:hidden_weight")
    slot.caption(HIDDEN_HELP)
