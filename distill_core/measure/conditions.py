"""The machine's state around a measurement (load average, a fixed speed probe) and how it was timed, as text."""

from __future__ import annotations

import os
import time


def load_average() -> list[float] | None:
    """The machine's 1, 5 and 15 minute load averages, where the platform reports them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def speed_probe_ms(repeats: int = 15) -> float:
    """Median ms of a fixed numpy workload (a 256 x 256 float64 matmul, 8 times) in this process: taken before and
    after a measurement, a change says the machine's speed changed between them (load, clocks)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((256, 256)), rng.standard_normal((256, 256))
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(8):
            a @ b
        times.append((time.perf_counter_ns() - start) / 1e6)
    return float(np.median(times))


def machine_conditions() -> dict:
    """The load average and speed probe now: take them before the fork server starts importing."""
    return {"load_before": load_average(), "probe_ms_before": speed_probe_ms()}


def conditions_text(conditions: dict | None) -> str:
    """bench.json "conditions" in one line: how the variants were timed (mode, rounds, seconds), the rounds left out
    for host contention (measure/contention.py), load average and speed probe (ms) before and after; "" when there
    are none."""
    if not conditions:
        return ""
    parts = []
    mode = conditions.get("timing")
    if mode:
        how = "in one process, mirrored rounds" if mode == "one-process" else "each in its own process"
        parts.append(f"timed {how}: {conditions.get('rounds', '?')} rounds in "
                     f"{float(conditions.get('timing_seconds') or 0):.0f} s")
        if conditions.get("timing_note") and mode != "one-process":
            parts[-1] += f" ({conditions['timing_note']})"
    if conditions.get("contention_note"):
        parts.append(conditions["contention_note"])
    before, after = conditions.get("load_before"), conditions.get("load_after")
    if before and after:
        parts.append(f"load average {before[0]:.2f} before, {after[0]:.2f} after")
    pb, pa = conditions.get("probe_ms_before"), conditions.get("probe_ms_after")
    if pb and pa:
        parts.append(f"speed probe {pb:.2f} ms before, {pa:.2f} ms after")
    return "; ".join(parts)
