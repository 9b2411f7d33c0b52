"""A run's training curves, live or final: history.json once written, else its progress events from the store.

Layout (history.json's): {phase: [{"step": int, "loss": float, ...} | {"step": int, "val_<metric>": float}]},
phases "teacher-finetune", "student", "control"."""

from __future__ import annotations

import json

from distill_core.runs import store

CURVE_PHASES = ("teacher-finetune", "student", "control")


def history_from_events(events: list[dict]) -> dict[str, list[dict]]:
    """Curves from progress events (store.run_history): each event's step and numeric metrics, per phase."""
    out: dict[str, list[dict]] = {}
    for event in events:
        if event["phase"] not in CURVE_PHASES:
            continue
        metrics = {k: v for k, v in (event.get("metrics") or {}).items() if isinstance(v, (int, float))}
        if metrics:
            out.setdefault(event["phase"], []).append({"step": int(event["step"])} | metrics)
    return out


def run_curves(run_id: str) -> dict[str, list[dict]]:
    """The run's curves: phases finished (in history.json) plus the live events of any phase still missing."""
    record = store.get_run(run_id)
    saved: dict = {}
    try:
        saved = json.loads((record.folder / "history.json").read_text())
    except (OSError, ValueError):
        pass
    saved = {k: v for k, v in saved.items() if v}
    missing = [p for p in CURVE_PHASES if p not in saved]
    if missing:
        live = history_from_events(store.run_history(run_id))
        saved.update({p: live[p] for p in missing if p in live})
    return saved
