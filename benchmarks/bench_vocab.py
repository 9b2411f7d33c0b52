"""Issue 15 ("a smaller student"): the workshop preset with and without trimming the student's vocabulary.

Usage (a quiet machine; the full preset takes many minutes per run):
    .venv/bin/python benchmarks/bench_vocab.py
    .venv/bin/python benchmarks/bench_vocab.py --home ~/.distill-lab   # reuse a data folder's cached teacher
Proof that it works (64 reviews, 4 steps, one seed, no measurement; seconds, figures meaningless):
    .venv/bin/python benchmarks/bench_vocab.py --quick

Two `distill-lab run --preset reviews-sentiment` in fresh processes, the same seeds and data folder (the teacher is
fine-tuned and its outputs computed by the first run only), one with student.trim_vocab=false, one with true. Per
run it reads preflight.json, results.json and bench.json (when the run measured) and prints: the student's and the
teacher's weight bytes (state dict; the saved safetensors files beside them), their ratio, the vocabulary kept,
test accuracy of teacher, student and control (mean over the training seeds), and the student's p50 latency with
its 95% interval. Then the accuracy change trimmed - untrimmed, paired by seed, with a t interval over the seeds.
The issue's target: a trimmed student at <= 40% of the teacher's weight bytes, accuracy within 0.5 points.
JSON: benchmarks/results/bench_vocab.json (or --out); --quick writes beside its temporary runs. Load averages before
and after each run go in the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
QUICK = ["data.max_train_examples=64", "data.transfer_limit=32", "budget.value=4", "budget.eval_every=2", "seeds=1",
         "measure=false", "max_length=64"]
TARGET_RATIO, TARGET_POINTS = 0.40, 0.5


def _run(args, trim: bool, run_dir: Path, home: Path) -> dict:
    """One `distill-lab run` in a fresh process: its run folder's records plus wall seconds and load averages."""
    sets = (QUICK if args.quick else []) + [f"seed={args.seed}", f"student.trim_vocab={'true' if trim else 'false'}"]
    sets += [f"seeds={args.seeds}"] if args.seeds else []
    sets += [f"budget.value={args.steps}"] if args.steps else []
    sets += ["measure=false"] if args.no_measure else []
    sets += args.set or []
    command = [sys.executable, "-m", "distill_core.cli", "run", "--preset", args.preset, "--run-dir", str(run_dir)]
    for item in sets:
        command += ["--set", item]
    env = dict(os.environ, DISTILL_LAB_HOME=str(home), HF_HUB_OFFLINE="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    load_before = os.getloadavg()
    started = time.perf_counter()
    log = run_dir.with_suffix(".log")
    with log.open("w") as out:
        done = subprocess.run(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"the run with trim_vocab={str(trim).lower()} failed; its output is in {log}")
    wall = time.perf_counter() - started
    bench = run_dir / "bench.json"
    return {"trim_vocab": trim, "run_dir": str(run_dir), "wall_s": wall, "load_before": load_before,
            "load_after": os.getloadavg(), "sets": sets,
            "preflight": json.loads((run_dir / "preflight.json").read_text()),
            "results": json.loads((run_dir / "results.json").read_text()),
            "bench": json.loads(bench.read_text()) if bench.exists() else None}


def _file_bytes(folder: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).glob("*.safetensors"))


def _latency(bench: dict | None, variant: str) -> list[dict]:
    """p50 (ms) with its 95% interval per batch size of the "real" setting (texts of the test split), if measured."""
    report = ((bench or {}).get("variants") or {}).get(variant) or {}
    return [{k: row.get(k) for k in ("batch_size", "p50_ms", "p50_low_ms", "p50_high_ms")}
            for row in report.get("latency") or [] if row.get("setting") == "real"]


def summary(run: dict) -> dict:
    """The figures one run is judged by: bytes, ratio, vocabulary kept, accuracy per seed and mean, latency."""
    pre, r = run["preflight"], run["results"]
    seeds = r["training"]["seeds"]
    trim = pre.get("vocab_trim") or {}
    student_bytes, teacher_bytes = pre["student"]["weight_bytes"], pre["teacher"]["weight_bytes"]
    return {
        "trim_vocab": run["trim_vocab"], "wall_s": run["wall_s"], "load_before": run["load_before"],
        "load_after": run["load_after"], "run_dir": run["run_dir"],
        "student_weight_bytes": student_bytes, "teacher_weight_bytes": teacher_bytes,
        "ratio": student_bytes / teacher_bytes,
        "student_file_bytes": _file_bytes(Path(run["run_dir"]) / "student"),
        "teacher_file_bytes": _file_bytes(r["teacher"]["model_ref"]),
        "tokens_kept": json.loads((Path(run["run_dir"]) / "student" / "config.json").read_text())["vocab_size"],
        "vocab_trim": trim or None,
        "seeds": [s["seed"] for s in seeds],
        "student_accuracy_per_seed": [s["student"] for s in seeds],
        "control_accuracy_per_seed": [s["control"] for s in seeds],
        "student_accuracy": sum(s["student"] for s in seeds) / len(seeds),
        "control_accuracy": (sum(s["control"] for s in seeds) / len(seeds)
                             if all(s["control"] is not None for s in seeds) else None),
        "teacher_accuracy": r["quality"]["variants"]["teacher"]["accuracy"],
        "student_latency": _latency(run["bench"], "student"),
        "teacher_latency": _latency(run["bench"], "teacher"),
    }


