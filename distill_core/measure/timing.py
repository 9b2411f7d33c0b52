"""Timing forward passes: percentiles of samples (ms), the pass timer, the timing loop and a reference timer."""

from __future__ import annotations

import time

import numpy as np
import torch


def percentile(samples, q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between closest ranks (numpy's default)."""
    if len(samples) == 0:
        raise ValueError("no samples")
    return float(np.percentile(np.asarray(samples, dtype=float), q))


def relative_spread(samples) -> float:
    """(p90 - p10) / p50: the width of the middle 80% of samples as a fraction of the median."""
    p50 = percentile(samples, 50)
    return (percentile(samples, 90) - percentile(samples, 10)) / p50 if p50 else float("inf")


def time_stats(samples_ms) -> dict:
    """The TimingStats fields of timed passes: their count, p50/p90/p99/mean/min (ms) and relative spread."""
    return dict(iterations=len(samples_ms), p50_ms=percentile(samples_ms, 50), p90_ms=percentile(samples_ms, 90),
                p99_ms=percentile(samples_ms, 99), mean_ms=float(np.mean(samples_ms)),
                min_ms=float(np.min(samples_ms)), spread=relative_spread(samples_ms))


class PassTimer:
    """Wall time of one forward pass (ms): perf_counter on CPU, CUDA events (then synchronize) on GPU."""

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")

    def time(self, fn) -> float:
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))
        start_ns = time.perf_counter_ns()
        fn()
        return (time.perf_counter_ns() - start_ns) / 1e6


def timed_passes(forwards: list, timer: PassTimer, cfg) -> list[float]:
    """Latencies (ms) of passes cycling over `forwards`, until >= min_iterations and >= min_seconds and a whole
    number of cycles, or max_seconds. `cfg` carries those three fields (records.BenchConfig does)."""
    samples: list[float] = []
    started = time.perf_counter()
    while True:
        samples.append(timer.time(forwards[len(samples) % len(forwards)]))
        elapsed = time.perf_counter() - started
        if elapsed >= cfg.max_seconds:
            return samples
        if len(samples) >= cfg.min_iterations and elapsed >= cfg.min_seconds and len(samples) % len(forwards) == 0:
            return samples


def reference_timer_ms(forward, threads: int, min_seconds: float) -> float:
    """torch.utils.benchmark.Timer's median (ms) of the same forward pass, same threads."""
    from torch.utils import benchmark

    measurement = benchmark.Timer(stmt="forward()", globals={"forward": forward},
                                  num_threads=threads).blocked_autorange(min_run_time=min_seconds)
    return measurement.median * 1e3
