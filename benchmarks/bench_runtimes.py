"""Issue 15 targets: every variant of a run on eager PyTorch and on ONNX Runtime, measured side by side.

Usage:  .venv/bin/python benchmarks/bench_runtimes.py RUN [--home DIR] [--bench-arg=--rounds=12 ...]
RUN is a finished run (folder or id), e.g. of `distill-lab run --preset reviews-sentiment --set measure=false`.
Three fresh `distill-lab bench RUN` commands, one after the other: `--runtimes pytorch` (the five eager variants),
then twice `--runtimes pytorch,onnxruntime` (all ten in the same interleaved rounds): the first of these exports the
ONNX files when missing (its wall time includes that), the second finds them and is the one judged. Prints per
variant: weight bytes, p50 at batch 1 and 32 (real lengths) with 95% intervals, speedup over the eager teacher at
batch 32 with its interval, accuracy; then PASS/FAIL per target. Writes benchmarks/results/bench_runtimes.json.

Targets (2-core machine): student-ort-int8 >= 6x faster than the eager fp32 teacher at batch 32 on real lengths,
with >= 97% of the fp32 student's accuracy; each ONNX Runtime fp32 variant no slower than its eager twin (the
paired ratio's interval reaches 1.0 or above, at batch 1 and 32); the measurement of all variants <= 60 s.
Run it alone on a quiet machine: no tests, no helpers. Load averages before and after go in the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from distill_core.core.variants import ALL_VARIANTS, base_variant, runtime_of  # noqa: E402
from distill_core.runs.folders import resolve_run_dir  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SPEEDUP_TARGET, ACCURACY_SHARE, WALL_TARGET_S = 6.0, 0.97, 60.0


def bench(run: str, runtimes: str, extra: list[str]) -> tuple[dict, float, list[float], list[float]]:
    """One `distill-lab bench RUN --runtimes R`: (bench.json, wall seconds, load average before, after)."""
    exe = Path(sys.executable).with_name("distill-lab")
    before = list(os.getloadavg())
    started = time.perf_counter()
    subprocess.run([str(exe), "bench", run, "--runtimes", runtimes, *extra], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    return json.loads((resolve_run_dir(run) / "bench.json").read_text()), wall, before, list(os.getloadavg())


def latency(data: dict, variant: str, batch: int) -> dict | None:
    rows = (data["variants"].get(variant) or {}).get("latency") or []
    return next((r for r in rows if r["setting"] == "real" and r["batch_size"] == batch), None)


def pair(data: dict, reference: str, variant: str, batch: int) -> dict | None:
    return next((c for c in data.get("comparisons") or [] if c["reference"] == reference and c["variant"] == variant
                 and c["setting"] == "real" and c["batch_size"] == batch), None)


def table(data: dict) -> list[dict]:
    rows = []
    for name in [v for v in ALL_VARIANTS if v in data["variants"]]:
        v = data["variants"][name]
        b1, b32 = latency(data, name, 1), latency(data, name, 32)
        speed = pair(data, "teacher", name, 32)
        rows.append({"variant": name, "status": v.get("status"),
                     "weight_bytes": (v.get("size") or {}).get("weight_bytes"),
                     "p50_b1": b1 and [b1["p50_ms"], b1["p50_low_ms"], b1["p50_high_ms"]],
                     "p50_b32": b32 and [b32["p50_ms"], b32["p50_low_ms"], b32["p50_high_ms"]],
                     "speedup_b32": speed and [speed["ratio"], speed["low"], speed["high"]],
                     "accuracy": (v.get("quality") or {}).get("accuracy")})
    return rows


def targets(data: dict, wall: float) -> list[tuple[str, bool, str]]:
    v = data["variants"]
    out = []
    fast = pair(data, "teacher", "student-ort-int8", 32)
    out.append(("student-ort-int8 >= 6x the eager teacher, batch 32 real",
                bool(fast and fast["ratio"] >= SPEEDUP_TARGET),
                f"{fast['ratio']:.2f}x ({fast['low']:.2f}-{fast['high']:.2f})" if fast else "not measured"))
    acc8 = (v.get("student-ort-int8", {}).get("quality") or {}).get("accuracy")
    acc = (v.get("student", {}).get("quality") or {}).get("accuracy")
    share = acc8 / acc if acc8 is not None and acc else None
    out.append(("student-ort-int8 keeps >= 97% of the fp32 student's accuracy",
                bool(share and share >= ACCURACY_SHARE),
                f"{acc8:.4f} / {acc:.4f} = {share:.1%}" if share else "no accuracy"))
    for name in [n for n in ALL_VARIANTS if runtime_of(n) != "pytorch" and not n.endswith("-int8") and n in v]:
        for batch in (1, 32):
            p = pair(data, base_variant(name), name, batch)
            ok = bool(p and p["high"] >= 1.0)
            out.append((f"{name} no slower than {base_variant(name)}, batch {batch}", ok,
                        f"{p['ratio']:.2f}x ({p['low']:.2f}-{p['high']:.2f}), {p['verdict']}" if p else "not measured"))
    out.append(("all variants measured in <= 60 s (the command)", wall <= WALL_TARGET_S, f"{wall:.1f} s"))
    return out


def _interval(values) -> str:
    return f"{values[0]:.2f} ({values[1]:.2f}-{values[2]:.2f})" if values else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--home", help="DISTILL_LAB_HOME holding the run")
    parser.add_argument("--bench-arg", action="append", default=[], help="passed on to distill-lab bench")
    args = parser.parse_args()
    if args.home:
        os.environ["DISTILL_LAB_HOME"] = args.home
    eager, eager_wall, eager_before, eager_after = bench(args.run, "pytorch", args.bench_arg)
    first, first_wall, _, _ = bench(args.run, "pytorch,onnxruntime", args.bench_arg)  # exports the ONNX files
    both, wall, before, after = bench(args.run, "pytorch,onnxruntime", args.bench_arg)  # files already there
    rows = table(both)
    print(f"{'variant':18} {'MiB':>7} {'p50 b1 ms (95% CI)':>22} {'p50 b32 ms (95% CI)':>24} "
          f"{'x teacher b32':>20} {'accuracy':>9}")
    for r in rows:
        mib = f"{r['weight_bytes'] / 2**20:7.1f}" if r["weight_bytes"] else "      -"
        acc = f"{r['accuracy']:.4f}" if r["accuracy"] is not None else "-"
        print(f"{r['variant']:18} {mib} {_interval(r['p50_b1']):>22} {_interval(r['p50_b32']):>24} "
              f"{_interval(r['speedup_b32']):>20} {acc:>9}")
    print(f"eager only: {eager_wall:.1f} s; all runtimes: {first_wall:.1f} s with the ONNX export, {wall:.1f} s "
          f"again (load {before[0]:.2f} -> {after[0]:.2f})")
    checks = targets(both, wall)
    for name, ok, shown in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {shown}")
    RESULTS.mkdir(exist_ok=True)
    out = {"run": args.run, "machine": both.get("machine"), "conditions": both.get("conditions"),
           "eager_only": {"wall_s": eager_wall, "load_before": eager_before, "load_after": eager_after},
           "all_runtimes_first": {"wall_s": first_wall, "rows": table(first)},
           "all_runtimes": {"wall_s": wall, "load_before": before, "load_after": after}, "rows": rows,
           "targets": [{"target": n, "pass": ok, "measured": s} for n, ok, s in checks]}
    (RESULTS / "bench_runtimes.json").write_text(json.dumps(out, indent=2))
    print(f"wrote {RESULTS / 'bench_runtimes.json'}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
