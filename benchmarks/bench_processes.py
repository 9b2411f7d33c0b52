"""Issue 17: one run config on 1 and on N training processes (DDP through Accelerate), and on a GPU in mixed precision.

Usage (CPU, this machine):
    .venv/bin/python benchmarks/bench_processes.py --processes 1,2
On a GPU machine (benchmarks/gpu_check.sh runs this):
    python3 benchmarks/bench_processes.py --device cuda --precision auto --processes 1 --measure --out DIR

Each setting is one `distill-lab run --run-dir` in a fresh process, one after the other, on the same data folder,
so the teacher is fine-tuned (first setting only; a warm-up run does it and is not counted) and its outputs are
computed once. Per setting it reads results.json (and bench.json with --measure) and prints: student and control
steps/s (training steps over their training seconds), seconds per phase, the student's and control's test accuracy,
and with --measure the p50 latency (95% interval) and peak memory of every variant. Load average before and after
each run goes in the JSON (benchmarks/results/bench_processes.json, or --out). Run it alone on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]


def _run(args, processes: int, run_dir: Path, home: Path, measure: bool) -> dict:
    """One `distill-lab run` in a fresh process: its results.json plus wall seconds and load averages."""
    sets = [f"budget.value={args.steps}", f"budget.eval_every={args.eval_every}", "seeds=1",
            f"measure={'true' if measure else 'false'}", f"device={args.device}"]
    command = [sys.executable, "-m", "distill_core.cli", "run", "--preset", args.preset, "--processes",
               str(processes), "--precision", args.precision, "--run-dir", str(run_dir)]
    for item in sets:
        command += ["--set", item]
    env = dict(os.environ, DISTILL_LAB_HOME=str(home), HF_HUB_OFFLINE="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    load_before = os.getloadavg()
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    results = json.loads((run_dir / "results.json").read_text())
    bench = json.loads((run_dir / "bench.json").read_text()) if measure else None
    return {"results": results, "bench": bench, "wall_s": wall, "load_before": load_before,
            "load_after": os.getloadavg()}


def summary(processes: int, run: dict) -> dict:
    """The figures one setting is judged by (steps/s, phase seconds, accuracy, latency and memory per variant)."""
    r = run["results"]
    t, training = r["timings"], r["training"]
    out = {"processes": processes, "device": r.get("device"), "precision": r.get("precision", "fp32"),
           "threads_per_process": r.get("threads"), "wall_s": run["wall_s"], "load_before": run["load_before"],
           "load_after": run["load_after"], "timings": t}
    for phase in ("student", "control"):
        steps, seconds = training[phase]["steps"], t.get(f"{phase}_train_s") or training[phase]["seconds"]
        out[f"{phase}_steps_per_s"] = steps / seconds if seconds else None
        out[f"{phase}_accuracy"] = r["quality"]["variants"][phase]["accuracy"]
    out["teacher_accuracy"] = r["quality"]["variants"]["teacher"]["accuracy"]
    if run["bench"] is not None:
        out["variants"] = {}
        for name, variant in run["bench"]["variants"].items():
            latencies = variant.get("latency") or [{}]
            lat = max(latencies, key=lambda x: x.get("batch_size") or 0)  # the largest batch (32 by default)
            out["variants"][name] = {
                "batch_size": lat.get("batch_size"), "p50_ms": lat.get("p50_ms"),
                "p50_low_ms": lat.get("p50_low_ms"), "p50_high_ms": lat.get("p50_high_ms"),
                "peak_rss_mb": ((variant.get("memory") or {}).get("delta_rss_bytes") or 0) / 2**20,
                "cuda_peak_allocated_mb": ((variant.get("memory") or {}).get("cuda_peak_allocated_bytes") or 0)
                / 2**20}
    return out


def table(rows: list[dict]) -> str:
    lines = [f"{'processes':>9} {'device':>7} {'prec':>5} {'thr':>4} {'student st/s':>12} {'control st/s':>12} "
             f"{'student acc':>11} {'control acc':>11} {'student s':>9} {'wall s':>7}"]
    for s in rows:
        lines.append(f"{s['processes']:>9} {s['device']:>7} {s['precision']:>5} {s['threads_per_process']:>4} "
                     f"{s['student_steps_per_s']:>12.2f} {s['control_steps_per_s']:>12.2f} "
                     f"{s['student_accuracy']:>11.4f} {s['control_accuracy']:>11.4f} "
                     f"{s['timings'].get('student_train_s', 0):>9.1f} {s['wall_s']:>7.1f}")
        for name, v in (s.get("variants") or {}).items():
            lines.append(f"{'':>9} {name:<14} p50 {v['p50_ms']:.2f} ms [{v['p50_low_ms']:.2f}, {v['p50_high_ms']:.2f}]"
                         f" at batch {v['batch_size']}, peak RSS +{v['peak_rss_mb']:.0f} MB"
                         + (f", CUDA peak {v['cuda_peak_allocated_mb']:.0f} MB" if v['cuda_peak_allocated_mb'] else ""))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="reviews-sentiment")
    parser.add_argument("--processes", default="1,2", help="comma-separated process counts to compare")
    parser.add_argument("--steps", type=int, default=60, help="student steps per run (the control takes as many)")
    parser.add_argument("--eval-every", type=int, default=30)
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument("--measure", action="store_true", help="also measure the variants (bench.json)")
    parser.add_argument("--home", help="data folder (default: a new temporary one; reuse one to keep its teacher)")
    parser.add_argument("--out", help="folder for the JSON (default benchmarks/results)")
    args = parser.parse_args()

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="bench-processes-"))
    work = Path(tempfile.mkdtemp(prefix="bench-processes-runs-"))
    counts = [int(x) for x in args.processes.split(",")]
    print(f"load average before: {os.getloadavg()}; data folder {home}", flush=True)
    warm = _run(args, 1, work / "warm-up", home, measure=False)  # fine-tunes and caches the teacher, not counted
    print(f"warm-up (teacher prepared and cached): {warm['wall_s']:.0f} s", flush=True)
    rows = []
    for n in counts:
        rows.append(summary(n, _run(args, n, work / f"p{n}", home, args.measure)))
        print(f"{n} process(es): {rows[-1]['wall_s']:.0f} s", flush=True)
    print(table(rows))
    print(f"load average after: {os.getloadavg()}")
    out_dir = Path(args.out) if args.out else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {"machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                          "processor": platform.processor()},
              "args": vars(args), "warm_up_s": warm["wall_s"], "rows": rows}
    name = "bench_processes_gpu.json" if args.device == "cuda" else "bench_processes.json"
    (out_dir / name).write_text(json.dumps(record, indent=2))
    print(f"wrote {out_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
