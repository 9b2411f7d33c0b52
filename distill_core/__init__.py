"""Distill Lab core: configs, models, data, losses, the distillation loop and its results.

Never imports streamlit; the app, the CLI and the worker all call into this package.
"""

__version__ = "0.1.0"
