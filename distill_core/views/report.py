"""The HTML report: chosen runs as one self-contained page (plotly.js inline, no network) to keep or send.

Built from the same pieces as the dashboard: `compare.results_table` for the numbers, `charts` for the figures,
`display` for the tables and `verdict` for the distillation gain's verdict, so the report and the Compare page never
disagree. Every piece of user text (run names, errors,
configs) is escaped here; figures escape their own labels.
"""

from __future__ import annotations

import html
import json
import time

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from distill_core.core.run_files import read_json_or_none
from distill_core.measure.conditions import conditions_text
from distill_core.runs import store
from distill_core.views import charts, compare, display, headline, tables, teacher_helped, verdict
from distill_core.views.configs import config_diff

HELPED_EXAMPLES = 5  # examples per group in the report's "where the teacher helped"

_CSS = """
body { font-family: Inter, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #2b2b2b; margin: 0;
       background: #fafafa; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 64px; background: white; }
h1 { font-size: 26px; margin-bottom: 4px; } h2 { font-size: 20px; margin-top: 40px; border-bottom: 1px solid #e5e5e5;
     padding-bottom: 4px; } h3 { font-size: 16px; margin: 20px 0 6px; }
.meta, .note { color: #666; } .note { font-style: italic; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th { background: #f5f5f5; } td:first-child, th:first-child, td:nth-child(2), th:nth-child(2) { text-align: left; }
.run { border: 1px solid #e5e5e5; border-radius: 6px; padding: 8px 16px; margin: 10px 0; }
.run dl { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; margin: 6px 0; }
.run dt { color: #666; } .run dd { margin: 0; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
pre { background: #f7f7f7; padding: 10px; overflow-x: auto; font-size: 12px; }
.scroll { overflow-x: auto; } details { margin: 6px 0; } summary { cursor: pointer; }
.headline { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 12px; margin: 10px 0; }
.figure { border: 1px solid #e5e5e5; border-radius: 6px; padding: 10px 14px; }
.figure .label { color: #666; font-size: 13px; } .figure .value { font-size: 24px; font-weight: 600; margin: 2px 0; }
.figure .detail { color: #666; font-size: 12px; }
td.text { white-space: normal; text-align: left; min-width: 260px; max-width: 420px; }
"""
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def report_filename(run_ids: list[str]) -> str:
    """A file name for the report: distill-lab-report-<first run id>.html."""
    first = str(run_ids[0]) if run_ids else ""
    safe = "".join(ch for ch in first if ch.isalnum() or ch in "-_")
    return f"distill-lab-report-{safe}.html" if safe else "distill-lab-report.html"


def figure_html(fig: go.Figure) -> str:
    """A plotly figure as an HTML fragment (plotly.js comes once, from html_page)."""
    return fig.to_html(full_html=False, include_plotlyjs=False, config=_PLOT_CONFIG)


def table_html(frame, index: bool = False) -> str:
    """A DataFrame as an escaped, horizontally scrolling HTML table."""
    return f"<div class='scroll'>{frame.to_html(index=index, border=0, escape=True, na_rep='–')}</div>"


def html_page(title: str, body: list[str]) -> str:
    """A self-contained report page (the report's CSS and plotly.js inline: it opens offline) around `body`'s HTML
    fragments; `title` is escaped."""
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
            f"<script type='text/javascript'>{get_plotlyjs()}</script></head>\n<body><main>\n"
            + "\n".join(body) + "\n</main></body></html>\n")


def _machine_text(m: dict) -> str:
    cores = f"{m.get('physical_cores') or '?'} physical / {m.get('logical_cores') or '?'} logical cores"
    gpu = m.get("gpu") or "no GPU"
    cuda = f" (CUDA {m['cuda']})" if m.get("cuda") else ""
    return (f"{m.get('cpu_model') or 'unknown CPU'}, {cores}, {m.get('threads') or '?'} torch threads, {gpu}{cuda}; "
            f"{m.get('os') or ''}; Python {m.get('python') or '?'}, torch {m.get('torch') or '?'}, transformers "
            f"{m.get('transformers') or '?'}, torchao {m.get('torchao') or 'not installed'}")


