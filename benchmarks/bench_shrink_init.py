"""Issue 15: does a narrower `shrink` student learn more when it starts from weights selected from the teacher?

Usage (run it alone on a quiet machine; minutes per run at full size):
    .venv/bin/python benchmarks/bench_shrink_init.py
A smoke test of the script itself (tiny data, a few steps; its numbers mean nothing):
    .venv/bin/python benchmarks/bench_shrink_init.py --quick

The workshop preset (`reviews-sentiment`: MiniLM fine-tuned on the reviews, its budget, seeds and transfer text)
with the student replaced by `student.kind=shrink`, 2 layers, width 192 (6 heads of MiniLM's 32 dims, 768
feed-forward neurons), once per `student.init_from` (random, then teacher) with the same seeds. Each is one
`distill-lab run --run-dir` in a fresh process on the same data folder, so the teacher is fine-tuned once (during the
first run; its time is in that run's wall seconds, not in the training seconds). Per init it prints the student's and
the control's test accuracy (mean over the seeds; the control has the same init, data and steps, hard labels only),
the distillation gain with its 95% interval and verdict, and the training seconds. Load average before and after
each run and the whole results go in benchmarks/results/bench_shrink_init.json (--quick: in its temporary folder,
unless --out).
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
INITS = ("random", "teacher")
# --quick: 128 labeled reviews, 64 transfer texts, a 1-epoch teacher fine-tune, 6 steps, one seed, 64 tokens.
QUICK_SETS = ["data.max_train_examples=128", "data.transfer_limit=64", "teacher.finetune_epochs=1.0",
              "budget.unit=steps", "budget.value=6", "budget.eval_every=3", "seeds=1", "batch_size=16",
              "max_length=64"]


def _run(args, init: str, run_dir: Path, home: Path) -> dict:
    """One `distill-lab run` in a fresh process: its results.json plus wall seconds and load averages."""
    sets = ["student.kind=shrink", f"student.num_layers={args.layers}", f"student.hidden_size={args.width}",
            f"student.init_from={init}", f"seed={args.seed}", "measure=false", f"device={args.device}"]
    sets += QUICK_SETS if args.quick else []
    sets += [f"seeds={args.seeds}"] if args.seeds else []
    sets += [f"budget.value={args.steps}", "budget.unit=steps"] if args.steps else []
    sets += args.set or []  # last: the user's own changes win
    command = [sys.executable, "-m", "distill_core.cli", "run", "--preset", args.preset, "--run-dir", str(run_dir)]
    for item in sets:
        command += ["--set", item]
    env = dict(os.environ, DISTILL_LAB_HOME=str(home), HF_HUB_OFFLINE="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    load_before = os.getloadavg()
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"run with init_from={init} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    wall = time.perf_counter() - started
    return {"results": json.loads((run_dir / "results.json").read_text()), "wall_s": wall, "sets": sets,
            "load_before": load_before, "load_after": os.getloadavg()}


def summary(init: str, run: dict) -> dict:
    """The figures one init is judged by: accuracies over the seeds, the gain and its interval, seconds."""
    r = run["results"]
    seeds = r["training"]["seeds"]
    gain = r["quality"].get("gain") or {}
    return {"init_from": init, "description": r["preflight"]["student_description"],
            "student_parameters": r["preflight"]["student"]["parameters"],
            "teacher_accuracy": r["quality"]["variants"]["teacher"]["accuracy"],
            "student_accuracy": sum(s["student"] for s in seeds) / len(seeds),
            "control_accuracy": sum(s["control"] for s in seeds) / len(seeds) if seeds[0]["control"] is not None
            else None,
            "per_seed": seeds, "gain": gain.get("mean"), "gain_interval": gain.get("interval"),
            "verdict": gain.get("verdict"), "student_train_s": r["timings"].get("student_train_s"),
            "control_train_s": r["timings"].get("control_train_s"), "wall_s": run["wall_s"],
            "load_before": run["load_before"], "load_after": run["load_after"], "sets": run["sets"]}


def table(rows: list[dict]) -> str:
    lines = [f"{'init_from':>9} {'seeds':>5} {'student acc':>11} {'control acc':>11} {'gain (95% interval)':>28} "
             f"{'verdict':>18} {'student s':>9} {'wall s':>7}"]
    for s in rows:
        control = f"{s['control_accuracy']:.4f}" if s["control_accuracy"] is not None else "-"
        gain = "-" if s["gain"] is None else f"{s['gain']:+.4f}" + (
            f" [{s['gain_interval'][0]:+.4f}, {s['gain_interval'][1]:+.4f}]" if s["gain_interval"] else "")
        lines.append(f"{s['init_from']:>9} {len(s['per_seed']):>5} {s['student_accuracy']:>11.4f} {control:>11} "
                     f"{gain:>28} {s['verdict'] or '-':>18} {s['student_train_s'] or 0:>9.1f} {s['wall_s']:>7.1f}")
    lines.append(f"teacher accuracy {rows[0]['teacher_accuracy']:.4f}; student: {rows[0]['description']} / "
                 f"{rows[-1]['description']}, {rows[0]['student_parameters']:,} parameters")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="reviews-sentiment")
    parser.add_argument("--layers", type=int, default=2, help="student depth")
    parser.add_argument("--width", type=int, default=192, help="student hidden size")
    parser.add_argument("--seed", type=int, default=0, help="the first training seed, the same for both inits")
    parser.add_argument("--seeds", type=int, help="training seeds per run (default: the preset's)")
    parser.add_argument("--steps", type=int, help="student steps per seed (default: the preset's budget)")
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other config change, both runs")
    parser.add_argument("--quick", action="store_true", help="tiny data and budget: checks the script, not the idea")
    parser.add_argument("--home", help="data folder (default: a new temporary one; reuse one to keep its teacher)")
    parser.add_argument("--out", help="folder for the JSON (default benchmarks/results; --quick: the temp folder)")
    args = parser.parse_args()

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="bench-shrink-init-"))
    work = Path(tempfile.mkdtemp(prefix="bench-shrink-init-runs-"))
    print(f"load average before: {os.getloadavg()}; data folder {home}", flush=True)
    rows = []
    for init in INITS:
        rows.append(summary(init, _run(args, init, work / init, home)))
        print(f"init_from={init}: {rows[-1]['wall_s']:.0f} s", flush=True)
    print(table(rows))
    print(f"load average after: {os.getloadavg()}")
    out_dir = Path(args.out) if args.out else (work if args.quick else RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {"machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                          "processor": platform.processor()}, "args": vars(args), "rows": rows}
    name = "bench_shrink_init_quick.json" if args.quick else "bench_shrink_init.json"
    (out_dir / name).write_text(json.dumps(record, indent=2))
    print(f"wrote {out_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
