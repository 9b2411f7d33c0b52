"""Runs as text: the quality table of a finished run (driven by its task's QualitySpec), the run listing, and a run's
full report (the quality table, then its task's measurement table). The CLI prints these; nothing here names a task.

Also the lookups every view shares: which task wrote a saved file (`task_of`); the units of quality numbers
(FRACTIONS, gain_text, gain_order) live in views/units.py and are named here too.
"""

from __future__ import annotations

from pathlib import Path

from distill_core.core.config import RunConfig
from distill_core.core.errors import DistillLabError
from distill_core.core.run_files import read_json
from distill_core.tasks import get_task
from distill_core.tasks.base import QualitySpec, Task
from distill_core.views import verdict
from distill_core.views.units import FRACTIONS, gain_order, gain_text, is_number  # noqa: F401 (named here too)
# column -> (header, width, number format) of the text quality table; other columns: their name, .4f
_TEXT_COLUMNS = {"accuracy": ("accuracy", 9, ".4f"), "macro_f1": ("macro-F1", 9, ".4f"), "ece": ("ECE", 7, ".4f"),
                 "perplexity": ("perplexity", 10, ".2f"), "retention": ("retention", 10, ".3f"),
                 "agreement": ("agreement", 10, ".3f"), "kl_from_teacher": ("KL(t||v)", 9, ".4f")}
# Columns every task's report shares, printed after the task's own, in this order.
_SHARED_COLUMNS = ("retention", "agreement", "kl_from_teacher")
# Short metric names for the run listing's "student <metric>" column.
_SHORT = {"accuracy": "acc", "perplexity": "ppl"}


def task_of(data: dict | None) -> Task:
    """The task that wrote `data` (results.json, bench.json or a run config: its "task" key). Files from before
    tasks were recorded have none: they are the RunConfig default's. ConfigError (field "task", with the allowed
    names) for a task this install does not have."""
    return get_task((data or {}).get("task") or RunConfig().task)


def task_or_none(data: dict | None) -> Task | None:
    """task_of, or None for a task this install does not have (for listings that skip what they cannot read)."""
    try:
        return task_of(data)
    except DistillLabError:
        return None


def quality_of(results: dict) -> tuple[Task, str, bool]:
    """(task, headline metric, higher is better) of a results.json; older files without the last two in their
    quality take them from the task."""
    task = task_of(results)
    q = results.get("quality") or {}
    return task, q.get("metric") or task.quality.metric, bool(q.get("higher_is_better",
                                                                    task.quality.higher_is_better))


def _text_columns(spec: QualitySpec) -> list[str]:
    columns = [c for c in spec.columns if c != "distillation_gain"]
    return [c for c in columns if c not in _SHARED_COLUMNS] + [c for c in _SHARED_COLUMNS if c in columns]


def _cell(value, column: str) -> str:
    _, width, spec = _TEXT_COLUMNS.get(column, (column, max(9, len(column) + 1), ".4f"))
    if not is_number(value):
        return f"{'-':>{width}}"
    return f"{value:>{width}{spec}}"


