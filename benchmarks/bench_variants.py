"""Issue 3 targets on the reviews preset: the five variants measured on tasks/classification/bench.py's harness.

Usage:  .venv/bin/python benchmarks/bench_variants.py [RUN_DIR] [--home DIR] [--threads N] [--methods] [--set k=v ...]
RUN_DIR is a finished `distill-lab run --preset reviews-sentiment` folder; without it the preset is run first (about
8 minutes on a 2-core CPU the first time, as the teacher is fine-tuned; `--set budget.value=0.3` makes it cheaper).
Prints the comparison table and PASS/FAIL per target, writes benchmarks/results/bench_variants.json.

Targets: student >= 3.5x faster than the teacher at batch 32 (real lengths); student-int8 >= 6x at >= 97% retention;
the same variant measured twice in separate processes within 5% (p50); the harness's p50 within 10% of
torch.utils.benchmark.Timer on the same model, input and threads; all five variants measured in <= 60 s.
(bench_repeat.py checks repeatability across whole `distill-lab bench` invocations.)
`--methods` also times the teacher under each int8 method (torchao and torch), the evidence for quantize.py's default.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from distill_core.core.run_files import read_run  # noqa: E402
from distill_core.measure.records import BenchConfig, VariantResult, speedup  # noqa: E402
from distill_core.models import quantize  # noqa: E402
from distill_core.tasks.classification import bench  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def run_preset(home: Path, overrides: list[str]) -> Path:
    from distill_core.cli import apply_overrides
    from distill_core.runs.pipeline import run_experiment
    from distill_core.tasks.presets import get_preset

    cfg = apply_overrides(get_preset("reviews-sentiment"), overrides)
    run_dir = home / "runs" / f"bench-variants-{int(time.time())}"
    print(f"running the preset into {run_dir} ...", file=sys.stderr)
    run_experiment(cfg, run_dir)
    return run_dir


def target(name: str, ok: bool | None, measured: str) -> dict:
    return {"target": name, "status": "PASS" if ok else "FAIL" if ok is not None else "N/A", "measured": measured}


def remeasure(run_dir: Path, name: str, cfg: BenchConfig, data: dict):
    """The variant measured again in a fresh process, with torch.utils.benchmark.Timer on the fixed setting too."""
    from distill_core.core import config as config_mod
    from distill_core.tasks.classification.data import load_splits

    results, run_config = read_run(run_dir)
    spec = next(s for s in bench.variant_specs(run_dir, results, run_config) if s.name == name)
    run_cfg = config_mod.from_dict(run_config)
    test = load_splits(run_cfg.data, run_cfg.data.seed).test
    again_cfg = BenchConfig.from_dict({**cfg.to_dict(), "reference_timer": True, "quality": False,
                                       "settings": ["real", "fixed"]})
    measured, *_ = bench.measure_variants([spec], again_cfg, test.texts, None, peak=data["matmul_peak"])
    return measured[name]


def method_comparison(run_dir: Path, cfg: BenchConfig, data: dict) -> dict:
    """p50 (ms) of the teacher under each int8 method, fixed setting, in fresh processes."""
    from distill_core.core import config as config_mod
    from distill_core.tasks.classification.data import load_splits

    results, run_config = read_run(run_dir)
    spec = next(s for s in bench.variant_specs(run_dir, results, run_config) if s.name == "teacher-int8")
    run_cfg = config_mod.from_dict(run_config)
    test = load_splits(run_cfg.data, run_cfg.data.seed).test
    rows = {}
    for method in quantize.METHODS:
        method_cfg = BenchConfig.from_dict({**cfg.to_dict(), "quantization": method, "quality": False,
                                            "settings": ["real", "fixed"]})
        measured, *_ = bench.measure_variants([spec], method_cfg, test.texts, None, peak=data["matmul_peak"])
        v = measured["teacher-int8"]
        rows[method] = ({f"{r.setting} b{r.batch_size}": r.p50_ms for r in v.latency} if v.status == "ok"
                        else {"error": v.error})
        print(f"  {method:<26} {rows[method]}", file=sys.stderr)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", help="a finished reviews-sentiment run folder")
    parser.add_argument("--home", help="data folder when the preset must be run (default: DISTILL_LAB_HOME)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per measuring process (0: all)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="preset override")
    parser.add_argument("--methods", action="store_true", help="also compare the int8 methods on the teacher")
    args = parser.parse_args()
    if args.home:
        os.environ["DISTILL_LAB_HOME"] = args.home
    from distill_core.core.home import data_home

    run_dir = Path(args.run_dir) if args.run_dir else run_preset(data_home(), args.set)
    cfg = BenchConfig(threads=args.threads)

    started = time.perf_counter()
    data = bench.measure_run(run_dir, cfg)
    wall = time.perf_counter() - started
    print(bench.format_bench_table(data))

    big = max(cfg.batch_sizes)
    student_x, int8_x = speedup(data, "student", "real", big), speedup(data, "student-int8", "real", big)
    retention = ((data["variants"]["student-int8"].get("quality") or {}).get("retention"))
    again = remeasure(run_dir, "student", cfg, data)
    first = VariantResult.from_dict(data["variants"]["student"])
    drift = {f"{r.setting} b{r.batch_size}": abs(again.find(r.setting, r.batch_size).p50_ms / r.p50_ms - 1)
             for r in first.latency if again.find(r.setting, r.batch_size)} \
        if again.status == "ok" and first.status == "ok" else {}
    timer_gap = {f"fixed b{r.batch_size}": abs(r.p50_ms / r.timer_p50_ms - 1)
                 for r in again.latency if r.timer_p50_ms} if again.status == "ok" else {}
    targets = [
        target(f"student >= 3.5x faster than teacher (b{big}, real lengths)",
               student_x is not None and student_x >= 3.5, f"{student_x:.2f}x" if student_x else "missing"),
        target(f"student-int8 >= 6x (b{big}, real lengths) at >= 97% retention",
               int8_x is not None and retention is not None and int8_x >= 6 and retention >= 0.97,
               f"{int8_x:.2f}x, retention {retention:.3f}" if int8_x and retention is not None else "missing"),
        target("same variant (student) twice in separate processes: p50 within 5%",
               bool(drift) and max(drift.values()) <= 0.05,
               ", ".join(f"{k} {v * 100:.1f}%" for k, v in drift.items()) or again.error or "missing"),
        target("harness p50 within 10% of torch.utils.benchmark.Timer (student, fixed length)",
               bool(timer_gap) and max(timer_gap.values()) <= 0.10,
               ", ".join(f"{k} {v * 100:.1f}%" for k, v in timer_gap.items()) or "missing"),
        target("all five variants measured in <= 60 s", wall <= 60, f"{wall:.0f} s"),
    ]
    print()
    for t in targets:
        print(f"{t['status']:<5} {t['target']}: {t['measured']}")
    methods = None
    if args.methods:
        print("\nint8 methods on the teacher (p50 ms, fresh process each):", file=sys.stderr)
        methods = method_comparison(run_dir, cfg, data)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "bench_variants.json"
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps({"run_dir": str(run_dir), "wall_seconds": wall, "targets": targets,
                               "student_remeasured": again.to_dict(), "int8_methods": methods, "bench": data},
                              indent=2))
    os.replace(tmp, out)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":  # spawned measuring processes re-import this file: nothing may run on import
    sys.exit(main())
