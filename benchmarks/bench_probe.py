"""What the contention probe reads, and when: the evidence behind measure/contention.py's probe process.

Usage:  .venv/bin/python benchmarks/bench_probe.py RUN [--home DIR] [--alternations 6] [--rounds 4]
RUN is a finished classification run (folder or id) whose student/ folder is loaded for part 2.

1. torch or not: fresh processes, alternately without and with `import torch`, each timing the speed probe
   (conditions.speed_probe_ms(15)) 4 times. On the 2-core VM a process without torch read it 1.5-1.8x slower,
   which is why the probe process loads torch (its quiet reference came from a process with torch).
2. beside a timing process: a ProbeProcess next to a process that times the run's student on 2 threads (60 ms
   samples at batch 1 or 32, random token ids of length 40): probes after a 0.3 s idle pause, right after batch-1
   samples and right after batch-32 samples, `--rounds` times.
Prints a table per part and writes benchmarks/results/bench_probe.json. Run it alone: no tests, no helpers.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from distill_core.measure import contention  # noqa: E402
from distill_core.runs.folders import resolve_run_dir  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
ONE_PROCESS = ("import json, sys\nif sys.argv[1] == 'torch':\n    import torch  # noqa: F401\n"
               "from distill_core.measure.conditions import speed_probe_ms\n"
               "print(json.dumps([speed_probe_ms(15) for _ in range(4)]))")


def torch_or_not(alternations: int) -> list[dict]:
    """Part 1: per fresh process, whether it imported torch and its four probes (ms)."""
    rows = []
    for _ in range(alternations):
        for kind in ("plain", "torch"):
            out = subprocess.run([sys.executable, "-c", ONE_PROCESS, kind], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout.strip().splitlines()[-1]
            rows.append({"process": kind, "probes_ms": json.loads(out), "at": time.strftime("%H:%M:%S")})
    return rows


def _timer(folder: str, conn) -> None:
    """Part 2's timing process: the student on 2 threads; one 60 ms sample per "b1" / "b32" message."""
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.set_num_threads(2)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    batches = {"b1": torch.randint(100, 2000, (1, 40)), "b32": torch.randint(100, 2000, (32, 40))}
    conn.send("ready")
    while (message := conn.recv()) != "stop":
        started = time.perf_counter()
        with torch.inference_mode():
            while time.perf_counter() - started < 0.06:
                model(input_ids=batches[message])
        conn.send("done")


def beside_a_timing_process(student: Path, rounds: int) -> list[dict]:
    """Part 2: per round, six probes (ms) after an idle pause, after batch-1 samples and after batch-32 samples."""
    ctx = multiprocessing.get_context("spawn")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=_timer, args=(str(student), child), daemon=True)
    proc.start()
    conn.recv()
    rows = []
    with contention.ProbeProcess() as probe:
        probe()
        for _ in range(rounds):
            row = {"at": time.strftime("%H:%M:%S"), "idle": [], "after b1": [], "after b32": []}
            for _ in range(6):
                time.sleep(0.3)
                row["idle"].append(probe())
            for key in ("b1", "b32"):
                for _ in range(6):
                    conn.send(key)
                    conn.recv()
                    row[f"after {key}"].append(probe())
            rows.append(row)
    conn.send("stop")
    proc.join(timeout=30)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--home", help="DISTILL_LAB_HOME for the run id")
    parser.add_argument("--alternations", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    if args.home:
        os.environ["DISTILL_LAB_HOME"] = args.home
    student = resolve_run_dir(args.run) / "student"
    load_before = os.getloadavg()
    part1 = torch_or_not(args.alternations)
    part2 = beside_a_timing_process(student, args.rounds)
    load_after = os.getloadavg()

    print(f"{'process':<8} {'median probe ms':>16}   (each row a fresh process; 4 x speed_probe_ms(15))")
    for row in part1:
        print(f"{row['process']:<8} {statistics.median(row['probes_ms']):>16.2f}")
    for kind in ("plain", "torch"):
        values = [statistics.median(r["probes_ms"]) for r in part1 if r["process"] == kind]
        print(f"{kind}: {min(values):.2f}-{max(values):.2f} ms over {len(values)} processes")
    print(f"\n{'round':<6} {'idle (after 0.3 s)':>24} {'after batch-1 samples':>24} {'after batch-32 samples':>24}")
    for i, row in enumerate(part2):
        cells = [f"{statistics.median(row[k]):.2f} ({min(row[k]):.1f}-{max(row[k]):.1f})"
                 for k in ("idle", "after b1", "after b32")]
        print(f"{i + 1:<6} " + " ".join(f"{c:>24}" for c in cells))
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    RESULTS.mkdir(exist_ok=True)
    out = {"run": args.run, "torch_or_not": part1, "beside_a_timing_process": part2, "load_before": load_before,
           "load_after": load_after}
    (RESULTS / "bench_probe.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
