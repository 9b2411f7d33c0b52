"""Why int8 speedups do not repeat to 5% on a noisy host: two copies of each int8 model, timed in one process.

Usage:  .venv/bin/python benchmarks/bench_int8_repeat.py RUN [--home DIR] [--times 3]
RUN is a finished classification run (folder or id), e.g. of `distill-lab run --preset reviews-sentiment`. Each
measurement times teacher, teacher-int8, student, student-int8 and a second, separately quantized copy of each int8
variant ("-b") in one timing process (measure/rounds.py, mirrored rounds), `--times` measurements one after another
in this process. Prints, per measurement and batch size, the median per-round ratio of each pair with the per-round
spread, and writes benchmarks/results/bench_int8_repeat.json.

Reading it: when the two copies of one int8 model agree within a measurement while the int8/fp32 ratio moves between
measurements, the movement is the machine's (how int8 and fp32 kernels share it from one minute to the next), not a
bias of one loaded copy or of one process. Run it alone on a quiet machine.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).resolve().parent / "results"
NAMES = ("teacher", "teacher-int8", "student", "student-int8")
PAIRS = [("teacher", "teacher-int8"), ("teacher", "teacher-int8-b"), ("teacher-int8", "teacher-int8-b"),
         ("student", "student-int8"), ("student", "student-int8-b"), ("student-int8", "student-int8-b")]


def measure_once(run_dir: Path) -> dict:
    """One measurement of the four variants and the two int8 copies: {name: {batch size: per-round ms}}."""
    from distill_core.core import config as config_mod
    from distill_core.core.run_files import read_run
    from distill_core.measure.records import BenchConfig
    from distill_core.tasks.classification import bench
    from distill_core.tasks.classification.data import load_splits

    results, run_config = read_run(run_dir)
    run_cfg = config_mod.from_dict(run_config)
    test = load_splits(run_cfg.data, run_cfg.data.seed).test
    specs = [s for s in bench.variant_specs(run_dir, results, run_config, ("pytorch",)) if s.name in NAMES]
    copies = []
    for spec in specs:
        if spec.quantize:
            twin = copy.deepcopy(spec)
            twin.name = f"{spec.name}-b"
            copies.append(twin)
    for spec in specs + copies:
        spec.quality, spec.teacher_cache_key = False, None
    measured, _, _, conditions = bench.measure_variants(specs + copies, BenchConfig(quality=False), test.texts, None)
    samples = {name: {r["batch_size"]: r["samples_ms"] for r in v.to_dict()["latency"] if r["setting"] == "real"}
               for name, v in measured.items() if v.status == "ok"}
    return {"samples": samples, "conditions": conditions}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--home", help="DISTILL_LAB_HOME for the run id")
    parser.add_argument("--times", type=int, default=3)
    args = parser.parse_args()
    if args.home:
        os.environ["DISTILL_LAB_HOME"] = args.home
    from distill_core.runs.folders import resolve_run_dir

    run_dir = resolve_run_dir(args.run)
    load_before = os.getloadavg()
    rows, measurements = [], []
    print(f"{'measurement':<12} {'pair':<34} {'batch':>5} {'ratio':>7} {'sd(log)':>8}")
    for i in range(args.times):
        started = time.perf_counter()
        data = measure_once(run_dir)
        data["wall_seconds"] = time.perf_counter() - started
        measurements.append(data)
        for ref, var in PAIRS:
            for batch in sorted(data["samples"].get(ref, {})):
                a, b = np.array(data["samples"][ref][batch]), np.array(data["samples"][var][batch])
                ratios = a / b
                row = {"measurement": i + 1, "reference": ref, "variant": var, "batch_size": batch,
                       "ratio": float(np.median(ratios)), "sd_log": float(np.std(np.log(ratios)))}
                rows.append(row)
                print(f"{i + 1:<12} {ref + ' / ' + var:<34} {batch:>5} {row['ratio']:>7.3f} {row['sd_log']:>8.3f}")
    load_after = os.getloadavg()
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    RESULTS.mkdir(exist_ok=True)
    out = {"run": str(run_dir), "rows": rows, "load_before": load_before, "load_after": load_after,
           "measurements": measurements}
    (RESULTS / "bench_int8_repeat.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
