"""Named run configs a user can start with one click or one command: every registered task's presets."""

from __future__ import annotations

import copy

from distill_core.core.errors import DistillLabError
from distill_core.tasks.registry import all_tasks


def _all() -> dict:
    return {name: entry for task in all_tasks() for name, entry in task.presets().items()}


def preset_names() -> dict[str, str]:
    """Preset name -> one-line description."""
    return {name: desc for name, (desc, _) in _all().items()}


def get_preset(name: str):
    """A fresh copy of the named preset's RunConfig."""
    presets = _all()
    if name not in presets:
        raise DistillLabError(f"unknown preset {name!r}; allowed: {', '.join(presets)}", "preset")
    return copy.deepcopy(presets[name][1])
