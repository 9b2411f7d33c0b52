"""The processes one run trains on, through Hugging Face Accelerate, and the precision it trains in.

One process in fp32 (the default) is plain torch, exactly as before. Several processes (`config.processes`, started
by runs/ranks.py or by `accelerate launch` / `torchrun`, which set RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT) or
mixed precision go through `accelerate.Accelerator`: DDP over gloo on CPU, NCCL on GPUs, autocast and loss scaling.

How a step is shared: every process draws the same global batch (same seed) and trains on its own strided share of
it; DDP averages the gradients, so N processes take the steps one process would (up to dropout draws and float
order). Whatever must be the same everywhere (stop, divergence, the best checkpoint) is decided with a collective.
Only the main process writes the run store, the run folder and the caches.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import torch

GROUP_TIMEOUT_S = 300  # the longest a process waits for the others at one point (forming the group included)


def launched_world() -> int:
    """Processes in the torch.distributed environment this process was started in (1 when none)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


@dataclass
class Processes:
    """This process's place among the run's training processes; every method is a no-op for one fp32 process."""

    rank: int = 0
    world: int = 1
    precision: str = "fp32"
    accelerator: Any = None  # accelerate.Accelerator, or None for one plain fp32 process

    @classmethod
    def start(cls, device: str, precision: str = "fp32") -> "Processes":
        """Join the launched processes (if any) on `device` ("cpu" or "cuda") in `precision` (resolved)."""
        if launched_world() == 1 and precision == "fp32":
            return cls()
        from datetime import timedelta

        from accelerate import Accelerator
        from accelerate.utils import InitProcessGroupKwargs

        accelerator = Accelerator(cpu=not device.startswith("cuda"),
                                  mixed_precision="no" if precision == "fp32" else precision,
                                  kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(seconds=GROUP_TIMEOUT_S))])
        return cls(accelerator.process_index, accelerator.num_processes, precision, accelerator)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def device(self) -> str | None:
        """The GPU this process trains on ("cuda:1" for the second one), or None to keep the run's device."""
        if self.accelerator is None or self.world == 1 or self.accelerator.device.type != "cuda":
            return None
        return str(self.accelerator.device)

    def share(self, items):
        """This process's strided share of `items` (a list, array or tensor): items[rank::world]."""
        return items if self.world == 1 else items[self.rank::self.world]

    def wrap(self, module: torch.nn.Module, optimizer=None):
        """(module, optimizer) prepared for training here: DDP across processes, autocast for mixed precision.
        Train through the returned module; read and save weights through the original one."""
        if self.accelerator is None:
            return module, optimizer
        if optimizer is None:
            return self.accelerator.prepare(module), None
        return self.accelerator.prepare(module, optimizer)

    def unwrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """The plain module of a wrapped one, with its own forward (no autocast) restored."""
        if self.accelerator is None:
            return module
        return self.accelerator.unwrap_model(module, keep_fp32_wrapper=False)

    def autocast(self):
        """A context for forward passes in the run's precision (nothing for fp32)."""
        if self.accelerator is None or self.precision == "fp32":
            return contextlib.nullcontext()
        return self.accelerator.autocast()

    def backward(self, loss: torch.Tensor) -> None:
        if self.accelerator is None:
            loss.backward()
        else:
            self.accelerator.backward(loss)

    def clip_grad_norm(self, params, max_norm: float) -> None:
        if self.accelerator is None:
            import torch

            torch.nn.utils.clip_grad_norm_(params, max_norm)
        else:
            self.accelerator.clip_grad_norm_(params, max_norm)

    def any(self, flag: bool) -> bool:
        """True on every process when `flag` is True on at least one (a collective: all must call it)."""
        if self.world == 1:
            return bool(flag)
        import torch

        t = torch.tensor([1.0 if flag else 0.0], device=self.accelerator.device)
        return bool(self.accelerator.reduce(t, reduction="sum").item() > 0)

    def gather(self, obj) -> list:
        """Every process's `obj`, in rank order, on every process (a collective)."""
        if self.world == 1:
            return [obj]
        from accelerate.utils import gather_object

        return list(gather_object([obj]))

    def rows(self, n: int, compute: Callable[[list[int]], Any]) -> Any:
        """`compute(indices)` -> a (len(indices), ...) tensor, or a tuple of them, over rows 0..n-1, each process
        computing its strided share; the whole result, rows in order, on every process."""
        if self.world == 1 or n < self.world:
            return compute(list(range(n)))
        import torch

        mine = compute(list(range(n))[self.rank::self.world])
        single = isinstance(mine, torch.Tensor)
        parts = self.gather(tuple(t.cpu() for t in ((mine,) if single else mine)))
        whole = []
        for field, first in enumerate(parts[0]):
            out = torch.empty((n, *first.shape[1:]), dtype=first.dtype)
            for rank, part in enumerate(parts):
                out[rank::self.world] = part[field]
            whole.append(out)
        return whole[0] if single else tuple(whole)

    def main_first(self, work: Callable[[], Any]) -> Any:
        """Run `work` on the main process while the others wait, then return the main's result everywhere (work
        that writes a cache: the others read what it wrote)."""
        if self.world == 1:
            return work()
        result = work() if self.is_main else None
        return self.gather(result)[0]

    def stop_check(self, local: Callable[[], bool] | None) -> Callable[[], bool] | None:
        """A stop check for every process: True on all at once when the main process's `local` says so. Every
        process must call it at the same points (it is a collective)."""
        if self.world == 1:
            return local
        return lambda: self.any(self.is_main and local is not None and bool(local()))

    def wait(self) -> None:
        if self.world > 1:
            self.accelerator.wait_for_everyone()

    def close(self) -> None:
        """Leave the process group (after the last collective) and forget Accelerate's per-process state, so the
        next run in this process (a test session, a second CLI run) starts its own group and precision."""
        if self.accelerator is None:
            return
        import torch
        from accelerate.state import AcceleratorState

        if self.world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        AcceleratorState._reset_state(reset_partial_state=True)  # Accelerate's own reset (used by its tests)


SINGLE = Processes()
