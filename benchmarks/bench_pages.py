"""Each dashboard page's script run time with 200 runs in the store (target <= 1.5 s on the 2-core dev machine).

    .venv/bin/python benchmarks/bench_pages.py [--runs 200] [--repeats 5]

One tiny run (random 4-layer BERT teacher over the reviews, trained and measured for real) plus `--runs - 1` stored
runs carrying copies of its result files, so every page has a full store to list, table and chart. Each page is
opened through Streamlit's AppTest (the same script run the server does, minus the websocket) in the state a user
sees (New run composing with its pre-flight panel, Playground answering a typed review with all five variants);
the first run ("cold": imports, model loads, caches) is reported apart, then `--repeats` reruns are timed. Compare
is also timed with 20 runs picked. Prints a table and writes
benchmarks/results/bench_pages.json. Uses a temporary data folder (never the real one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
TARGET_S = 1.5
PAGES = ["app_pages/home.py", "app_pages/new_run.py", "app_pages/runs.py", "app_pages/compare.py",
         "app_pages/playground.py", "app_pages/learn.py"]
RESULT_FILES = ("config.json", "preflight.json", "history.json", "results.json", "bench.json")


def build_store(n_runs: int, work: Path) -> str:
    """A data folder with one real finished, measured tiny run and `n_runs - 1` copies of its results."""
    from distill_core.measure.records import BenchConfig
    from distill_core.runs import store, worker
    from distill_core.runs.pipeline import run_experiment
    from distill_core.tasks.classification import bench
    from tests.support.runs import QUICK_BENCH, make_tiny_classifier, tiny_run_config

    teacher = make_tiny_classifier(work / "teacher")
    config = tiny_run_config(teacher, name="real-run")
    first = store.create_run(config.to_dict())
    results = run_experiment(config, first.folder)
    bench.measure_run(first.folder, BenchConfig(**QUICK_BENCH))
    store.finish(first.id, "done", summary=worker.summarize(results))
    for i in range(n_runs - 1):
        record = store.create_run(config.to_dict(), name=f"copy-{i:03d}")
        for name in RESULT_FILES:
            shutil.copy(first.folder / name, record.folder / name)
        store.finish(record.id, "done", summary=worker.summarize(results))
    return first.id


def type_review(at) -> None:
    at.text_area[0].set_value("The kettle boils fast, but the lid broke after a week.")


# What a user has on screen when the page is timed: New run composing (the pre-flight panel), Playground answering.
PREPARE = {"app_pages/new_run.py": lambda at: at.segmented_control(key="mode").set_value("Compose"),
           "app_pages/playground.py": type_review}


def time_page(page: str, state: dict, repeats: int) -> dict:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page != "app_pages/home.py":
        at.switch_page(page).run()
    if page in PREPARE:
        PREPARE[page](at)
    started = time.perf_counter()
    at.run()  # first run of the page: imports, model loads, caches
    cold = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(f"{page}: {at.exception[0].value}")
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        at.run()
        samples.append(time.perf_counter() - started)
    return {"page": page, "cold_s": cold, "median_s": statistics.median(samples), "max_s": max(samples),
            "samples_s": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    os.environ["DISTILL_LAB_HOME"] = str(work / "home")
    try:
        started = time.perf_counter()
        real_id = build_store(args.runs, work)
        print(f"store with {args.runs} runs built in {time.perf_counter() - started:.0f} s")
        from distill_core.measure import machine
        from distill_core.runs import store

        rows = [time_page(page, {"run_id": real_id}, args.repeats) for page in PAGES]
        picked = [r.id for r in store.list_runs()[:20]]
        many = time_page("app_pages/compare.py", {"run_id": real_id, "compare_runs": picked}, args.repeats)
        many["page"] = "app_pages/compare.py (20 runs picked)"
        rows.append(many)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'page':<36} {'cold s':>8} {'median s':>9} {'max s':>7}  target <= {TARGET_S} s")
    for r in rows:
        verdict = "PASS" if r["median_s"] <= TARGET_S else "FAIL"
        print(f"{r['page']:<36} {r['cold_s']:>8.2f} {r['median_s']:>9.2f} {r['max_s']:>7.2f}  {verdict}")
    record = machine.machine_record().to_dict()
    out = ROOT / "benchmarks" / "results" / "bench_pages.json"
    out.write_text(json.dumps({"runs_in_store": args.runs, "repeats": args.repeats, "target_s": TARGET_S,
                               "pages": rows, "machine": record, "python": platform.python_version(),
                               "load_average": os.getloadavg()}, indent=2))
    print(f"\nwrote {out.relative_to(ROOT)}; load average {os.getloadavg()[0]:.1f} on {record.get('logical_cores')} "
          "logical cores")


if __name__ == "__main__":
    main()
