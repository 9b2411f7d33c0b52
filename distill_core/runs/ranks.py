"""A run on several processes: the process that runs it (a worker, or the CLI's foreground run) becomes the main one
and starts the others as `python -m distill_core.runs.rank_entry RUN_DIR`, with the torch.distributed environment
(RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT...) set the way `accelerate launch` and `torchrun` set it. Accelerate
then joins them into one DDP group (training/parallel.py).

The others read the run's config.json, run the same pipeline on their share of every batch, write nothing and end
with the main one. Their output goes to the main one's stderr (a worker's log). A process that dies breaks the group:
the others' next collective fails, so the run fails with that error instead of hanging (at worst after
parallel.GROUP_TIMEOUT_S, when one dies before the group forms).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from distill_core.core.atomic import write_json
from distill_core.core.config import RunConfig
from distill_core.core.device import threads_per_process
from distill_core.core.environ import environ_set
from distill_core.runs.children import PACKAGE_ROOT, child_env

STOP_GRACE_S = 30.0  # seconds the others get to end after the main one before they are killed


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_env(rank: int, world: int, port: int, threads: int) -> dict[str, str]:
    """The torch.distributed variables for process `rank` of `world` on this machine."""
    return {"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_WORLD_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": str(threads)}


@contextmanager
def as_main(config: RunConfig, run_dir: Path) -> Iterator[list[subprocess.Popen]]:
    """Make this process the main one of `config.processes`: write config.json, start the others, set this
    process's own environment; on exit restore it and reap the others (killed after STOP_GRACE_S)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", config.to_dict())
    port, world, threads = free_port(), config.processes, threads_per_process(config.threads, config.processes)
    others = []
    try:
        for rank in range(1, world):
            env = child_env(**rank_env(rank, world, port, threads))
            others.append(subprocess.Popen([sys.executable, "-m", "distill_core.runs.rank_entry", str(run_dir)],
                                           stdin=subprocess.DEVNULL, env=env, cwd=PACKAGE_ROOT))
        with environ_set(rank_env(0, world, port, threads)):
            yield others
    finally:
        _reap(others)


def _reap(others: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in others:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