def comparison(plain: dict, trimmed: dict) -> dict:
    """Accuracy change trimmed - untrimmed in points, paired by seed, with a t interval over the seeds (2 or more)."""
    from distill_core.measure.stats import t_interval

    diffs = [100 * (b - a) for a, b in zip(plain["student_accuracy_per_seed"], trimmed["student_accuracy_per_seed"])]
    interval = t_interval(diffs)
    mean = sum(diffs) / len(diffs)
    return {"points_per_seed": diffs, "points_mean": mean,
            "points_interval": list(interval[1:]) if interval else None,
            "ratio_meets_target": trimmed["ratio"] <= TARGET_RATIO,
            "accuracy_meets_target": abs(mean) <= TARGET_POINTS}


def table(rows: list[dict], cmp: dict) -> str:
    lines = [f"{'trim':>5} {'student MB':>10} {'teacher MB':>10} {'ratio':>6} {'tokens':>7} {'teacher acc':>11} "
             f"{'student acc':>11} {'control acc':>11} {'wall s':>7}"]
    for s in rows:
        control = f"{s['control_accuracy']:.4f}" if s["control_accuracy"] is not None else "-"
        lines.append(f"{str(s['trim_vocab']).lower():>5} {s['student_weight_bytes'] / 1e6:>10.1f} "
                     f"{s['teacher_weight_bytes'] / 1e6:>10.1f} {s['ratio']:>6.1%} {s['tokens_kept']:>7,} "
                     f"{s['teacher_accuracy']:>11.4f} {s['student_accuracy']:>11.4f} {control:>11} "
                     f"{s['wall_s']:>7.0f}")
        for lat in s["student_latency"]:
            low, high = lat["p50_low_ms"], lat["p50_high_ms"]
            spread = f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else ""
            lines.append(f"{'':>5} student p50 {lat['p50_ms']:.2f} ms{spread} at batch {lat['batch_size']}")
        if s["vocab_trim"]:
            t = s["vocab_trim"]
            lines.append(f"{'':>5} kept {t['tokens_after']:,} of {t['tokens_before']:,} tokens "
                         f"({t['tokens_seen']:,} seen, {t['tokens_single_char']:,} single characters); validation "
                         f"texts: {t['sample_unknown_rate']:.2%} unknown, "
                         f"{t['sample_tokens_after'] / max(1, t['sample_tokens_before']):.3f}x the tokens")
    interval = cmp["points_interval"]
    spread = f" (95% interval {interval[0]:+.2f} to {interval[1]:+.2f})" if interval else " (one seed: no interval)"
    lines.append(f"accuracy trimmed - untrimmed: {cmp['points_mean']:+.2f} points{spread}, per seed "
                 f"{', '.join(f'{d:+.2f}' for d in cmp['points_per_seed'])}")
    lines.append(f"target: ratio <= {TARGET_RATIO:.0%}: {'met' if cmp['ratio_meets_target'] else 'missed'}; "
                 f"|mean accuracy change| <= {TARGET_POINTS} points: "
                 f"{'met' if cmp['accuracy_meets_target'] else 'missed'}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="reviews-sentiment")
    parser.add_argument("--seed", type=int, default=0, help="the first training seed (both runs)")
    parser.add_argument("--seeds", type=int, help="training seeds per run (default: the preset's)")
    parser.add_argument("--steps", type=int, help="student steps per seed (default: the preset's)")
    parser.add_argument("--no-measure", action="store_true", help="skip the latency measurement (bench.json)")
    parser.add_argument("--quick", action="store_true", help="64 reviews, 4 steps, 1 seed: proves the script runs")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="more config overrides, both runs")
    parser.add_argument("--home", help="data folder (default: a new temporary one; reuse one to keep its teacher)")
    parser.add_argument("--out", help="folder for the JSON (default benchmarks/results; --quick: beside its runs)")
    args = parser.parse_args()

    from distill_core.measure.machine import machine_record

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="bench-vocab-"))
    work = Path(tempfile.mkdtemp(prefix="bench-vocab-runs-"))
    load_start = os.getloadavg()
    print(f"load average before: {load_start}; data folder {home}; runs in {work}", flush=True)
    rows = []
    for trim in (False, True):
        rows.append(summary(_run(args, trim, work / ("trimmed" if trim else "untrimmed"), home)))
        print(f"trim_vocab={str(trim).lower()}: {rows[-1]['wall_s']:.0f} s", flush=True)
    cmp = comparison(*rows)
    print(table(rows, cmp))
    load_end = os.getloadavg()
    print(f"load average after: {load_end}")
    out_dir = Path(args.out) if args.out else (work if args.quick else RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {"machine": machine_record().to_dict(), "args": vars(args), "load_before": load_start,
              "load_after": load_end, "rows": rows, "comparison": cmp}
    path = out_dir / ("bench_vocab_quick.json" if args.quick else "bench_vocab.json")
    path.write_text(json.dumps(record, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