def _machine_section(runs: list[tuple[store.RunRecord, dict | None, dict | None]]) -> str:
    """The machine(s) the variants were measured on (bench.json), or this machine when nothing was measured."""
    measured: dict[str, tuple[dict, list[str]]] = {}
    how: list[str] = []
    for record, _, bench in runs:
        m = (bench or {}).get("machine")
        if isinstance(m, dict):
            key = json.dumps(m, sort_keys=True)
            measured.setdefault(key, (m, []))[1].append(record.name)
        text = conditions_text((bench or {}).get("conditions"))
        if text:
            how.append(f"<li>{html.escape(record.name)}: {html.escape(text)}</li>")
    parts = ["<h2>Machine</h2>"]
    if measured:
        for m, names in measured.values():
            parts.append(f"<p>{html.escape(_machine_text(m))}<br><span class='meta'>measured: "
                         f"{html.escape(', '.join(names))}</span></p>")
        if len(measured) > 1:
            parts.append("<p class='note'>These runs were measured on different machines: compare their latency "
                         "and memory with care.</p>")
        if how:
            parts.append("<p class='meta'>How each was measured:</p><ul class='meta'>" + "".join(how) + "</ul>")
    else:
        from distill_core.measure import machine

        parts.append(f"<p>{html.escape(_machine_text(machine.machine_record().to_dict()))}</p>"
                     "<p class='note'>No run here has been measured (no bench.json): this is the machine that wrote "
                     "the report.</p>")
    return "\n".join(parts)


def _teacher_text(record: store.RunRecord, results: dict) -> str:
    cfg = record.config or {}
    teacher = cfg.get("teacher") or {}
    text = str(teacher.get("model") or "unknown")
    prepared = results.get("teacher") or {}
    if prepared.get("finetuned"):
        text += f" (fine-tuned{', cached' if prepared.get('cached') else ''})"
    params = ((results.get("preflight") or {}).get("teacher") or {}).get("parameters")
    return text + (f", {params / 1e6:.1f}M parameters" if params else "")


def _student_text(record: store.RunRecord, results: dict) -> str:
    preflight = results.get("preflight") or {}
    text = (preflight.get("student_description") or ((record.config or {}).get("student") or {}).get("kind")
            or "unknown")
    params = (preflight.get("student") or {}).get("parameters")
    ratio = preflight.get("flops_ratio")
    unit = getattr(tables.task_or_none(results), "unit_name", "input")
    return (str(text) + (f", {params / 1e6:.1f}M parameters" if params else "")
            + (f", {ratio:.1f}x fewer FLOPs per {unit} than the teacher" if ratio else ""))


def _run_card(record: store.RunRecord, results: dict | None) -> str:
    e = html.escape
    items = [("name", record.name), ("id", record.id), ("status", record.status),
             ("created", time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created)))]
    if results:
        items += [("teacher", _teacher_text(record, results)), ("student", _student_text(record, results)),
                  ("trained on", tables.training_setup(results))]
        total = (results.get("timings") or {}).get("total_s")
        if total:
            items.append(("wall time", f"{total / 60:.1f} min"))
    if record.error:
        items.append(("note", record.error))
    rows = "".join(f"<dt>{e(k)}</dt><dd>{e(str(v))}</dd>" for k, v in items)
    note = "" if results else (f"<p class='note'>No results for this run yet (status: {e(record.status)}): it "
                               "appears in no table or chart below.</p>")
    return f"<div class='run'><h3>{e(record.name)}</h3><dl>{rows}</dl>{note}</div>"


def _legend_swatches() -> str:
    return (" ".join(f"<span><span class='swatch' style='background:{c}'></span>{html.escape(v)}</span>"
                     for v, c in charts.VARIANT_COLORS.items())
            + " <span>(on ONNX Runtime, <code>-ort</code>: the same colour, a dot in the marker)</span>")


def _verdict_section(runs: list[tuple[store.RunRecord, dict | None, dict | None]]) -> str:
    """Near the top: each run's verdict on the distillation gain in one line (runs from before training seeds: their
    gain without an interval)."""
    e = html.escape
    items = []
    for record, results, _ in runs:
        line = verdict.headline(results)
        gain = ((results or {}).get("quality") or {}).get("distillation_gain")
        if line is None and gain is not None:
            metric = tables.quality_of(results)[1] if tables.task_or_none(results) else ""
            line = f"distillation gain {tables.gain_text(gain, metric)} (no interval or verdict: the run predates training seeds)"
        if line:
            items.append(f"<li><b>{e(record.name)}</b>: {e(line)}</li>")
    if not items:
        return ""
    return ("<h2>Verdict</h2><p class='meta'>Did the teacher help? The student's quality minus the control's (same "
            "architecture, data and budget, no teacher), with its 95% interval over training seeds (over the test "
            f"split's examples for one seed).</p><ul>{''.join(items)}</ul>")


