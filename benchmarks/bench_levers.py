"""Issue 14: the workshop preset and the levers it pulls, each measured as a full run of the preset.

Usage (run it alone on a quiet machine; each lever is a full preset run of several minutes):
    .venv/bin/python benchmarks/bench_levers.py                      # a fresh data folder: the first run times it all
    .venv/bin/python benchmarks/bench_levers.py --home DIR --lever preset-cached --lever all-labels
Proof that the script works (tiny data, a few steps, one seed; figures meaningless):
    .venv/bin/python benchmarks/bench_levers.py --quick

Levers (each one `distill-lab run --preset reviews-sentiment --run-dir ...` in a fresh process, the same data folder
and seeds, so the teacher is fine-tuned and labels the text once, in the first run):
    preset         the preset as it ships, measured (from a fresh folder: the first-time wall time)
    preset-cached  the same again with the teacher and its outputs cached: the every-time wall time
    scan-layers    the student keeps the layers the layer-importance scan suggests instead of evenly spaced ones
    all-labels     the student and control learn from every label (data.student_labels=null): the old set-up
    one-rate       no learning-rate candidates: student and control both at learning_rate (1e-4)
Per run it prints the student's and control's test accuracy (mean over the seeds), retention of the teacher's
accuracy (seed 0, the saved student), the gain with its 95% interval and verdict, the learning rate each got, the
student's speedup over the teacher at batch 32 when measured, and the wall time. The issue's targets are checked on
`preset` / `preset-cached`: retention >= 95%, gain interval above zero, speedup >= 3x, <= 10 min fresh, <= 8 cached.
JSON: benchmarks/results/bench_levers.json (or --out); load averages before and after each run are in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lever_kit import ROOT, lever_env, lever_folders, lever_parser, run_levers, run_preset

RESULTS = Path(__file__).resolve().parent / "results"
LEVERS = {
    "preset": [],
    "preset-cached": [],
    "scan-layers": ["measure=false"],  # plus student.layers from the scan, found when the lever starts
    "all-labels": ["measure=false", "data.student_labels=null"],
    "one-rate": ["measure=false", "learning_rate_candidates=[]"],
}
QUICK = ["data.max_train_examples=96", "data.student_labels=32", "budget.value=4", "budget.eval_every=2", "seeds=1",
         "max_length=32", "teacher.finetune_epochs=0.5", "measure=false", "batch_size=16"]
TARGETS = {"retention": 0.95, "speedup_b32": 3.0, "fresh_s": 600, "cached_s": 480}



def _scan_layers(args, home: Path, sets: list[str]) -> list[int]:
    """The layers `distill-lab scan` suggests for the preset (in a fresh process, on the same data folder)."""
    out = home / "bench-levers-scan.json"
    command = [sys.executable, "-m", "distill_core.cli", "scan", "--preset", args.preset, "--json", str(out)]
    for item in sets:
        command += ["--set", item]
    subprocess.run(command, env=lever_env(home), cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())["suggested"]


def run_lever(args, lever: str, home: Path, runs: Path) -> dict:
    base = (QUICK if args.quick else []) + (args.set or [])
    sets = base + LEVERS[lever]
    if args.quick:
        sets = [s for s in sets if s != "measure=false"] + ["measure=false"]
    if lever == "scan-layers":
        sets.append(f"student.layers={json.dumps(_scan_layers(args, home, base))}")
    run_dir = runs / lever
    done = run_preset(args.preset, sets, run_dir, home, lever)
    bench_path = run_dir / "bench.json"
    bench = json.loads(bench_path.read_text()) if bench_path.exists() else None
    return {"lever": lever, "sets": sets, "wall_s": done["wall_s"], "load_before": done["load_before"],
            "load_after": done["load_after"], "summary": summary(done["results"], bench)}


def _speedup(bench: dict | None) -> list | None:
    """The student's speedup over the teacher at batch 32 on real lengths, [ratio, low, high], when measured."""
    for row in (bench or {}).get("comparisons") or []:
        if (row.get("reference"), row.get("variant"), row.get("setting"), row.get("batch_size")) == \
                ("teacher", "student", "real", 32):
            return [row.get("ratio"), row.get("low"), row.get("high")]
    return None


