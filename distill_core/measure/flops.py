"""Forward FLOPs of a model as a function of input length: a quadratic fitted exactly to torch's counts."""

from __future__ import annotations

import numpy as np


def flops_curve(model, max_length: int) -> list[float]:
    """[c0, c1, c2] with FLOPs(L) = c0 + c1 L + c2 L^2 for one input of L tokens: exact for a transformer (linear
    layers grow with L, attention with L^2, the head is constant), solved from torch's counts at three lengths."""
    from distill_core.models.students import count_flops

    lengths = sorted({max(3, max_length // 4), max(4, max_length // 2), max(5, max_length)})
    while len(lengths) < 3:
        lengths.append(lengths[-1] + 1)
    counts = [count_flops(model, length) for length in lengths]
    coeffs = np.linalg.solve(np.vander(np.array(lengths, dtype=float), 3, increasing=True), np.array(counts, float))
    return [float(c) for c in coeffs]


def flops_at(curve: list[float], length: float) -> float:
    """Forward FLOPs of one input of `length` tokens on a flops_curve."""
    return curve[0] + curve[1] * length + curve[2] * length * length
