"""The comparison table: runs x variants, one row each, with quality, retention, gain and (when measured) latency.

The one place such a table is built: the CLI's `show` and `export`, the dashboard and the HTML report all call
`results_table`. Columns come from `COLUMN_SOURCES`, functions reading a run folder; to add columns (e.g. from a
new measurement file), append a source rather than building another table elsewhere. Which quality and measurement
columns a run has is its task's to say (`Task.quality.columns`, `Task.bench_columns`); every row also carries its
run's task, headline metric and whether higher is better, so charts and tables need not guess them.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from distill_core.core.errors import DistillLabError
from distill_core.core.run_files import read_json_or_none
from distill_core.core.variants import order_key, runtime_of
from distill_core.runs import store
from distill_core.tasks import all_tasks
from distill_core.tasks.base import Task
from distill_core.views import verdict
from distill_core.views.tables import quality_of, task_or_none

RUN_COLUMNS = ["run_id", "name", "status", "variant", "runtime"]  # runtime: core.variants.RUNTIMES
# What every row says about its run's quality measure (after the quality columns): task name, headline metric,
# higher is better.
METRIC_COLUMNS = ["task", "metric", "higher_is_better"]

# A source reads one run folder and returns {variant: {column: value}}; absent files give {}.
ColumnSource = Callable[[Path], dict[str, dict]]


def quality_columns(folder: Path) -> dict[str, dict]:
    """Quality per variant from results.json (the task's held-out split), in the task's quality columns; the
    distillation gain on the student row (in the metric's unit, positive when the teacher helped; the mean over
    training seeds), with `distillation_gain_low`/`_high` (its 95% interval), `verdict` (a stats.VERDICTS key) and
    `seeds` (how many) when the run has a gain report."""
    results = read_json_or_none(folder, "results.json")
    if not results or "quality" not in results or task_or_none(results) is None:
        return {}  # no results yet, or a task this install does not have (the run shows no rows)
    task, metric, higher = quality_of(results)
    q = results["quality"]
    report = verdict.gain_of(results)
    interval = (report or {}).get("interval") or [None, None]
    out = {}
    for variant, m in q["variants"].items():
        row = {c: m.get(c) for c in task.quality.columns if c != "distillation_gain"}
        row["distillation_gain"] = q.get("distillation_gain") if variant == "student" else None
        if report and variant == "student":
            row |= {"distillation_gain_low": interval[0], "distillation_gain_high": interval[1],
                    "verdict": report.get("verdict"), "seeds": len(report["per_seed"])}
        out[variant] = row | {"task": task.name, "metric": metric, "higher_is_better": higher}
    return out


def bench_columns(folder: Path) -> dict[str, dict]:
    """Measurement columns from bench.json, as its task reads them (`Task.bench_columns`): latencies (ms), rates
    (inputs/s, tokens/s), peak memory (MiB), weight bytes, parameters, FLOPs per input, and quality for the variants
    that results.json lacks (the int8 ones); and the latencies' intervals and paired speedups (interval_columns)."""
    bench = read_json_or_none(folder, "bench.json")
    task = task_or_none(bench)
    if not bench or not isinstance(bench.get("variants"), dict) or task is None:
        return {}
    columns = task.bench_columns(bench)
    for variant, values in _intervals_of(bench).items():
        columns.setdefault(variant, {}).update(values)
    return columns


def interval_columns(folder: Path) -> dict[str, dict]:
    """The uncertainty of bench.json's latencies, in any task's latency records (measure/records.LatencyRecord) of
    the "real" setting: `p50_ms_batch{B}_low`/`_high` (ms, the p50's 95% interval); and its paired comparisons
    against the teacher, `speedup_batch{B}` (teacher ms / variant ms; another setting than "real" is named:
    `speedup_decode_batch1`) with `_low`, `_high` and `_verdict` ("faster" | "slower" | comparisons.SAME), and the
    student's against the control, `vs_control_...` likewise. The synthetic "fixed"-length setting is left to the
    text table. Older files without them give {}."""
    bench = read_json_or_none(folder, "bench.json")
    if not bench or not isinstance(bench.get("variants"), dict) or task_or_none(bench) is None:
        return {}
    return _intervals_of(bench)


def _intervals_of(bench: dict) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for variant, v in bench["variants"].items():
        if not isinstance(v, dict) or v.get("status") != "ok":
            continue
        for r in v.get("latency") or []:
            if r.get("setting") == "real" and r.get("p50_low_ms") is not None:
                key = f"p50_ms_batch{r['batch_size']}"
                out.setdefault(variant, {}).update({f"{key}_low": r["p50_low_ms"], f"{key}_high": r["p50_high_ms"]})
    prefixes = {"teacher": "speedup", "control": "vs_control"}
    for c in bench.get("comparisons") or []:
        prefix, setting = prefixes.get(c.get("reference")), c.get("setting")
        if prefix is None or setting == "fixed" or (prefix == "vs_control" and c["variant"] != "student"):
            continue
        key = f"{prefix}_batch{c['batch_size']}" if setting == "real" else f"{prefix}_{setting}_batch{c['batch_size']}"
        out.setdefault(c["variant"], {}).update({key: c["ratio"], f"{key}_low": c["low"], f"{key}_high": c["high"],
                                                 f"{key}_verdict": c["verdict"]})
    return out


COLUMN_SOURCES: list[ColumnSource] = [quality_columns, bench_columns]


def record_task(record: store.RunRecord) -> Task | None:
    """The task of a stored run (its config's; the default for configs from before tasks), or None for a task this
    install does not have. Listed records carry no config: their folder's config.json says."""
    config = record.config if record.config is not None else read_json_or_none(record.folder, "config.json")
    return task_or_none(config)


def runs_with_results() -> list[store.RunRecord]:
    """Runs whose results.json exists (done, or cancelled after saving), newest first. To pick runs by what their
    task can do, filter on `record_task(r)`."""
    return [r for r in store.list_runs() if (r.folder / "results.json").exists()]


@dataclass
class ResultsTable:
    columns: list[str]
    rows: list[dict] = field(default_factory=list)  # one per (run, variant); missing cells are None

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({c: "" if row.get(c) is None else row[c] for c in self.columns})
        return out.getvalue()

    def to_dict(self) -> dict:
        return {"columns": self.columns, "rows": self.rows}


def contention_notes(records: list[store.RunRecord]) -> list[tuple[str, str]]:
    """(run id, note) for each run whose bench.json was measured while the host was contended in too many rounds to
    leave out (measure/contention.py): its speedups differ from a quiet host's, and the board must say so."""
    out = []
    for record in records:
        conditions = (read_json_or_none(record.folder, "bench.json") or {}).get("conditions") or {}
        if conditions.get("contended_throughout") and conditions.get("contention_note"):
            out.append((record.id, conditions["contention_note"]))
    return out


def results_table(run_ids: list[str]) -> ResultsTable:
    """Runs (ids or unique prefixes) as one table: a row per variant that has any result. Quality columns are the
    union of the runs' tasks' (in registry order), then METRIC_COLUMNS, then measurements as found. Unknown ids raise
    DistillLabError; runs without results add no rows."""
    records = [store.get_run(ref) for ref in run_ids]
    names = {getattr(record_task(r), "name", None) for r in records}
    quality = [c for t in all_tasks() if t.name in names for c in t.quality.columns]  # registry order
    columns = list(RUN_COLUMNS) + list(dict.fromkeys(quality)) + METRIC_COLUMNS
    rows = []
    for record in records:
        cells: dict[str, dict] = {}
        for source in COLUMN_SOURCES:
            for variant, values in source(record.folder).items():
                cells.setdefault(variant, {}).update(values)
                columns += [c for c in values if c not in columns]
        # The run's task and metric on every row, the int8 ones (measured only, not in results.json) too.
        task = record_task(record)
        shared = next(({c: v[c] for c in METRIC_COLUMNS} for v in cells.values() if v.get("metric")),
                      {"task": task.name, "metric": task.quality.metric,
                       "higher_is_better": task.quality.higher_is_better} if task else {})
        for variant in sorted(cells, key=order_key):
            rows.append({"run_id": record.id, "name": record.name, "status": record.status, "variant": variant,
                         "runtime": runtime_of(variant)} | shared | cells[variant])
    return ResultsTable(columns, [{c: row.get(c) for c in columns} for row in rows])


def export_run(ref: str, fmt: str) -> str:
    """One run as text: 'json' (the run record with config, results.json, the table and the event history) or
    'csv' (the table)."""
    if fmt not in ("json", "csv"):
        raise DistillLabError(f"{fmt!r} is not an export format; allowed: json | csv", "format")
    table = results_table([ref])
    if fmt == "csv":
        return table.to_csv()
    record = store.get_run(ref)
    payload = {"run": record.to_dict(), "results": read_json_or_none(record.folder, "results.json"),
               "table": table.to_dict(), "history": store.run_history(record.id)}
    return json.dumps(payload, indent=2, default=float)
