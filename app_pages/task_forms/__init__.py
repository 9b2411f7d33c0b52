"""Each task's part of the New run form, found by the task's name: `app_pages/task_forms/<name>.py`, the name with "-"
(and any other character a module name cannot hold) written "_" (a task "my-task": my_task.py). A task without
such a file (one a test or a plugin registers) gets the generic form, `generic.py`: no fields of its own. A form file
defines only the hooks that differ; the others come from generic.py.

The hooks, in the order the New run page calls them:
    teacher_choices() -> dict[str, str]    preset teacher models, key -> description ({}: no "preset" origin)
    teacher_fields(teacher)                the task's teacher settings, under the model picker
    student_fields(student)                the task's student settings, under how the student is built
    builtin_sources(task) -> dict          built-in data, name -> description ({}: no "built-in" origin)
    data_columns(data_cfg, slot, columns)  columns beside the text column, drawn in `slot`: picked among a file's
                                           `columns`, or typed (columns None) for a hub dataset
    data_fields(data_cfg)                  the task's data settings, under the data source
    loss_fields(draft, slot)               the loss row's third column (`slot`) and any rows of the task's own
    MAX_LENGTH_LABEL                       what `max_length` means for the task, e.g. "Max tokens per input"
Each hook edits the draft (a RunConfig dict) in place; widget keys are "w:<field>" (see shared.widget_default).
"""

from __future__ import annotations

import importlib
import re
from types import SimpleNamespace

from app_pages.task_forms import generic

HOOKS = ("teacher_choices", "teacher_fields", "student_fields", "builtin_sources", "data_columns", "data_fields",
         "loss_fields", "MAX_LENGTH_LABEL")


def module_name(task_name: str) -> str:
    """The module that holds `task_name`'s form, by convention."""
    return f"{__name__}.{re.sub(r'[^0-9A-Za-z_]', '_', task_name)}"


def form_for(task_name: str) -> SimpleNamespace:
    """The form hooks of the task called `task_name`: its own file's, the generic ones for what it leaves out."""
    name = module_name(task_name)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:  # the form exists but something it imports is missing: show that, not a blank form
            raise
        module = generic
    return SimpleNamespace(**{hook: getattr(module, hook, getattr(generic, hook)) for hook in HOOKS})


def any_builtin_source(source: str) -> bool:
    """Whether `source` is a built-in data name of some task (not a file path or a hub id)."""
    from distill_core.tasks import get_task, task_names

    return any(source in form_for(name).builtin_sources(get_task(name)) for name in task_names())
