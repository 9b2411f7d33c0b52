"""Run store and worker latency: (a) `jobs.submit` -> first progress event in the store, tiny config, models cached
(target <= 5 s); (b) `store.list_runs()` over 1,000 runs (target <= 100 ms).

    .venv/bin/python benchmarks/bench_store.py [--repeats 3]

Prints a table and writes benchmarks/results/bench_store.json. Uses temporary data folders (never the real one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["DISTILL_LAB_MAX_JOBS"] = "1"
from distill_core.runs import jobs, store  # noqa: E402

POLL_S = 0.01  # how often the bench looks at the store (s): the resolution of the submit timings


def wait_events(run_id: str, timeout: float = 300) -> dict:
    """Seconds from now to: the first event, the first runner event ('data'), the first student step, the end."""
    t0 = time.perf_counter()
    marks: dict[str, float] = {}
    last = 0
    while time.perf_counter() - t0 < timeout:
        for e in store.run_history(run_id, after=last):
            last = e["id"]
            now = time.perf_counter() - t0
            marks.setdefault("first_event_s", now)
            marks.setdefault(f"phase_{e['phase']}_s", now)
        run = store.get_run(run_id)
        if run.status in store.FINISHED:
            marks["finished_s"] = time.perf_counter() - t0
            marks["status"] = run.status
            return marks
        time.sleep(POLL_S)
    raise TimeoutError(f"run {run_id} did not finish in {timeout} s")


def bench_submit(repeats: int) -> dict:
    from tests.support.runs import make_tiny_classifier, tiny_run_config

    teacher = make_tiny_classifier(Path(tempfile.mkdtemp(prefix="bench-teacher-")))
    config = tiny_run_config(teacher)
    warm = wait_events(jobs.submit(config.replace(name="warm-up")))  # fills the data and teacher-output caches
    assert warm["status"] == "done", warm
    trials = []
    for i in range(repeats):
        t0 = time.perf_counter()
        run_id = jobs.submit(config.replace(name=f"trial {i}"))
        submit_s = time.perf_counter() - t0
        marks = wait_events(run_id)
        assert marks["status"] == "done", marks
        trials.append({"submit_call_s": submit_s} | {k: v + submit_s for k, v in marks.items() if k != "status"})
    keys = ["submit_call_s", "first_event_s", "phase_data_s", "phase_student_s", "finished_s"]
    return {"trials": trials, "median": {k: statistics.median(t[k] for t in trials) for k in keys}}


def bench_list(n: int = 1000, repeats: int = 30) -> dict:
    now = time.time()
    store.list_runs()  # creates the schema
    summary = json.dumps({"accuracy": {"teacher": 0.9, "student": 0.85, "control": 0.8}, "distillation_gain": 0.05,
                          "total_s": 180.0})
    rows = [(f"20260101-000000-{i:06x}", f"run {i}", "done", now - n + i, now, summary) for i in range(n - 1)]
    with store.connect() as conn, store.transaction(conn):
        conn.executemany("INSERT INTO runs (id, name, status, created, updated, config, summary) "
                         "VALUES (?, ?, ?, ?, ?, '{}', ?)", rows)
        # one live running run, so the liveness sweep has work to do
        conn.execute("INSERT INTO runs (id, name, status, created, updated, heartbeat, pid, config) "
                     "VALUES ('20260101-000000-ffffff', 'live', 'running', ?, ?, ?, ?, '{}')",
                     (now, now, now, os.getpid()))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        runs = store.list_runs()
        times.append((time.perf_counter() - t0) * 1000)
    assert len(runs) == n
    times_sorted = sorted(times)
    return {"runs": n, "repeats": repeats, "first_ms": times[0], "median_ms": statistics.median(times),
            "p90_ms": times_sorted[int(0.9 * (repeats - 1))], "max_ms": max(times)}


def machine() -> dict:
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "load_avg_1m": os.getloadavg()[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed submits after one warm-up run")
    args = parser.parse_args()

    os.environ["DISTILL_LAB_HOME"] = tempfile.mkdtemp(prefix="bench-store-list-")
    listing = bench_list()
    os.environ["DISTILL_LAB_HOME"] = tempfile.mkdtemp(prefix="bench-store-submit-")
    submit = bench_submit(args.repeats)

    m = submit["median"]
    rows = [("submit call returns", m["submit_call_s"] * 1000, "ms", None),
            ("submit -> first event (worker 'start')", m["first_event_s"], "s", 5.0),
            ("submit -> first runner event ('data')", m["phase_data_s"], "s", None),
            ("submit -> first student step", m["phase_student_s"], "s", None),
            ("submit -> done (tiny run)", m["finished_s"], "s", None),
            (f"list_runs, {listing['runs']} runs, median", listing["median_ms"], "ms", 100.0),
            (f"list_runs, {listing['runs']} runs, p90", listing["p90_ms"], "ms", 100.0),
            (f"list_runs, {listing['runs']} runs, first call", listing["first_ms"], "ms", None)]
    print(f"{'measure':<42} {'value':>9}  unit  target")
    for name, value, unit, target in rows:
        verdict = "" if target is None else f"<= {target:g} {'ok' if value <= target else 'MISSED'}"
        print(f"{name:<42} {value:>9.3f}  {unit:<4}  {verdict}")
    print(f"(medians of {args.repeats} submits after a warm-up run; list: {listing['repeats']} calls)")

    out = ROOT / "benchmarks" / "results" / "bench_store.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps({"submit": submit, "list": listing, "machine": machine(),
                               "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=2))
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
