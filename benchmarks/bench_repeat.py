"""Issue 13 targets: the same run measured twice, in two `distill-lab bench` invocations, repeats.

Usage:  .venv/bin/python benchmarks/bench_repeat.py RUN [--home DIR] [--times 2] [--bench-arg=--threads=2 ...]
                                                    [--name bench_repeat]
RUN is a finished run (folder or id), e.g. of `distill-lab run --preset reviews-sentiment`. Each measurement is a
fresh `distill-lab bench RUN` process, one after the other; each one's bench.json is kept. Prints a table and
PASS/FAIL per target, writes benchmarks/results/NAME.json (and NAME_<i>.bench.json per measurement).

Targets (2-core machine): every variant's speedup over the teacher, and int8 over fp32, at batch 1 and 32 within 5%
of the first measurement's; each p50 of a later measurement inside the first's 95% interval, or the record shows
the machine changed between them (the rounds' timing probes differ, or every p50 moved the same way:
machine_changed); student vs control (same
architecture) within 3% of each other in every measurement; five variants measured in <= 60 s each time.
Each measurement's host state (quiet / contended rounds left out / contended throughout, measure/contention.py) is
printed and recorded; a speedup check between measurements whose states differ says so next to its figure (it still
counts: the target has no such clause). Run it alone on a quiet machine: no tests, no helpers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from distill_core.measure import comparisons  # noqa: E402
from distill_core.measure.records import latency_of  # noqa: E402
from distill_core.runs.folders import resolve_run_dir  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CHANGED_P = 0.01  # two measurements' round probes this unlikely under one machine speed: it changed
PAIRS = [("teacher", v) for v in ("teacher-int8", "student", "student-int8", "control")] + \
        [("student", "student-int8")]


def measure_once(run: str, extra: list[str]) -> tuple[dict, float]:
    """One `distill-lab bench RUN` in a fresh process: (its bench.json, wall seconds of the whole command)."""
    exe = Path(sys.executable).with_name("distill-lab")
    started = time.perf_counter()
    subprocess.run([str(exe), "bench", run, *extra], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    return json.loads((resolve_run_dir(run) / "bench.json").read_text()), wall


def machine_changed(a: dict, b: dict) -> str | None:
    """Why two measurements ran on a machine of another speed, or None. Either the timing probes of their rounds (the
    timing process's matmul after every block, measure/contention.py; ~20 a measurement) differ by a two-sided
    Mann-Whitney U test at p < 0.01 (scipy.stats) and moved the way the p50s did (p50_shift); or every variant's p50
    at every batch size moved the same way, which a two-sided sign test (scipy.stats.binomtest) puts at p < 0.01
    (8 or more p50s): variants measured with no change in between move each its own way. The probe, a compute-
    bound matmul, moves less than the models do: -0.6 to -1.7% and +5.1% where their p50s moved -1.8 to -5.4% and
    +7.3% (median) in the pairs of 2026-12-07, and not at all in s35g, where all ten p50s moved +3 to +7%.
    Records without round probes: the parent's speed probe, before and after each, moved by more than 10%. The
    load average is not used: the 1-minute average before a second measurement still holds the first one's own
    load (about 2 on 2 cores), so it would always say "changed"."""
    from scipy.stats import binomtest, mannwhitneyu

    ca, cb = a.get("conditions") or {}, b.get("conditions") or {}
    rounds_a = [ms for probes in (ca.get("round_probe_ms") or {}).values() for ms in probes]
    rounds_b = [ms for probes in (cb.get("round_probe_ms") or {}).values() for ms in probes]
    p50s = p50_shift(a, b)
    if len(rounds_a) >= 5 and len(rounds_b) >= 5:
        p = mannwhitneyu(rounds_a, rounds_b).pvalue
        ma, mb = float(np.median(rounds_a)), float(np.median(rounds_b))
        if p < CHANGED_P and (p50s is None or (mb - ma) * p50s > 0):
            return (f"timing probe {ma:.2f} -> {mb:.2f} ms ({(mb / ma - 1) * 100:+.1f}%, Mann-Whitney p = {p:.3f})"
                    + (f", p50s {p50s * 100:+.1f}% (median)" if p50s is not None else ""))
    shifts = p50_shifts(a, b)
    same_way = max(sum(x > 0 for x in shifts), sum(x < 0 for x in shifts))
    sign_p = binomtest(same_way, len(shifts)).pvalue if shifts else 1.0
    if same_way == len(shifts) and sign_p < CHANGED_P:
        return (f"every p50 moved the same way ({min(shifts) * 100:+.1f} to {max(shifts) * 100:+.1f}%, "
                f"{len(shifts)} of {len(shifts)}: sign test p = {sign_p:.3f})")
    probes_a = [ca.get("probe_ms_before"), ca.get("probe_ms_after")]
    probes_b = [cb.get("probe_ms_before"), cb.get("probe_ms_after")]
    if min(len(rounds_a), len(rounds_b)) < 5 and None not in probes_a + probes_b:
        pa, pb = sum(probes_a) / 2, sum(probes_b) / 2
        if abs(pb / pa - 1) > 0.10:
            return f"speed probe {pa:.2f} -> {pb:.2f} ms"
    return None


def speedup_pairs(first: dict, data: dict, batches) -> list[tuple[str, str, int, dict, dict]]:
    """(reference, variant, batch, data's speedup record, first's) for every PAIRS speedup at real lengths that
    both measurements have."""
    found = []
    for ref, var in PAIRS:
        for batch in batches:
            rec, base = (comparisons.find(x, ref, var, "real", batch) for x in (data, first))
            if rec and base:
                found.append((ref, var, batch, rec, base))
    return found


def p50_shifts(a: dict, b: dict) -> list[float]:
    """b's p50 over a's - 1, for every variant and real-length batch size both have."""
    shifts = []
    for name in a.get("variants") or {}:
        for batch in (a.get("config") or {}).get("batch_sizes") or []:
            la, lb = latency_of(a, name, "real", batch), latency_of(b, name, "real", batch)
            if la and lb and la.get("p50_ms"):
                shifts.append(lb["p50_ms"] / la["p50_ms"] - 1)
    return shifts


def p50_shift(a: dict, b: dict) -> float | None:
    """The median of p50_shifts; None without any."""
    shifts = p50_shifts(a, b)
    return float(np.median(shifts)) if shifts else None


def host_state(data: dict) -> str:
    """How contended the host was in a measurement (measure/contention.py's record): "quiet", "contended rounds left
    out" or "contended throughout"; "unknown" for a bench.json without per-round probes."""
    c = data.get("conditions") or {}
    if "round_probe_ms" not in c:
        return "unknown"
    if c.get("contended_throughout"):
        return "contended throughout"
    return "contended rounds left out" if any((c.get("contended_rounds") or {}).values()) else "quiet"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--home", help="DISTILL_LAB_HOME for the run id")
    parser.add_argument("--times", type=int, default=2)
    parser.add_argument("--bench-arg", action="append", default=[], help="passed to distill-lab bench")
    parser.add_argument("--name", default="bench_repeat", help="file name of the results under benchmarks/results")
    args = parser.parse_args()
    if args.home:
        os.environ["DISTILL_LAB_HOME"] = args.home
    load_before = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    runs = []
    for i in range(args.times):
        data, wall = measure_once(args.run, args.bench_arg)
        (RESULTS / f"{args.name}_{i + 1}.bench.json").write_text(json.dumps(data, indent=1))
        runs.append((data, wall))
    load_after = os.getloadavg()
    first = runs[0][0]
    batches = sorted(first["config"]["batch_sizes"])
    rows, checks = [], []
    print(f"{'measurement':<12} {'pair':<28} {'batch':>5} {'ratio (95% CI)':>22} {'vs first':>9}")
    for i, (data, wall) in enumerate(runs):
        for ref, var, batch, rec, base in speedup_pairs(first, data, batches):
            moved = rec["ratio"] / base["ratio"] - 1
            rows.append({"measurement": i + 1, "reference": ref, "variant": var, "batch_size": batch,
                         "ratio": rec["ratio"], "low": rec["low"], "high": rec["high"], "vs_first": moved})
            print(f"{i + 1:<12} {ref + ' / ' + var:<28} {batch:>5} "
                  f"{rec['ratio']:>8.3f} ({rec['low']:.3f}-{rec['high']:.3f}) {moved * 100:>+8.1f}%")
            if i:
                same = (host_state(data) == "contended throughout") == (host_state(first) == "contended throughout")
                checks.append((f"#{i + 1} {var} over {ref} at b{batch} within 5% of #1", abs(moved) <= 0.05,
                               f"{moved * 100:+.1f}%" + ("" if same else f" (host: #1 {host_state(first)}, "
                                                                         f"#{i + 1} {host_state(data)})")))
        for batch in batches:
            rec = comparisons.find(data, "control", "student", "real", batch)
            if rec:
                checks.append((f"#{i + 1} student vs control at b{batch} within 3%", abs(rec["ratio"] - 1) <= 0.03,
                               f"{(rec['ratio'] - 1) * 100:+.1f}% ({rec['verdict']})"))
        checks.append((f"#{i + 1} five variants measured in <= 60 s", wall <= 60, f"{wall:.1f} s (command), "
                       f"{data['wall_seconds']:.1f} s (harness)"))
        if i:
            changed = machine_changed(first, data)
            outside = []
            for name in data["variants"]:
                for batch in batches:
                    a, b = latency_of(first, name, "real", batch), latency_of(data, name, "real", batch)
                    if a and b and not a["p50_low_ms"] <= b["p50_ms"] <= a["p50_high_ms"]:
                        outside.append(f"{name} b{batch} {b['p50_ms']:.1f} vs [{a['p50_low_ms']:.1f}, "
                                       f"{a['p50_high_ms']:.1f}]")
            checks.append((f"#{i + 1} every p50 inside #1's 95% interval, or the machine changed",
                           not outside or changed is not None,
                           f"{len(outside)} outside" + (f" ({'; '.join(outside)})" if outside else "")
                           + (f"; machine changed: {changed}" if changed else "")))
    print()
    for i, (data, _) in enumerate(runs):
        c = data.get("conditions") or {}
        print(f"#{i + 1} host {host_state(data)}: round probes {c.get('round_probe_ms')} ms, quiet "
              f"{c.get('quiet_probe_ms')} ms, {c.get('rounds_kept')} of {c.get('rounds')} rounds kept")
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; machine "
          f"{first['machine'].get('cpu_model')}, {first['machine'].get('threads')} threads")
    out = {"run": args.run, "rows": rows, "checks": [{"name": n, "pass": ok, "detail": d} for n, ok, d in checks],
           "walls": [w for _, w in runs], "conditions": [d.get("conditions") for d, _ in runs],
           "host_states": [host_state(d) for d, _ in runs],
           "load_before": load_before, "load_after": load_after, "machine": first["machine"],
           "bench_args": args.bench_arg}
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=1))
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
