"""Issue 6 and 14 targets on the SmolLM2 preset: teacher cached load, distill + control + measurement time, held-out
perplexity of student vs control vs teacher (the student within 2.5x the teacher's), student decode speed against
the teacher's, and whether the student's greedy continuations of held-out starts loop more than the teacher's.

Usage:  .venv/bin/python benchmarks/bench_lm.py [--preset smollm2-reviews] [--set k=v ...] [--home DIR]
Prints a table, writes benchmarks/results/bench_lm.json. By default the run uses a fresh temporary data folder that
borrows the converted SmolLM2 folder from your data folder (converting it first if needed, timed), so the teacher's
top-k outputs are computed (and timed) inside the run, not read from an earlier run's cache.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from distill_core.cli import apply_overrides  # noqa: E402
from distill_core.core.home import data_home  # noqa: E402
from distill_core.measure.isolation import run_in_fresh_process  # noqa: E402
from distill_core.tasks.causal_lm import bench as lm_bench  # noqa: E402
from distill_core.tasks.causal_lm import repetition  # noqa: E402
from distill_core.tasks.causal_lm import teacher as lm_teacher  # noqa: E402
from distill_core.tasks.causal_lm.bench_session import _import_model_code  # noqa: E402
from distill_core.tasks.presets import get_preset  # noqa: E402
from distill_core.views.tables import quality_table  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def timed_load(ref: str) -> dict:
    """In a fresh process: seconds to import the libraries and the model's code (as the measurement harness does
    before its memory baseline), then to load the teacher's weights and tokenizer from the fp32 folder."""
    started = time.perf_counter()
    _import_model_code(ref, False, False)
    imported = time.perf_counter()
    model = lm_teacher.load_causal_lm(ref)
    lm_teacher.load_tokenizer(ref)
    loaded = time.perf_counter()
    return {"import_s": imported - started, "load_s": loaded - imported,
            "parameters": sum(p.numel() for p in model.parameters())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="smollm2-reviews")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--home", help="run in this data folder (its caches are reused) instead of a fresh one")
    args = parser.parse_args()
    load_before = os.getloadavg()

    cfg = apply_overrides(get_preset(args.preset), args.set)
    user_home = data_home()
    started = time.perf_counter()
    ref = lm_teacher.resolve(cfg.teacher.model, print)  # converts a preset once, in the user's data folder
    conversion_s = time.perf_counter() - started
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="distill-bench-lm-"))
    if not args.home:  # borrow the converted models and the machine's matmul peak; nothing else
        (home / "cache").mkdir(parents=True, exist_ok=True)
        for kind in ("models", "machine"):
            if (user_home / "cache" / kind).is_dir():
                os.symlink(user_home / "cache" / kind, home / "cache" / kind)
    os.environ["DISTILL_LAB_HOME"] = str(home)

    loads = []
    for _ in range(3):
        payload, _ = run_in_fresh_process(timed_load, (ref,), cfg.threads, 300, "distill-lab-bench-load")
        if "error" in payload:
            raise SystemExit(f"teacher load failed: {payload['error']}")
        loads.append(payload)
    load_s = sorted(x["load_s"] for x in loads)[1]

    from distill_core.runs.pipeline import run_experiment

    run_dir = home / "runs" / f"bench-lm-{int(time.time())}"
    started = time.perf_counter()
    results = run_experiment(cfg, run_dir, on_progress=lambda e: e.message and print(f"[{e.phase}] {e.message}",
                                                                                     flush=True))
    run_wall = time.perf_counter() - started
    bench_data = lm_bench.format_bench_table(json.loads((run_dir / "bench.json").read_text())) \
        if cfg.measure else "(not measured)"
    measured = json.loads((run_dir / "bench.json").read_text()) if cfg.measure else {"variants": {}}
    q = results["quality"]["variants"]
    speed = lm_bench.decode_speedup(measured, "student") if cfg.measure else None
    load_after = os.getloadavg()

    targets = [
        ("teacher cached load <= 3 s (median of 3)", load_s, load_s <= 3.0),
        ("distill + control + measurement <= 600 s", run_wall, run_wall <= 600),
        ("student perplexity < control perplexity", q["student"]["perplexity"] - q["control"]["perplexity"],
         q["student"]["perplexity"] < q["control"]["perplexity"]),
        ("student decode tok/s >= 2x teacher", speed or float("nan"), bool(speed and speed >= 2.0)),
        ("student perplexity <= 2.5x teacher's", q["student"]["perplexity"] / q["teacher"]["perplexity"],
         q["student"]["perplexity"] <= 2.5 * q["teacher"]["perplexity"]),
    ]
    loops = (measured.get("repetition") or {}).get("student")
    if loops:  # the student's held-out continuations repeat no more 4-grams than the teacher's (repetition.py)
        targets.append(("student repeated 4-grams - teacher's (held-out)", loops["difference"],
                        loops["verdict"] != repetition.MORE))
    print()
    print(quality_table(results))
    print()
    print(bench_data)
    print(f"\nteacher: conversion this time {conversion_s:.1f} s (0 when already converted); cached load "
          f"{[round(x['load_s'], 2) for x in loads]} s after importing transformers "
          f"({[round(x['import_s'], 2) for x in loads]} s)")
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}; run wall {run_wall:.0f} s")
    print(f"\n{'target':<44}{'measured':>12}  result")
    for name, value, ok in targets:
        print(f"{name:<44}{value:>12.3f}  {'PASS' if ok else 'FAIL'}")

    RESULTS.mkdir(exist_ok=True)
    out = {"preset": args.preset, "overrides": args.set, "config": cfg.to_dict(), "quality": results["quality"],
           "timings": results["timings"], "run_wall_s": run_wall, "teacher_conversion_s": conversion_s,
           "teacher_loads": loads, "teacher_load_s": load_s, "bench": measured,
           "load_average": {"before": load_before, "after": load_after},
           "targets": [{"target": n, "measured": v, "pass": ok} for n, v, ok in targets]}
    (RESULTS / "bench_lm.json").write_text(json.dumps(out, indent=2, default=float))
    print(f"\nwrote {RESULTS / 'bench_lm.json'}")
    if not args.home:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
