"""Where torch computes, in what precision and with how many threads: the one rule every run and every measuring
process follows."""

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


def machine_devices() -> tuple[int, int]:
    """(CPU cores, visible CUDA GPUs) of this machine."""
    import torch

    return os.cpu_count() or 1, torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_processes(processes: int, device: str) -> None:
    """Refuse more training processes than GPUs on a GPU run (one process per GPU); `device` is resolved."""
    if processes > 1 and device.startswith("cuda"):
        gpus = machine_devices()[1]
        if processes > gpus:
            raise DistillLabError(f"{processes} processes on {gpus} GPU{'s' if gpus != 1 else ''}; allowed on this "
                                  f"machine: 1 to {gpus} (one per GPU), or device cpu", "processes")


def set_threads(threads: int) -> int:
    """Set torch's intra-op threads (0: all cores) and return the number in force."""
    import torch

    torch.set_num_threads(threads or os.cpu_count() or 1)
    return torch.get_num_threads()


def timing_threads(requested: int) -> int:
    """Torch threads to time a model on: `requested`, or (0) every core, but one thread on machines with 2 cores or
    fewer. Why: there, timing on both cores shares them with everything else (the app, the store's writes, the
    operating system) and the host's scheduling of the two vCPUs; on the 2-core VM, the workshop run's speedups
    measured in two invocations moved up to 12.7% on two threads (the int8 ones most; 25 of 50 checks within 5% over
    five pairs) and at most 4.8% on one (benchmarks/results/bench_repeat_malloc3.json, _malloc3_threads1.json)."""
    cores = os.cpu_count() or 1
    return requested or (1 if cores <= 2 else cores)


def threads_per_process(threads: int, processes: int) -> int:
    """Torch threads for each of `processes` on this machine: `threads`, or (0) the cores shared out among them."""
    return threads or max(1, (os.cpu_count() or 1) // max(1, processes))


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX: AMD Zen 4, Intel Sapphire Rapids and
    later). Elsewhere torch emulates bf16 on CPU, slower than fp32."""
    import torch

    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(check is not None and bool(check()) for check in checks)


def resolve_precision(precision: str, device: str) -> str:
    """fp32 | bf16 | fp16 for a config's `precision` on `device`. auto: bf16 on a GPU that supports it, else fp16
    on a GPU; on CPU bf16 where the CPU has it in hardware (the workshop preset trained 1.4-1.6x faster than in fp32
    on a 2-core AMD EPYC), else fp32. fp16 on CPU raises DistillLabError. Only the training loops autocast (their
    validation checks included); the teacher's soft targets, the final evaluation and measurement stay fp32."""
    import torch

    cuda = device.startswith("cuda")
    if precision == "auto":
        if not cuda:
            return "bf16" if cpu_has_native_bf16() else "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp16" and not cuda:
        raise DistillLabError("fp16 needs a GPU; allowed on CPU: auto | fp32 | bf16", "precision")
    return precision
