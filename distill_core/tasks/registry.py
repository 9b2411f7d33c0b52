"""The task registry: which tasks exist, by the name a run config gives (`task`). The only place that lists them.

Registering a task adds its config section (if any) and makes `config.validate` check the task name and the task's
own rules, so core/config.py keeps no task list. A third task is one folder plus one `register` call. A task kept
outside this package (a plugin, or a test's toy task) is named in DISTILL_LAB_TASKS: comma-separated module names,
each imported here (so also in every worker process), which call `register` when imported.
"""

from __future__ import annotations

import importlib
import os

from distill_core.core import config as config_mod
from distill_core.core.errors import ConfigError
from distill_core.tasks.base import Task

_TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add (or replace) a task under task.name; returns it."""
    if not task.name:
        raise ValueError("a task needs a name")
    _TASKS[task.name] = task
    if task.section is not None:
        key, cls, validate_section = task.section
        config_mod.register_section(key, cls, validate_section)
    return task


def get_task(name: str) -> Task:
    """The task called `name`; ConfigError naming `task` and the allowed names otherwise."""
    if name not in _TASKS:
        raise ConfigError(f"{name!r} is not allowed; allowed: {' | '.join(_TASKS)}", "task")
    return _TASKS[name]


def task_names() -> list[str]:
    return list(_TASKS)


def all_tasks() -> list[Task]:
    return list(_TASKS.values())


def _check_task(config) -> None:
    get_task(config.task).validate(config)


def _register_builtin() -> None:
    from distill_core.tasks.causal_lm.task import CausalLMTask
    from distill_core.tasks.classification.task import ClassificationTask

    config_mod.set_default_task(register(ClassificationTask()).name)
    register(CausalLMTask())


def _register_plugins() -> None:
    for module in filter(None, (m.strip() for m in os.environ.get("DISTILL_LAB_TASKS", "").split(","))):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"cannot import task module {module!r} ({exc}); give importable module names, "
                              "comma-separated", "DISTILL_LAB_TASKS") from None


config_mod.register_validator(_check_task)
_register_builtin()
_register_plugins()