def _headline_section(runs: list[tuple[store.RunRecord, dict | None, dict | None]], rows: list[dict]) -> list[str]:
    """The first screen: per run with results, speed, size, quality kept and the teacher's help as four figures."""
    e = html.escape
    parts = []
    for record, results, _ in runs:
        figures = headline.headline_figures([r for r in rows if r.get("run_id") == record.id], results)
        if not figures:
            continue
        cards = "".join(f"<div class='figure'><div class='label'>{e(f.label)}</div><div class='value'>"
                        f"{e(f.value)}</div><div class='detail'>{e(f.detail)}</div></div>" for f in figures)
        title = f"<h3>{e(record.name)} <span class='meta'>({e(record.id)})</span></h3>" if len(runs) > 1 else ""
        parts.append(f"{title}<div class='headline'>{cards}</div>")
    return parts


def _helped_section(runs: list[tuple[store.RunRecord, dict | None, dict | None]]) -> list[str]:
    """Per run that kept its test outputs: who won the examples the student and control disagree on, and the most
    telling of each side with the teacher's soft targets."""
    e = html.escape
    parts = []
    for record, results, _ in runs:
        found = teacher_helped.disagreements(str(record.folder)) if results else None
        if found is None:
            continue
        parts.append(f"<h3>{e(record.name)} <span class='meta'>({e(record.id)})</span></h3>"
                     f"<p>{e(found.summary())}</p>")
        for key, words in teacher_helped.GROUPS.items():
            table = found.tables[key].head(HELPED_EXAMPLES)
            if len(table):
                parts.append(f"<p class='meta'>{e(words.capitalize())}: the first {len(table)} of "
                             f"{found.counts[key]}, the largest gap in the right class's probability first.</p>")
                parts.append(_text_table(table))
    if not parts:
        return []
    return ["<h2>Where the teacher helped</h2><p class='meta'>Test examples on which the student (trained with the "
            "teacher) and the control (same architecture, data and budget, no teacher) disagree about being right, "
            "first training seed, with the teacher's own answer and its soft targets at the run's temperature (what "
            "the student learned from).</p>", *parts]


def _text_table(frame) -> str:
    """A table whose first column is free text (wrapped), the rest short cells; everything escaped."""
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td class='text'>{e(str(v))}</td>" if i == 0 else f"<td>{e(str(v))}</td>"
                                    for i, v in enumerate(row)) + "</tr>" for row in frame.itertuples(index=False))
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def _seeds_section(runs: list[tuple[store.RunRecord, dict | None, dict | None]]) -> list[str]:
    """Per run with a gain report: its headline, the per-seed table, how to read the gain and the notes."""
    e = html.escape
    parts = []
    for record, results, _ in runs:
        gain = verdict.gain_of(results)
        if gain is None:
            continue
        parts.append(f"<h3>{e(record.name)} <span class='meta'>({e(record.id)})</span></h3>"
                     f"<p>{e(verdict.headline(results))}</p>{table_html(display.seed_table(results))}"
                     f"<p class='meta'>{e(verdict.unit_note(gain))}</p>")
        rate = verdict.learning_rate_line(results)
        parts += [f"<p class='meta'>{e(rate)}</p>"] if rate else []
        parts += [f"<p class='note'>{e(n)}</p>" for n in verdict.notes(gain)]
    return ["<h2>Distillation gain per training seed</h2>", *parts] if parts else []


def _speed_section(rows: list[dict]) -> list[str]:
    """Speedups from paired rounds with their 95% intervals, when the runs were measured that way."""
    table = display.speed_table(rows)
    if not len(table):
        return []
    return ["<h2>Speed</h2><p class='meta'>Each speedup is the median of per-round ratios (teacher ms / variant "
            "ms, timed seconds apart in interleaved rounds) with its 95% interval; where the interval holds 1.0 "
            "the table says \"no measurable difference\". Student vs control: the same architecture, so the "
            "noise floor.</p>", table_html(table)]


