"""Resident memory of the measuring process (bytes): a sampling thread and the kernel's own peak."""

from __future__ import annotations

import os
import threading


class RssSampler:
    """Peak resident memory (bytes) of this process, sampled by a thread every `interval_ms`."""

    def __init__(self, interval_ms: float):
        import psutil

        self._proc = psutil.Process()
        self.kernel_before = kernel_peak_rss()  # the kernel's peak so far: a later, higher one is this window's
        self._interval = interval_ms / 1e3
        self._stop = threading.Event()
        self.baseline = self._proc.memory_info().rss  # at construction: before the model loads
        self.peak = self.baseline
        self.samples = 1
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def sample(self) -> None:
        self.peak = max(self.peak, self._proc.memory_info().rss)
        self.samples += 1

    def start(self) -> "RssSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def record(self, device: str) -> dict:
        """The MemoryRecord fields of this window (after `stop`): baseline, peak (the kernel's own peak too, for a
        spike between samples after the baseline was taken), their difference, samples, and on CUDA torch's peak
        allocation."""
        peak = self.peak
        kernel_peak = kernel_peak_rss()
        if kernel_peak is not None and self.kernel_before is not None and kernel_peak > self.kernel_before:
            peak = max(peak, kernel_peak)
        cuda_peak = None
        if device.startswith("cuda"):
            import torch

            cuda_peak = torch.cuda.max_memory_allocated()
        return dict(baseline_rss_bytes=self.baseline, peak_rss_bytes=peak, delta_rss_bytes=peak - self.baseline,
                    samples=self.samples, cuda_peak_allocated_bytes=cuda_peak)


def kernel_peak_rss() -> int | None:
    """The kernel's record of this process's highest RSS so far (bytes), where the platform keeps one."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if os.uname().sysname == "Darwin" else peak * 1024  # Linux reports kB, macOS bytes
