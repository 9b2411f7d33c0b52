"""What machine a measurement ran on, and how fast it can multiply matrices.

Every benchmark result carries a MachineRecord, so figures from two machines are never silently compared. The fp32
matmul peak is measured once per machine (and thread count) and cached under the data folder's cache/machine/.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, fields

from distill_core.core.atomic import write_json
from distill_core.core.home import cache_dir


@dataclass
class MachineRecord:
    """CPU, GPU, OS and library versions of the process that measured."""

    cpu_model: str
    physical_cores: int | None
    logical_cores: int
    threads: int  # torch intra-op threads in force when measured
    gpu: str | None  # CUDA device name, None on CPU
    cuda: str | None  # CUDA runtime version torch was built with
    os: str
    python: str
    torch: str
    transformers: str
    torchao: str | None  # None when torchao is not installed

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "MachineRecord":
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})

    def key(self) -> str:
        """A short id of the hardware and torch build (not of the thread count)."""
        text = json.dumps([self.cpu_model, self.physical_cores, self.logical_cores, self.gpu, self.torch])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _package_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def machine_record(device: str = "cpu") -> MachineRecord:
    """The record of this process: call it after setting torch's threads."""
    import psutil
    import torch

    gpu = torch.cuda.get_device_name() if device.startswith("cuda") and torch.cuda.is_available() else None
    return MachineRecord(
        cpu_model=cpu_model(),
        physical_cores=psutil.cpu_count(logical=False),
        logical_cores=os.cpu_count() or 1,
        threads=torch.get_num_threads(),
        gpu=gpu,
        cuda=torch.version.cuda if gpu else None,
        os=f"{platform.system()} {platform.release()} ({platform.machine()})",
        python=platform.python_version(),
        torch=torch.__version__,
        transformers=_package_version("transformers") or "missing",
        torchao=_package_version("torchao"),
    )


def measure_matmul_peak(device: str = "cpu", n: int = 2048, reps: int = 3) -> float:
    """Best-of-`reps` fp32 GFLOP/s of an n x n x n matmul (2 n^3 FLOPs) with the threads in force."""
    import torch

    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    torch.mm(a, b)  # warm-up: allocations, thread pool, cuBLAS handle
    best = float("inf")
    for _ in range(reps):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        torch.mm(a, b)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def matmul_peak(device: str = "cpu", threads: int | None = None, n: int = 2048, reps: int = 3,
                refresh: bool = False) -> dict:
    """This machine's fp32 matmul peak, {gflops_per_s, n, reps, threads, device, measured_at}, cached per machine,
    device and thread count. Sets torch's threads to `threads` while measuring and restores them after."""
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        record = machine_record(device)
        path = cache_dir("machine") / f"matmul-peak-{record.key()}-{device.split(':')[0]}-{record.threads}t-n{n}.json"
        if path.exists() and not refresh:
            try:
                return json.loads(path.read_text())
            except (OSError, ValueError):
                pass  # unreadable cache: measure again
        peak = {"gflops_per_s": measure_matmul_peak(device, n, reps), "n": n, "reps": reps,
                "threads": record.threads, "device": device, "cpu_model": record.cpu_model, "gpu": record.gpu,
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_json(path, peak)
        return peak
    finally:
        torch.set_num_threads(previous)
