"""The causal-LM task: distilling a language model's next-token distributions (see task.py)."""

NAME = "causal-lm"  # the config's `task` value
