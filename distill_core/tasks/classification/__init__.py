"""The classification task: distilling a classifier's soft labels (see task.py)."""

NAME = "classification"  # the config's `task` value
