"""Issue 14: teacher preparation with the frozen blocks' outputs computed once (and the run's texts labeled in the
same pass) against the same fine-tune running its frozen blocks every time, each from a fresh data folder.

Usage (run it alone on a quiet machine; each run fine-tunes the teacher, ~2-3 min on 2 cores):
    .venv/bin/python benchmarks/bench_teacher_prep.py [--preset reviews-sentiment] [--repeats 1]

Each run is the preset's first part only (one seed, no control, no measurement, one student step, no learning-rate
candidates) in a fresh process and data folder, alternating the settings so that a slow spell of the host falls on
all: "stored" (as shipped), "recomputed" (teacher.FEATURE_MEMORY_CAP = 0: no room for the stored outputs, so
every step, validation and labeling pass runs the frozen blocks, in eval mode) and "dropout" (recomputed, and the
frozen parts in train mode with their dropout on, as before issue 14's last stop). Prints the
fine-tune seconds, the labeling seconds, their sum, the teacher's validation and test accuracy; the load average and
a speed probe before and after. JSON: benchmarks/results/bench_teacher_prep.json (or --out).
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
SETTINGS = ("stored", "recomputed", "dropout")

CHILD = """
import json, sys
from distill_core.tasks.classification import teacher
from distill_core.tasks.presets import get_preset
from distill_core.runs.pipeline import run_experiment
if sys.argv[1] in ("recomputed", "dropout"):
    teacher.FEATURE_MEMORY_CAP = 0
if sys.argv[1] == "dropout":  # as before: the frozen parts ran in train mode, dropout on
    import contextlib
    teacher.frozen_in_eval = lambda *args, **kwargs: contextlib.nullcontext()
config = get_preset(sys.argv[2]).replace(seeds=1, control=False, measure=False, learning_rate_candidates=[])
config = config.replace(budget=config.budget.__class__(unit="steps", value=1, eval_every=config.budget.eval_every))
run_experiment(config, sys.argv[3])
"""


def _run(setting: str, preset: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-teacher-prep-") as tmp:
        home, run_dir = Path(tmp) / "home", Path(tmp) / "run"
        env = dict(os.environ, DISTILL_LAB_HOME=str(home), HF_HUB_OFFLINE="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", CHILD, setting, preset, str(run_dir)], check=True, env=env, cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        r = json.loads((run_dir / "results.json").read_text())
    info = r["teacher"]["info"]
    t = r["timings"]
    labeled = (info.get("labeled") or {}).get("seconds", 0.0)
    prepare = t.get("teacher_prepare_s", 0.0)
    return {"setting": setting, "wall_s": wall, "teacher_prepare_s": prepare, "labeling_s": labeled,
            "teacher_outputs_s": t.get("teacher_outputs_s", 0.0),
            "teacher_total_s": prepare + t.get("teacher_outputs_s", 0.0),
            "frozen_features": info.get("frozen_features"), "val_accuracy": info.get("val_accuracy"),
            "test_accuracy": r["quality"]["variants"]["teacher"]["accuracy"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="reviews-sentiment")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS / "bench_teacher_prep.json"))
    args = parser.parse_args()
    from distill_core.measure.conditions import load_average, speed_probe_ms

    before = {"load": load_average(), "probe_ms": speed_probe_ms()}
    runs = [_run(setting, args.preset) for _ in range(args.repeats) for setting in SETTINGS]
    after = {"load": load_average(), "probe_ms": speed_probe_ms()}
    print(f"{'setting':11s} {'fine-tune s':>11s} {'labeling s':>10s} {'outputs s':>9s} {'teacher s':>9s} "
          f"{'val acc':>8s} {'test acc':>8s}")
    for r in runs:
        print(f"{r['setting']:11s} {r['teacher_prepare_s']:11.1f} {r['labeling_s']:10.1f} "
              f"{r['teacher_outputs_s']:9.1f} {r['teacher_total_s']:9.1f} {r['val_accuracy']:8.2%} "
              f"{r['test_accuracy']:8.2%}")
    medians = {s: statistics.median(r["teacher_total_s"] for r in runs if r["setting"] == s) for s in SETTINGS}
    ratio = medians["stored"] / medians["recomputed"]
    print("teacher preparation + labeling (median s): " + ", ".join(f"{s} {m:.1f}" for s, m in medians.items()) +
          f"; stored / recomputed {ratio:.2f}x, stored / dropout {medians['stored'] / medians['dropout']:.2f}x")
    print(f"load before {before['load']}, after {after['load']}; probe {before['probe_ms']:.2f} / "
          f"{after['probe_ms']:.2f} ms")
    out = {"preset": args.preset, "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
           "before": before, "after": after, "runs": runs, "median_teacher_s": medians, "ratio": ratio}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
