"""The comparison table: runs x variants, one row each, with quality, retention, gain and (when measured) latency.

The one place such a table is built: the CLI's `show` and `export`, the dashboard and the HTML report all call
`results_table`. Columns come from `COLUMN_SOURCES`, functions reading a run folder; to add columns (e.g. from a
new measurement file), append a source rather than building another table elsewhere.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from distill_core.runs import store
from distill_core.core.errors import DistillLabError
from distill_core.core.run_files import read_json_or_none

VARIANT_ORDER = ("teacher", "teacher-int8", "student", "student-int8", "control")
RUN_COLUMNS = ["run_id", "name", "status", "variant"]
QUALITY_COLUMNS = ["accuracy", "macro_f1", "ece", "agreement", "kl_from_teacher", "retention", "distillation_gain"]
# Causal-LM runs: perplexity on held-out blocks (lower is better; retention = teacher ppl / variant ppl, gain =
# control ppl - student ppl, so positive still means the teacher helped), agreement = next-token top-1 agreement.
LM_QUALITY_COLUMNS = ["perplexity", "agreement", "kl_from_teacher", "retention", "distillation_gain"]

# A source reads one run folder and returns {variant: {column: value}}; absent files give {}.
ColumnSource = Callable[[Path], dict[str, dict]]


def quality_columns(folder: Path) -> dict[str, dict]:
    """Quality per variant from results.json (test split); distillation gain on the student row."""
    results = read_json_or_none(folder, "results.json")
    if not results or "quality" not in results:
        return {}
    q = results["quality"]
    columns = LM_QUALITY_COLUMNS if q.get("metric") == "perplexity" else QUALITY_COLUMNS
    out = {}
    for variant, m in q["variants"].items():
        row = {c: m.get(c) for c in columns if c != "distillation_gain"}
        row["distillation_gain"] = q.get("distillation_gain") if variant == "student" else None
        out[variant] = row
    return out


def bench_columns(folder: Path) -> dict[str, dict]:
    """Measurement columns from bench.json (written by the run's task's measure_run), per variant: the task's
    bench_columns (tasks/<task>/bench.py) say which: latencies, throughput, memory, size, FLOPs and the int8
    variants' quality."""
    bench = read_json_or_none(folder, "bench.json")
    if not bench or not isinstance(bench.get("variants"), dict):
        return {}
    if bench.get("task") == "causal-lm":  # temporary: the task registry will pick the task's bench_columns
        from distill_core.tasks.causal_lm.bench import bench_columns as task_bench_columns
    else:
        from distill_core.tasks.classification.bench import bench_columns as task_bench_columns
    return task_bench_columns(bench)


COLUMN_SOURCES: list[ColumnSource] = [quality_columns, bench_columns]


def _folder_task(folder: Path) -> str:
    config = read_json_or_none(folder, "config.json") or {}
    return config.get("task", "classification")


def runs_with_results(task: str | None = None) -> list[store.RunRecord]:
    """Runs whose results.json exists (done, or cancelled after saving), newest first; optionally of one task."""
    runs = [r for r in store.list_runs() if (r.folder / "results.json").exists()]
    return runs if task is None else [r for r in runs if _folder_task(r.folder) == task]


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


def _variant_key(variant: str) -> tuple[int, str]:
    return (VARIANT_ORDER.index(variant) if variant in VARIANT_ORDER else len(VARIANT_ORDER), variant)


def results_table(run_ids: list[str]) -> ResultsTable:
    """Runs (ids or unique prefixes) as one table: a row per variant that has any result. Unknown ids raise
    DistillLabError; runs without results add no rows."""
    records = [store.get_run(ref) for ref in run_ids]
    tasks = {(r.config or {}).get("task", "classification") for r in records}
    quality = LM_QUALITY_COLUMNS if tasks == {"causal-lm"} else \
        QUALITY_COLUMNS + (["perplexity"] if "causal-lm" in tasks else [])
    columns = list(RUN_COLUMNS) + list(quality)
    rows = []
    for record in records:
        cells: dict[str, dict] = {}
        for source in COLUMN_SOURCES:
            for variant, values in source(record.folder).items():
                cells.setdefault(variant, {}).update(values)
                columns += [c for c in values if c not in columns]
        for variant in sorted(cells, key=_variant_key):
            rows.append({"run_id": record.id, "name": record.name, "status": record.status, "variant": variant}
                        | cells[variant])
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
