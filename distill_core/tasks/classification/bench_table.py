"""A classification bench.json read back: Compare's columns and the text table (`distill-lab bench` / `show`)."""

from __future__ import annotations

from distill_core.measure import comparisons
from distill_core.measure.conditions import conditions_text
from distill_core.measure.records import fmt_cell, latency_of, speedup, variant_columns, variant_rows

SETTINGS = ("real", "fixed")
INT8_QUALITY_COLUMNS = ("accuracy", "macro_f1", "ece", "agreement", "kl_from_teacher", "retention")



def bench_columns(bench: dict) -> dict[str, dict]:
    """Compare's measurement columns per variant from a classification bench.json: latency p50 at batch 1 and the
    larger batch on real lengths (ms), throughput (inputs/s), and the shared ones (records.variant_columns)."""
    return variant_columns(bench, _latency_columns, INT8_QUALITY_COLUMNS)


def _latency_columns(v: dict) -> dict:
    real = sorted((r for r in v.get("latency") or [] if r.get("setting") == "real"), key=lambda r: r["batch_size"])
    if not real:
        return {}
    return {"p50_ms_batch1": real[0]["p50_ms"], f"p50_ms_batch{real[-1]['batch_size']}": real[-1]["p50_ms"],
            "throughput_per_s": real[-1]["throughput"]}


def _quality_row(name: str, v: dict) -> str:
    q, s, m = v.get("quality") or {}, v["size"], v["memory"]
    return (f"{name:<17} {fmt_cell(q.get('accuracy'), '.4f', 8)} {fmt_cell(q.get('macro_f1'), '.4f', 8)} "
            f"{fmt_cell(q.get('retention'), '.3f', 9)} {fmt_cell(q.get('agreement'), '.3f', 9)} "
            f"{fmt_cell(q.get('kl_from_teacher'), '.4f', 8)} {s['weight_bytes'] / 1e6:>8.1f} "
            f"{s['parameters'] / 1e6:>8.2f} {s['flops_per_input_real'] / 1e9:>9.3f} "
            f"{m['delta_rss_bytes'] / 1e6:>8.0f}  {(v.get('quantization') or {}).get('method', '')}")


def _p50_text(r: dict) -> str:
    """"12.3 (12.1-12.6)": the p50 and its 95% interval (ms); older records without one: the p50 alone."""
    if r.get("p50_low_ms") is None:
        return f"{r['p50_ms']:.1f}"
    return f"{r['p50_ms']:.1f} ({r['p50_low_ms']:.1f}-{r['p50_high_ms']:.1f})"


def latency_lines(data: dict, small: int, large: int) -> list[str]:
    """Per variant and setting: p50 with its 95% interval at both batch sizes, throughput, GFLOP/s and the speedup
    over the teacher with its interval (or "no measurable difference"); then the student vs control line."""
    lines = [f"{'variant':<17} {'setting':<9} {f'b{small} p50 ms (95% CI)':>22} {f'b{large} p50 ms (95% CI)':>24} "
             f"{'inputs/s':>9} {'GFLOP/s':>8} {'%peak':>6}  {f'speedup over teacher at b{small} / b{large}'}"]
    for setting in SETTINGS:
        for name, v in data["variants"].items():
            if v["status"] != "ok":
                continue
            a, b = latency_of(data, name, setting, small), latency_of(data, name, setting, large)
            if not a or not b:
                continue
            tokens = f"{setting} {b['padded_tokens']:.0f}t" if setting == "real" else f"fixed {b['padded_tokens']:.0f}"
            speed = "-" if name == "teacher" else " / ".join(
                _speed(data, name, setting, batch) for batch in (small, large))
            lines.append(f"{name:<17} {tokens:<9} {_p50_text(a):>22} {_p50_text(b):>24} {b['throughput']:>9.1f} "
                         f"{b['gflops_per_s']:>8.1f} "
                         f"{fmt_cell(b['peak_fraction'] * 100 if b['peak_fraction'] is not None else None, '.1f', 6)}"
                         f"  {speed}")
    pair = [comparisons.find(data, "control", "student", "real", batch) for batch in (small, large)]
    if all(pair):
        lines.append(f"student vs control (same architecture): {comparisons.speed_text(pair[0])} at b{small}, "
                     f"{comparisons.speed_text(pair[1])} at b{large}")
    return lines


def _speed(data: dict, name: str, setting: str, batch: int) -> str:
    record = comparisons.find(data, "teacher", name, setting, batch)
    if record:
        return comparisons.speed_text(record)
    ratio = speedup(data, name, setting, batch)
    return f"{ratio:.2f}x" if ratio is not None else "-"


def _legend(small: int, large: int) -> str:
    return (f"latency: p50 per forward pass of a batch, batches b{small} and b{large}; with rounds, the median of "
            "per-round samples with its 95% interval, and a speedup is the median of per-round ratios with its "
            "interval (\"no measurable difference\" when it holds 1.0); inputs/s and GFLOP/s at "
            f"b{large}; peak MB = peak RSS - baseline; %peak of the fp32 matmul peak (int8 can pass 100%)")


def format_bench_table(data: dict) -> str:
    """bench.json as text: quality and size per variant, then latency per setting, then the machine."""
    batches = sorted(data["config"]["batch_sizes"])
    small, large = batches[0], batches[-1]
    lines, errors = variant_rows(
        data["variants"], f"{'variant':<17} {'accuracy':>8} {'macro-F1':>8} {'retention':>9} {'agreement':>9} "
        f"{'KL(t||v)':>8} {'size MB':>8} {'params M':>8} {'GFLOPs/in':>9} {'peak MB':>8}  int8 method", _quality_row)
    lines.append("")
    lines += latency_lines(data, small, large)
    mach, peak = data.get("machine") or {}, data.get("matmul_peak") or {}
    gain = (data.get("quality") or {}).get("distillation_gain")
    lines.append("")
    if gain is not None:
        seeds = (data.get("quality") or {}).get("seeds") or 1
        over = f", mean of {seeds} seeds" if seeds > 1 else ""
        lines.append(f"distillation gain (student - control accuracy{over}): {gain * 100:+.2f} points")
    lines.append(_legend(small, large))
    lines.append(f"machine: {mach.get('cpu_model')}, threads {mach.get('threads')} of {mach.get('logical_cores')} "
                 f"cores, GPU {mach.get('gpu') or 'none'}; torch {mach.get('torch')}, transformers "
                 f"{mach.get('transformers')}, torchao {mach.get('torchao') or 'not installed'}; fp32 matmul peak "
                 f"{peak.get('gflops_per_s', float('nan')):.1f} GFLOP/s; measured in {data['wall_seconds']:.0f} s")
    if how := conditions_text(data.get("conditions")):
        lines.append(f"conditions: {how}")
    lines += [f"error: {e}" for e in errors]
    return "\n".join(lines)
