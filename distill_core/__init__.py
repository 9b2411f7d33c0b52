"""Distill Lab core: configs, models, data, losses, the distillation loop and its results.

Never imports streamlit; the app, the CLI and the worker all call into this package. Importing it registers the
built-in tasks (distill_core.tasks.registry), so any config read through it knows them.
"""

__version__ = "0.1.0"

from distill_core import tasks as _tasks  # noqa: E402,F401  (registers the built-in tasks)