def html_report(run_ids: list[str]) -> str:
    """The runs (ids or unique id prefixes) as one self-contained HTML page: each run's verdict, machine, run cards,
    the comparison (latency with intervals) and retention tables, quality-vs-latency scatter, cost bars, speedups
    with intervals, the gain per training seed, training curves and configs. Opens offline
    (plotly.js inline once). Unknown ids raise DistillLabError; runs without results get a note, not charts."""
    e = html.escape
    records = [store.get_run(ref) for ref in run_ids]
    runs = [(r, read_json_or_none(r.folder, "results.json"), read_json_or_none(r.folder, "bench.json")) for r in records]
    with_results = [r.id for r, results, _ in runs if results]
    rows = compare.results_table(with_results).rows if with_results else []
    quality = display.row_metric(rows[0]) if rows else display.row_metric({})  # the first run's headline metric
    cost = next(iter(charts.available_metrics(rows, "cost")), "p50_ms_batch1")  # batch-1 latency first
    generated = time.strftime("%Y-%m-%d %H:%M:%S")

    body = [f"<h1>Distill Lab report</h1><p class='meta'>Generated {e(generated)} · {len(records)} "
            f"run{'s' if len(records) != 1 else ''} · variant colours: {_legend_swatches()}</p>"]
    # The first screen: the answer (speed, size, quality kept, did the teacher help) and the quality-vs-latency
    # chart; the details follow.
    body += _headline_section(runs, rows)
    if rows:
        body.append(figure_html(charts.quality_latency_scatter(rows, quality, cost)))
    body += [_verdict_section(runs), _machine_section(runs), "<h2>Runs</h2>"]
    body += [_run_card(record, results) for record, results, _ in runs]

    body.append("<h2>Comparison</h2>")
    if rows:
        body.append("<p class='meta'>Quality on each run's held-out split (the first training seed's models); "
                    "latency is the median wall time of one forward pass over the batch, with its 95% interval in "
                    "brackets where it was measured in rounds (this measurement's noise: a shared machine's speed "
                    "can move every latency of a later measurement alike by a few percent, which the speedups, "
                    "timed within a round, cancel); peak memory is the measuring process's peak RSS minus its "
                    "baseline.</p>")
        body.append(table_html(display.comparison_table(rows)))
        body.append("<h2>Retention and distillation gain</h2><p class='meta'>Retention: a variant's quality as a "
                    "share of the teacher's. Agreement: share of predictions where its top answer equals the "
                    "teacher's. Distillation gain: how much better the student is than the control (same "
                    "architecture, data and budget, no teacher), in percentage points for a percentage, else in "
                    "the metric's own unit, with its 95% interval and verdict where the run has them.</p>")
        body.append(table_html(display.retention_table(rows)))
        body.append("<h2>Cost</h2>")
        body.append(figure_html(charts.cost_bars(rows)))
        body += _speed_section(rows)
    else:
        body.append(f"<p class='note'>{e(charts.EMPTY_MESSAGE)}.</p>")

    body += _seeds_section(runs)
    body += _helped_section(runs)
    body.append("<h2>Training curves</h2>")
    for record, results, _ in runs:
        body.append(f"<h3>{e(record.name)} <span class='meta'>({e(record.id)})</span></h3>")
        history = read_json_or_none(record.folder, "history.json") if results else None
        if not results:
            body.append("<p class='note'>No results for this run yet.</p>")
        elif not history:
            body.append("<p class='note'>No training history recorded.</p>")
        else:
            body.append(figure_html(charts.training_curves(history)))

    body.append("<h2>Configs</h2>")
    configs = {f"{r.name} ({r.id})": r.config or {} for r in records}
    if len(records) > 1:
        diff = config_diff(configs)
        body.append("<h3>Settings that differ</h3>")
        body.append(table_html(diff, index=True) if len(diff) else "<p class='note'>The configs are identical.</p>")
    for label, cfg in configs.items():
        body.append(f"<details><summary>{e(label)}: full config</summary><pre>"
                    f"{e(json.dumps(cfg, indent=2, sort_keys=True))}</pre></details>")

    return html_page(f"Distill Lab report · {generated}", body)
