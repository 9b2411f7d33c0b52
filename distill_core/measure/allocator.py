"""Keep freed memory in the timing processes, so a forward pass does not pay the kernel for pages the last one gave
back.

Why: with glibc's default malloc a batch-32 pass of the workshop run's models allocated its activations (MBs each)
with fresh mmaps or on heap space trimmed back to the kernel after the previous pass, and faulted every page in again:
on the 2-core VM (benchmarks/bench_allocator.py, 2 threads, two alternations of fresh processes), per pass 22,700-
28,600 minor page faults and 54-77 ms of kernel time for the teacher and teacher-int8 (a third of an int8 pass),
1,100-8,000 faults and 8-23 ms for the students; with the thresholds below, 0-876 faults and 2-16 ms, and the
teacher-int8 pass 22-28% faster (the others 1-26%). Page faults on a VM cost what the host makes them cost at that
moment, so they made batch-32 figures move with the host and moved the int8 variants most. Long-running inference
servers avoid the same churn with jemalloc or tcmalloc (PyTorch's CPU performance guide recommends them); here
glibc's own documented knobs (mallopt(3): M_MMAP_THRESHOLD, M_TRIM_THRESHOLD) do it without a new dependency.
They are set after a variant is loaded and its memory measured, so peak memory is as before."""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1  # mallopt(3) parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's largest: blocks up to this come from the heap, reused after free
TRIM_THRESHOLD_BYTES = 2**30  # free heap top kept up to 1 GiB instead of returned to the kernel at once
DESCRIPTION = "glibc malloc, mmap threshold 32 MiB, trim threshold 1 GiB (freed memory kept for the next pass)"


def retain_freed_memory() -> str | None:
    """Set glibc's mmap and trim thresholds in this process (see the module docstring); returns DESCRIPTION, or None
    where the C library has no mallopt (not glibc: macOS, musl, Windows) and nothing changed."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError, TypeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) != 1 or mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) != 1:
        return None
    return DESCRIPTION
