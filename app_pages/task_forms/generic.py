"""The form of a task without a file of its own here, and the defaults of every form: no task-specific fields."""

from __future__ import annotations

from pathlib import Path

from distill_core.models import loading as models

MAX_LENGTH_LABEL = "Max tokens per input"


def teacher_choices() -> dict[str, str]:
    """The shared model loader's preset models."""
    return models.preset_model_keys()


def teacher_fields(teacher: dict) -> None:
    """No teacher settings beyond the model and trust_remote_code."""


def student_fields(student: dict) -> None:
    """No student settings beyond how it is built."""


def _is_a_name(source: str) -> bool:
    """A built-in data name, not a file path nor hub:<id>."""
    return bool(source) and not source.startswith("hub:") and Path(source).name == source and not Path(source).suffix


def builtin_sources(task) -> dict[str, str]:
    """The built-in data names the task's own presets read (the task knows those), each with its first preset."""
    names: dict[str, str] = {}
    for preset, (_, cfg) in task.presets().items():
        if _is_a_name(cfg.data.source):
            names.setdefault(cfg.data.source, f"as in preset {preset}")
    return names


def data_columns(data_cfg: dict, slot, columns: list[str] | None) -> None:
    """Only the text column."""


def data_fields(data_cfg: dict) -> None:
    """No data settings beyond the source and its text column."""


def loss_fields(draft: dict, slot) -> None:
    """Temperature and alpha only."""
