"""Every recorded bench_repeat pair at a glance: are the misses noise the intervals describe, or a changed host?

Usage:  .venv/bin/python benchmarks/bench_repeat_summary.py [--glob 'bench_repeat_*']
Reads benchmarks/results/NAME_1.bench.json and NAME_2.bench.json of every pair (measures nothing). Per pair: timing
threads and rounds, seconds per command (the harness's), speedups within 5% of the first (bench_repeat.PAIRS at
batch 1 and 32, as bench_repeat.py checks them), student vs control within 3% in both, and how far each speedup
moved in units of the two measurements' own intervals: z = log(ratio2 / ratio1) / sqrt(se1^2 + se2^2),
se = log(high / low) / 3.92. If the intervals describe the noise, |z| has a median near 0.67 (a normal's) and
exceeds 1.96 one time in 20; much larger values mean the host changed between the two commands. Writes
benchmarks/results/bench_repeat_summary.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_repeat import RESULTS, speedup_pairs  # noqa: E402  (the pairs that script checks)
from distill_core.measure import comparisons  # noqa: E402


def pair_summary(first: dict, second: dict) -> dict:
    """Checks and z values of one pair of bench.json records."""
    moved, zs = [], []
    for *_, b, a in speedup_pairs(first, second, (1, 32)):
        moved.append(b["ratio"] / a["ratio"] - 1)
        se = [math.log(x["high"] / x["low"]) / 3.92 for x in (a, b)]
        if min(se) > 0:
            zs.append(math.log(b["ratio"] / a["ratio"]) / math.hypot(*se))
    same = [comparisons.find(x, "control", "student", "real", batch) for x in (first, second) for batch in (1, 32)]
    same = [c["ratio"] - 1 for c in same if c]
    conditions = first.get("conditions") or {}
    return {"threads": first["config"].get("threads"), "rounds": conditions.get("rounds"),
            "harness_seconds": [first.get("wall_seconds"), second.get("wall_seconds")],
            "speedups_within_5": sum(abs(m) <= 0.05 for m in moved), "speedups": len(moved),
            "largest_move": max((abs(m) for m in moved), default=None),
            "student_vs_control_within_3": sum(abs(s) <= 0.03 for s in same), "student_vs_control": len(same),
            "median_abs_z": float(np.median(np.abs(zs))) if zs else None,
            "share_abs_z_over_1_96": float(np.mean(np.abs(zs) > 1.96)) if zs else None, "z": zs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glob", default="bench_repeat_*", help="pair names under benchmarks/results")
    args = parser.parse_args()
    rows = {}
    for path in sorted(RESULTS.glob(f"{args.glob}_1.bench.json")):
        name = path.name[:-len("_1.bench.json")]
        second = path.with_name(f"{name}_2.bench.json")
        if second.exists():
            rows[name] = pair_summary(json.loads(path.read_text()), json.loads(second.read_text()))
    print(f"{'pair':<34} {'threads':>7} {'rounds':>6} {'harness s':>12} {'speedups <=5%':>14} {'s vs c <=3%':>12} "
          f"{'median |z|':>10} {'|z|>1.96':>8}")
    for name, r in rows.items():
        walls = ", ".join(f"{w:.0f}" for w in r["harness_seconds"] if w)
        print(f"{name:<34} {str(r['threads']):>7} {str(r['rounds']):>6} {walls:>12} "
              f"{r['speedups_within_5']:>6} of {r['speedups']:<5} {r['student_vs_control_within_3']:>5} of "
              f"{r['student_vs_control']:<4} {r['median_abs_z'] or float('nan'):>10.2f} "
              f"{r['share_abs_z_over_1_96'] or 0:>8.2f}")
    by_threads: dict[str, list[float]] = {}
    for r in rows.values():
        by_threads.setdefault("one thread" if r["threads"] == 1 else "two threads or all", []).extend(r["z"])
    for label, zs in by_threads.items():
        z = np.abs(zs)
        print(f"{label}: {len(z)} speedups, median |z| {np.median(z):.2f} (normal 0.67), |z| > 1.96 in "
              f"{np.mean(z > 1.96):.0%} (normal 5%)")
    (RESULTS / "bench_repeat_summary.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
