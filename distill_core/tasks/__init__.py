"""Tasks: each folder here is one task (what a teacher, student and quality mean for it); `registry` lists them."""

from distill_core.tasks.registry import all_tasks, get_task, register, task_names

__all__ = ["all_tasks", "get_task", "register", "task_names"]
