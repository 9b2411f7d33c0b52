"""What a forward pass pays the kernel: minor page faults and system time per pass, with glibc's default malloc and
with freed memory kept (measure/allocator.py), for every variant of a run at batch 1 and 32.

Usage:  .venv/bin/python benchmarks/bench_allocator.py RUN [--home DIR] [--threads 2] [--times 2]
Each measurement is a fresh process (the allocator is set once per process): the run's pytorch variants loaded as
`distill-lab bench` loads them, the allocator kept or not, then per variant and setting a few warm passes and 40
(batch 1) or 6 (batch 32) timed passes, `resource.getrusage` around them. The two modes alternate `--times` times.
Prints a table and writes benchmarks/results/bench_allocator.json. Run it alone: no tests, no helpers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).resolve().parent / "results"
PASSES = {"real/1": 40, "real/32": 6}


def measure(run: str, threads: int, keep: bool) -> list[dict]:
    """In this process: per variant and setting, ms, minor faults and system ms per pass."""
    import torch

    from bench_probe import open_sessions  # the run's variants as `distill-lab bench` opens them
    from distill_core.measure import allocator
    from distill_core.runs.folders import resolve_run_dir

    sessions = open_sessions(resolve_run_dir(run), threads)
    described = allocator.retain_freed_memory() if keep else None
    rows = []
    with torch.inference_mode():
        for key, passes in PASSES.items():
            for name, session in sessions.items():
                batches = session.cycles[key][2]
                for i in range(2):
                    session.loaded.forward(batches[i % len(batches)])
                before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
                for i in range(passes):
                    session.loaded.forward(batches[i % len(batches)])
                after, ended = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
                rows.append({"allocator": described or "default", "setting": key, "variant": name,
                             "ms_per_pass": (ended - started) * 1000 / passes,
                             "faults_per_pass": (after.ru_minflt - before.ru_minflt) / passes,
                             "system_ms_per_pass": (after.ru_stime - before.ru_stime) * 1000 / passes})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--home", help="DISTILL_LAB_HOME for the run id")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--times", type=int, default=2)
    parser.add_argument("--child", choices=("keep", "default"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.home:
        os.environ["DISTILL_LAB_HOME"] = args.home
    if args.child:
        print(json.dumps(measure(args.run, args.threads, args.child == "keep")))
        return 0
    load_before = os.getloadavg()
    rows = []
    for i in range(args.times):
        for mode in ("default", "keep"):
            out = subprocess.run([sys.executable, __file__, args.run, "--threads", str(args.threads), "--child", mode],
                                 capture_output=True, text=True, check=True, env=os.environ)
            rows += [dict(r, repeat=i + 1, mode=mode) for r in json.loads(out.stdout.strip().splitlines()[-1])]
    load_after = os.getloadavg()
    print(f"{'#':>2} {'mode':<8} {'setting':<8} {'variant':<13} {'ms/pass':>9} {'faults/pass':>12} {'sys ms/pass':>12}")
    for r in rows:
        print(f"{r['repeat']:>2} {r['mode']:<8} {r['setting']:<8} {r['variant']:<13} {r['ms_per_pass']:>9.2f} "
              f"{r['faults_per_pass']:>12.1f} {r['system_ms_per_pass']:>12.2f}")
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; {args.threads} threads")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_allocator.json").write_text(json.dumps(
        {"run": args.run, "threads": args.threads, "rows": rows, "load_before": load_before,
         "load_after": load_after, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