def summary(results: dict, bench: dict | None) -> dict:
    q = results["quality"]
    gain = q.get("gain") or {}
    rates = results["training"].get("learning_rates") or {}
    return {"teacher": q["variants"]["teacher"]["accuracy"], "student_seed0": q["variants"]["student"]["accuracy"],
            "retention_seed0": q["variants"]["student"]["retention"],
            "student_mean": gain.get("student_mean"), "control_mean": gain.get("control_mean"),
            "gain_mean": gain.get("mean"), "gain_interval": gain.get("interval"), "verdict": gain.get("verdict_text"),
            "per_seed": [(s["seed"], s["student"], s["control"]) for s in results["training"]["seeds"]],
            "rates": {p: r.get("chosen") for p, r in rates.items()},
            "layers": results["preflight"]["student_description"], "timings": results["timings"],
            "speedup_b32": _speedup(bench), "warnings": results.get("warnings") or []}


def table(rows: list[dict]) -> str:
    lines = [f"{'lever':<14} {'student':>8} {'control':>8} {'retain':>7} {'gain (95% CI)':>24} {'verdict':<21} "
             f"{'rates s/c':<15} {'x b32':>6} {'wall':>6}"]
    for r in rows:
        s = r["summary"]
        interval = s["gain_interval"] or [None, None]
        gain = (f"{100 * s['gain_mean']:+.2f} ({100 * interval[0]:+.1f}, {100 * interval[1]:+.1f})"
                if s["gain_mean"] is not None and interval[0] is not None else "-")
        rates = "/".join(f"{v:g}" for v in s["rates"].values()) or "-"
        speed = f"{s['speedup_b32'][0]:.2f}" if s["speedup_b32"] and s["speedup_b32"][0] else "-"
        lines.append(f"{r['lever']:<14} {100 * (s['student_mean'] or 0):>7.2f}% {100 * (s['control_mean'] or 0):>7.2f}% "
                     f"{s['retention_seed0']:>7.1%} {gain:>24} {str(s['verdict']):<21} {rates:<15} {speed:>6} "
                     f"{r['wall_s'] / 60:>5.1f}m")
        lines.append(f"{'':<14} {s['layers']}; load {r['load_before'][0]:.2f} -> {r['load_after'][0]:.2f}")
    return "\n".join(lines)


def targets(rows: list[dict]) -> list[str]:
    by = {r["lever"]: r for r in rows}
    out = []
    for lever, wall_key in (("preset", "fresh_s"), ("preset-cached", "cached_s")):
        if lever not in by:
            continue
        s, wall = by[lever]["summary"], by[lever]["wall_s"]
        low = (s["gain_interval"] or [None])[0]
        checks = [("retention >= 95%", s["retention_seed0"] >= TARGETS["retention"], f"{s['retention_seed0']:.1%}"),
                  ("gain interval above zero", low is not None and low > 0, f"low end {100 * (low or 0):+.2f}"),
                  ("student >= 3x the teacher at b32", bool(s["speedup_b32"]) and
                   s["speedup_b32"][0] >= TARGETS["speedup_b32"],
                   f"{s['speedup_b32'][0]:.2f}x" if s["speedup_b32"] else "not measured"),
                  (f"wall <= {TARGETS[wall_key] // 60} min", wall <= TARGETS[wall_key], f"{wall / 60:.1f} min")]
        out += [f"{'PASS' if ok else 'MISS'}  {lever}: {name}: {got}" for name, ok, got in checks]
    return out


def main() -> int:
    parser = lever_parser(__doc__.split("\n")[0], "reviews-sentiment", list(LEVERS))
    args = parser.parse_args()
    home, runs = lever_folders(args, "bench-levers")
    rows = run_levers(args, list(LEVERS), run_lever, home, runs, lambda r: f"{r['lever']}: {r['wall_s']:.0f} s")
    print(table(rows))
    checks = targets(rows)
    print("\n".join(checks))
    out = Path(args.out) if args.out else (runs if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    import platform

    (out / "bench_levers.json").write_text(json.dumps({
        "preset": args.preset, "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "quick": args.quick, "rows": rows, "targets": checks, "load_after": os.getloadavg()}, indent=2))
    print(f"wrote {out / 'bench_levers.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
