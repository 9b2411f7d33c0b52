"""Issue 16: a 6-trial sweep of the workshop preset (temperature x depth) against the same runs started one by one.

Usage (run it alone on a quiet machine):
    .venv/bin/python benchmarks/bench_sweep.py                       # sweep on the local queue vs one by one
    .venv/bin/python benchmarks/bench_sweep.py --modes sweep,one-by-one,ray

Every mode starts from its own empty data folder (a cold teacher cache), so each pays for the teacher once:
- sweep: `distill-lab sweep start ... --wait` (the driver prepares the teacher, the trials run in the local queue);
- one-by-one: `distill-lab run --config TRIAL.json` for each of the same trial configs, one after the other (the
  first fine-tunes the teacher, the rest find it cached, as a user clicking Start six times would);
- ray: the sweep with `--ray` (a Ray instance started on this machine, 1 CPU and 1 thread per trial: two trials at
  a time on 2 cores).
The trials are the sweep's expansion; `--set` shrinks the preset so the whole benchmark fits in half an hour (one
seed, one learning rate, no measurement, 40 steps by default: say so when quoting it). Prints a table and writes
benchmarks/results/bench_sweep.json with wall seconds, seconds per trial, each trial's accuracies and the load
average before and after each mode.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SETS = ["seeds=1", "learning_rate_candidates=[]", "measure=false", "budget.value=40"]
DEFAULT_AXES = ["loss.temperature=1,2,4", "student.num_layers=1,2"]


def _env(home: Path) -> dict:
    return dict(os.environ, DISTILL_LAB_HOME=str(home), HF_HUB_OFFLINE="1", RAY_USAGE_STATS_ENABLED="0",
                PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def _cli(args: list[str], home: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "distill_core.cli", *args], env=_env(home), cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"distill-lab {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def _flags(args) -> list[str]:
    out = ["--preset", args.preset]
    for item in args.set:
        out += ["--set", item]
    return out


def _axis_flags(args) -> list[str]:
    return [flag for axis in args.axis for flag in ("--axis", axis)]


def _trial_runs(home: Path) -> list[dict]:
    """Every run of the data folder, oldest first: wall seconds in the store, accuracies, teacher cache hits."""
    os.environ["DISTILL_LAB_HOME"] = str(home)
    from distill_core.runs import store

    out = []
    for record in reversed(store.list_runs()):
        results = json.loads((record.folder / "results.json").read_text())
        acc = results["quality"]["variants"]
        out.append({"name": record.name, "status": record.status, "seconds": record.finished - record.started,
                    "teacher": acc["teacher"]["accuracy"], "student": acc["student"]["accuracy"],
                    "control": acc["control"]["accuracy"], "teacher_cached": results["teacher"]["cached"],
                    "teacher_prepare_s": results["timings"].get("teacher_prepare_s"),
                    "temperature": results["config"]["loss"]["temperature"],
                    "layers": results["config"]["student"]["num_layers"]})
    return out


def run_mode(mode: str, args) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"bench-sweep-{mode}-"))
    load_before = os.getloadavg()
    started = time.perf_counter()
    if mode in ("sweep", "ray"):
        extra = ["--ray", "--cpus-per-trial", "1"] if mode == "ray" else []
        _cli(["sweep", "start", *_flags(args), *_axis_flags(args), "--name", f"bench {mode}", "--wait", *extra],
             home)
    else:
        spec_dir = home / "trial-configs"
        spec_dir.mkdir()
        os.environ["DISTILL_LAB_HOME"] = str(home)
        from distill_core.cli import apply_overrides
        from distill_core.sweeps.spec import axis_from_cli, expand, spec_from_dict
        from distill_core.tasks.presets import get_preset

        base = apply_overrides(get_preset(args.preset), args.set).to_dict()
        spec = spec_from_dict({"name": "bench one-by-one", "axes": {a.field: a for a in map(axis_from_cli, args.axis)}},
                              base=base)
        for trial in expand(spec):
            path = spec_dir / f"trial-{trial.index + 1}.json"
            path.write_text(trial.config.to_json())
            _cli(["run", "--config", str(path)], home)
    wall = time.perf_counter() - started
    trials = _trial_runs(home)
    prepared = len(list((home / "sweeps").glob("*/teacher-*")))  # teacher preparations by a sweep's driver
    return {"mode": mode, "wall_s": wall, "trials": trials, "driver_teacher_preparations": prepared,
            "load_before": load_before,
            "load_after": os.getloadavg(), "home": str(home)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="reviews-sentiment")
    parser.add_argument("--set", action="append", help=f"preset overrides (default: {' '.join(DEFAULT_SETS)})")
    parser.add_argument("--axis", action="append", help=f"sweep axes (default: {' '.join(DEFAULT_AXES)})")
    parser.add_argument("--modes", default="sweep,one-by-one")
    parser.add_argument("--out", default=str(RESULTS / "bench_sweep.json"))
    args = parser.parse_args()
    args.set = args.set or DEFAULT_SETS
    args.axis = args.axis or DEFAULT_AXES
    rows = []
    for mode in args.modes.split(","):
        print(f"[bench_sweep] {mode}: load {os.getloadavg()[0]:.2f} before", flush=True)
        rows.append(run_mode(mode.strip(), args))
        print(f"[bench_sweep] {mode}: {rows[-1]['wall_s']:.0f} s, load {os.getloadavg()[0]:.2f} after", flush=True)
    print(f"\n{args.preset} with {' '.join(args.set)}; axes {' x '.join(args.axis)}; {platform.processor() or ''} "
          f"{os.cpu_count()} logical cores")
    print(f"{'mode':<12} {'wall s':>8} {'trials':>6} {'median trial s':>15} {'teacher prepared':>17} "
          f"{'student acc (T, layers)':<60} load before/after")
    for row in rows:
        trials = row["trials"]
        tuned = sum(not t["teacher_cached"] for t in trials) + row["driver_teacher_preparations"]
        acc = " ".join(f"{t['student'] * 100:.1f}({t['temperature']:g},{t['layers']})" for t in trials)
        print(f"{row['mode']:<12} {row['wall_s']:>8.0f} {len(trials):>6} "
              f"{statistics.median(t['seconds'] for t in trials):>15.1f} {tuned:>17} {acc:<60} "
              f"{row['load_before'][0]:.2f}/{row['load_after'][0]:.2f}")
    base = rows[0]["wall_s"]
    for row in rows[1:]:
        print(f"{row['mode']} / {rows[0]['mode']}: {row['wall_s'] / base:.2f}x the wall time")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"preset": args.preset, "sets": args.set, "axes": args.axis,
                                          "machine": {"processor": platform.processor(), "cores": os.cpu_count(),
                                                      "platform": platform.platform()},
                                          "modes": rows}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
