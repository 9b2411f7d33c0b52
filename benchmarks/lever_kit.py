"""What the lever benchmarks (bench_levers.py, bench_lm_levers.py) share: their command line, the environment of
each lever's `distill-lab run` process, and their data and run folders."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lever_parser(description: str, preset: str, levers: list[str]) -> argparse.ArgumentParser:
    """--preset, --lever (repeatable), --set, --home, --quick and --out."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--preset", default=preset)
    parser.add_argument("--lever", action="append", choices=levers,
                        help="repeat to pick levers (default: all, in the order listed)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="more overrides, every lever")
    parser.add_argument("--home", help="data folder (default: a new temporary one, so the first run is fresh)")
    parser.add_argument("--quick", action="store_true", help="tiny data and budget: checks the script, not the idea")
    parser.add_argument("--out", help="folder for the JSON (default benchmarks/results; --quick: the temp folder)")
    return parser


def lever_env(home: Path) -> dict:
    """The environment of a lever's run: this data folder, offline, this checkout importable."""
    return dict(os.environ, DISTILL_LAB_HOME=str(home), HF_HUB_OFFLINE="1",
                PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def lever_folders(args, prefix: str) -> tuple[Path, Path]:
    """(data folder: --home or a new temporary one, a new temporary folder for the runs); prints both and the load."""
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix=f"{prefix}-home-"))
    runs = Path(tempfile.mkdtemp(prefix=f"{prefix}-runs-"))
    print(f"load average before: {os.getloadavg()}; data folder {home}; runs in {runs}", flush=True)
    return home, runs


def run_preset(preset: str, sets: list[str], run_dir: Path, home: Path, lever: str) -> dict:
    """`distill-lab run --preset PRESET --run-dir RUN_DIR --set ...` in a fresh process, its output in RUN_DIR.log:
    {"results": results.json, "wall_s", "load_before", "load_after"}. Exits naming the log when the run fails."""
    command = [sys.executable, "-m", "distill_core.cli", "run", "--preset", preset, "--run-dir", str(run_dir)]
    for item in sets:
        command += ["--set", item]
    load_before, started = os.getloadavg(), time.perf_counter()
    with run_dir.with_suffix(".log").open("w") as log:
        done = subprocess.run(command, env=lever_env(home), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"lever {lever} failed; its output is in {run_dir.with_suffix('.log')}")
    wall, load_after = time.perf_counter() - started, os.getloadavg()
    return {"results": json.loads((run_dir / "results.json").read_text()), "wall_s": wall,
            "load_before": load_before, "load_after": load_after}


def run_levers(args, levers: list[str], run_lever, home: Path, runs: Path, line) -> list[dict]:
    """`run_lever(args, lever, home, runs)` for each lever asked for (--lever; default all, in order), printing
    `line(row)` after each; the rows."""
    rows = []
    for lever in args.lever or levers:
        rows.append(run_lever(args, lever, home, runs))
        print(line(rows[-1]), flush=True)
    return rows
