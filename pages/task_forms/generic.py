"""The form of a task without a file of its own here, and the defaults of every form: no task-specific fields."""

from __future__ import annotations

from distill_core.models import loading as models

MAX_LENGTH_LABEL = "Max tokens per input"


def teacher_choices() -> dict[str, str]:
    """The shared model loader's preset models."""
    return models.preset_model_keys()


def teacher_fields(teacher: dict) -> None:
    """No teacher settings beyond the model and trust_remote_code."""


def builtin_sources() -> dict[str, str]:
    """No built-in data: a file or a hub dataset."""
    return {}


def data_columns(data_cfg: dict, slot, columns: list[str] | None) -> None:
    """Only the text column."""


def data_fields(data_cfg: dict) -> None:
    """No data settings beyond the source and its text column."""


def loss_fields(draft: dict, slot) -> None:
    """Temperature and alpha only."""
