"""Issue 14: a run's independent trainings two at once (one thread each, runs/fits.py) against one at a time (two
threads each), side by side on one data folder.

Usage (run it alone on a quiet machine; reuse a data folder whose teacher is cached to skip the fine-tune):
    .venv/bin/python benchmarks/bench_fits.py --home /tmp/dlf

The preset as it ships (default reviews-sentiment: 3 seeds, 2 learning-rate candidates, 8 trainings), without the
measurement, run in a fresh process per setting and per repeat, alternating the settings (at-once, one-at-a-time,
at-once, ...) so that a slow spell of the host falls on both: `threads=0` (auto: two at once on a 2-core machine)
against `threads=2` (one at a time, each on both cores). Prints per run the students' and controls' training
seconds, the whole run's wall seconds, test accuracies and the gain; the median ratio of training seconds; the load
average and a speed probe before and after. JSON: benchmarks/results/bench_fits.json (or --out).
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

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS = {"at-once": 0, "one-at-a-time": 2}  # setting -> config threads


def _run(args, threads: int, run_dir: Path, home: Path) -> dict:
    command = [sys.executable, "-m", "distill_core.cli", "run", "--preset", args.preset, "--run-dir", str(run_dir),
               "--set", "measure=false", "--set", f"threads={threads}"]
    env = dict(os.environ, DISTILL_LAB_HOME=str(home), HF_HUB_OFFLINE="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    r = json.loads((run_dir / "results.json").read_text())
    t, q = r["timings"], r["quality"]
    return {"threads": threads, "wall_s": wall, "student_train_s": t.get("student_train_s"),
            "control_train_s": t.get("control_train_s"), "evaluate_s": t.get("evaluate_s"),
            "trainings_at_once": r["training"].get("trainings_at_once", 1),
            "student_accuracy": q["variants"]["student"]["accuracy"],
            "control_accuracy": q["variants"]["control"]["accuracy"],
            "seeds": r["training"]["seeds"], "gain": (q.get("gain") or {}).get("mean"),
            "gain_interval": (q.get("gain") or {}).get("interval")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="reviews-sentiment")
    parser.add_argument("--repeats", type=int, default=1, help="runs per setting, alternating")
    parser.add_argument("--home", help="data folder (default: a new temporary one, whose first run fine-tunes the "
                                       "teacher: a warm-up run, not counted)")
    parser.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    args = parser.parse_args()
    from distill_core.measure.conditions import load_average, speed_probe_ms

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="bench-fits-"))
    work = Path(tempfile.mkdtemp(prefix="bench-fits-runs-"))
    before = {"load": load_average(), "probe_ms": speed_probe_ms()}
    print(f"load average before: {before['load']}, speed probe {before['probe_ms']:.2f} ms; data folder {home}",
          flush=True)
    if not args.home:
        _run(args, 0, work / "warm-up", home)
    rows = []
    for i in range(args.repeats):
        for name, threads in SETTINGS.items():
            row = {"setting": name, "repeat": i, "probe_ms_before": speed_probe_ms(), "load_before": load_average()}
            row |= _run(args, threads, work / f"{name}-{i}", home)
            rows.append(row)
            print(f"{name:>14} #{i}: {row['wall_s']:.0f} s", flush=True)
    after = {"load": load_average(), "probe_ms": speed_probe_ms()}
    print(f"{'setting':>14} {'at once':>7} {'students s':>10} {'controls s':>10} {'wall s':>7} {'student':>8} "
          f"{'control':>8} {'gain':>6} {'probe ms':>8}")
    for r in rows:
        print(f"{r['setting']:>14} {r['trainings_at_once']:>7} {r['student_train_s']:>10.1f} "
              f"{r['control_train_s']:>10.1f} {r['wall_s']:>7.1f} {r['student_accuracy']:>8.4f} "
              f"{r['control_accuracy']:>8.4f} {r['gain'] * 100:>+6.2f} {r['probe_ms_before']:>8.2f}")
    train = {name: [r["student_train_s"] + r["control_train_s"] for r in rows if r["setting"] == name]
             for name in SETTINGS}
    ratio = statistics.median(train["at-once"]) / statistics.median(train["one-at-a-time"])
    print(f"training seconds, two at once over one at a time (medians): {ratio:.3f}")
    print(f"load average after: {after['load']}, speed probe {after['probe_ms']:.2f} ms")
    out_dir = Path(args.out) if args.out else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {"machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                          "processor": platform.processor()}, "args": vars(args), "before": before,
              "after": after, "rows": rows, "training_ratio": ratio}
    (out_dir / "bench_fits.json").write_text(json.dumps(record, indent=2))
    print(f"wrote {out_dir / 'bench_fits.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