def quality_table(results: dict) -> str:
    """A finished run's results.json as text: its task's quality columns per variant (fractions as 0..1,
    perplexity as is, KL in nats; the first training seed's models), the distillation gain, its verdict and
    per-seed table when the run has one (views/verdict.py), the task's own lines, the student's cost next to the
    teacher's (parameters in millions, FLOPs per the task's unit) and the phase timings (s)."""
    task, metric, higher = quality_of(results)
    q = results["quality"]
    columns = _text_columns(task.quality)
    header = " ".join(f"{label:>{width}}" for label, width, _ in
                      (_TEXT_COLUMNS.get(c, (c, max(9, len(c) + 1), "")) for c in columns))
    lines = [f"{'variant':<10} {header}"]
    for name, m in q["variants"].items():
        lines.append(f"{name:<10} " + " ".join(_cell(m.get(c), c) for c in columns))
    seeds = (verdict.gain_of(results) or {}).get("per_seed") or []
    if len(seeds) > 1:
        lines.append(f"(student and control above: seed {seeds[0].get('seed')}, the saved models)")
    gain = q.get("distillation_gain")
    if gain is not None:
        over = f", mean of {len(seeds)} seeds" if len(seeds) > 1 else ""
        shown = f"{gain * 100:+.2f} points" if metric in FRACTIONS else f"{gain:+.2f}"
        lines.append(f"distillation gain ({gain_order(higher)} {metric}{over}): {shown}")
    lines += verdict.gain_lines(results)
    lines += [f"warning: {w}" for w in results.get("warnings") or []]
    lines += task.results_lines(results)
    pf = results["preflight"]
    lines.append(f"student: {pf['student_description']}; {pf['student']['parameters'] / 1e6:.1f}M params vs "
                 f"teacher {pf['teacher']['parameters'] / 1e6:.1f}M; FLOPs/{task.unit_name} "
                 f"{pf['flops_ratio']:.1f}x fewer")
    lines.append(f"trained on: {training_setup(results)}")
    lines.append("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in results["timings"].items()))
    return "\n".join(lines)


def training_setup(results: dict) -> str:
    """Where a run trained: device, processes (DDP), torch threads per process and precision (runs from before
    processes and precision were recorded trained on one process in fp32), and how many of its independent
    trainings ran at once."""
    processes = int(results.get("processes") or 1)
    threads = results.get("threads")
    per = " each" if processes > 1 else ""
    at_once = int((results.get("training") or {}).get("trainings_at_once") or 1)  # runs/fits.py
    return (f"{results.get('device') or '?'}, {processes} process{'es' if processes > 1 else ''}"
            + (" (DDP)" if processes > 1 else "")
            + (f", {threads} torch thread{'s' if threads != 1 else ''}{per}" if threads else "")
            + f", {results.get('precision') or 'fp32'}"
            + (f"; {at_once} trainings at once, 1 torch thread each" if at_once > 1 else ""))


def run_report(folder: str | Path) -> str:
    """A finished run as text: the quality table, then its task's measurement table when bench.json exists."""
    text = quality_table(read_json(folder, "results.json"))
    if (Path(folder) / "bench.json").exists():
        bench = read_json(folder, "bench.json")
        text += "\n\n" + task_of(bench).format_bench(bench)
    return text


def format_table(columns: list[str], rows: list[dict]) -> str:
    """Rows of dicts as aligned text; floats with 4 decimals, None as '-'."""
    def cell(v):
        return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def student_column(metric: str) -> str:
    """The run listing's column of the student's headline metric: "student acc", "student ppl"..."""
    return f"student {_SHORT.get(metric, metric)}"


def summary_metric(summary: dict | None) -> str | None:
    """The headline metric a run's stored summary is keyed by (runs.worker.summarize: {metric: {variant: value},
    "distillation_gain": ..., "total_s": ...}); None before the run has results."""
    return next((k for k, v in (summary or {}).items() if isinstance(v, dict)), None)


def summary_columns(runs) -> tuple[list[str], list[dict]]:
    """(columns, cells) of the run listing's results part, per run in order: the student's headline metric under
    its own column (one per metric the runs' summaries hold: registered tasks' metrics in registry order first),
    the distillation gain (in the metric's stored unit: a fraction for accuracy, perplexity as is) and its verdict
    in words (None for runs from before seeds)."""
    from distill_core.tasks import all_tasks

    cells, used = [], []
    for r in runs:
        summary = r.summary or {}
        metric = summary_metric(summary)
        row = {"gain": summary.get("distillation_gain"),
               "verdict": verdict.verdict_text(summary.get("verdict")) or None}
        if metric is not None:
            row[student_column(metric)] = (summary[metric] or {}).get("student")
            used.append(student_column(metric))
        cells.append(row)
    known = [student_column(t.quality.metric) for t in all_tasks()]
    columns = [c for c in dict.fromkeys(known) if c in used] + [c for c in dict.fromkeys(used) if c not in known]
    return columns + ["gain", "verdict"], cells
