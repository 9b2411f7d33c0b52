"""Entry of a run's other training processes (started by runs/ranks.py with the torch.distributed environment set):
`python -m distill_core.runs.rank_entry RUN_DIR` reads RUN_DIR/config.json and runs the same pipeline, writing
nothing."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """One of the other processes: `python -m distill_core.runs.rank_entry RUN_DIR` with the environment set."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or "RANK" not in os.environ:
        print("usage: RANK=.. WORLD_SIZE=.. MASTER_ADDR=.. MASTER_PORT=.. python -m distill_core.runs.rank_entry RUN_DIR",
              file=sys.stderr)
        return 2
    import json

    from distill_core.core import config as config_mod
    from distill_core.runs.pipeline import run_experiment

    run_dir = Path(argv[0])
    config = config_mod.from_dict(json.loads((run_dir / "config.json").read_text()))
    try:
        run_experiment(config, run_dir)
    except Exception as exc:  # the main process records the run's outcome; here only the log says why
        print(f"process {os.environ['RANK']}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
