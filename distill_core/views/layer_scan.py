"""The layer-importance scan (models/layer_importance.LayerScan, as a dict) as text lines and chart data: one row
per teacher block with its influence, and whether the config keeps it and the scan suggests it."""

from __future__ import annotations

from distill_core.models.layer_importance import suggest_layers

BAR = 30  # characters of the widest bar in the text table


def for_student(scan: dict, configured: list[int]) -> dict:
    """The scan with `configured` as the layers the student keeps now and the suggestion for as many layers."""
    keep = min(max(1, len(configured)), len(scan["influence"]))
    return scan | {"configured": sorted(configured), "suggested": suggest_layers(scan["influence"], keep)}


def scan_rows(scan: dict) -> list[dict]:
    """One dict per block: layer, influence (1 - mean cosine), kept (by the config), suggested (by the scan)."""
    kept, suggested = set(scan["configured"]), set(scan["suggested"])
    return [{"layer": i, "influence": value, "kept": i in kept, "suggested": i in suggested}
            for i, value in enumerate(scan["influence"])]


def summary(scan: dict) -> str:
    """"keep [0, 3] (the scan) instead of [0, 5] (evenly spaced or as configured)", or that they agree."""
    if scan["suggested"] == scan["configured"]:
        return f"the config already keeps the blocks the scan suggests: {scan['suggested']}"
    return f"the scan suggests keeping {scan['suggested']}; the config keeps {scan['configured']}"


def scan_lines(scan: dict) -> list[str]:
    """The scan as a text table with a bar per block, the suggestion and how it was made."""
    rows = scan_rows(scan)
    top = max((r["influence"] for r in rows), default=0.0) or 1.0
    lines = ["layer  influence  " + "".ljust(BAR) + "  config  scan"]
    for r in rows:
        bar = "#" * max(0, round(BAR * r["influence"] / top))
        lines.append(f"{r['layer']:>5}  {r['influence']:>9.4f}  {bar:<{BAR}}  {'keep' if r['kept'] else '':>6}  "
                     f"{'keep' if r['suggested'] else ''}")
    lines.append(summary(scan))
    lines.append(f"block influence = 1 - mean cosine between a block's input and output, over {scan['tokens']:,} "
                 f"tokens of {scan['texts']} training inputs of {scan['model']}")
    lines += [f"note: {n}" for n in scan.get("notes") or []]
    return lines


SUGGESTED_COLOR = "#2E7D32"  # kept by the scan's suggestion
OTHER_COLOR = "#B0BEC5"


def scan_figure(scan: dict):
    """A bar per teacher block: its influence; green when the scan suggests keeping it, a dark outline when the
    config keeps it now."""
    import plotly.graph_objects as go

    from distill_core.views.charts import apply_layout

    rows = scan_rows(scan)
    fig = go.Figure(go.Bar(
        x=[r["layer"] for r in rows], y=[r["influence"] for r in rows],
        marker={"color": [SUGGESTED_COLOR if r["suggested"] else OTHER_COLOR for r in rows],
                "line": {"color": "#263238", "width": [2.5 if r["kept"] else 0 for r in rows]}},
        hovertemplate="layer %{x}: influence %{y:.4f}<extra></extra>"))
    fig.update_xaxes(title_text="teacher layer", dtick=1)
    fig.update_yaxes(title_text="block influence (1 - cosine)")
    return apply_layout(fig, "Which teacher layers change their input most", height=300)
