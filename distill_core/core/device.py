"""Where torch computes and with how many threads: the one rule every run and every measuring process follows."""

from __future__ import annotations

import os

from distill_core.core.errors import DistillLabError


def resolve_device(device: str, field: str = "device") -> str:
    """"cpu" / "cuda..." for a config's `device` ("auto": cuda when a GPU is visible, else cpu). Asking for cuda
    without a visible GPU raises DistillLabError naming `field` (the config field the value came from)."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DistillLabError("'cuda' was asked for but no CUDA GPU is visible; allowed here: auto | cpu", field)
    return device


def set_threads(threads: int) -> int:
    """Set torch's intra-op threads (0: all cores) and return the number in force."""
    import torch

    torch.set_num_threads(threads or os.cpu_count() or 1)
    return torch.get_num_threads()
