"""Run configs side by side, for display: which settings differ between runs (the Compare page and the report)."""

from __future__ import annotations

import json

import pandas as pd


def _flatten(config: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat |= _flatten(value, dotted + ".")
        else:
            flat[dotted] = value
    return flat


def _cell(value) -> str:
    if value is None:
        return "–"
    return value if isinstance(value, str) else json.dumps(value)


def config_diff(configs: dict[str, dict]) -> pd.DataFrame:
    """Run name -> config (nested dicts) as a table of dotted keys (rows) x runs (columns), keeping only keys whose
    values differ between runs (every key for a single run). A key a run lacks shows "–"; values are strings."""
    flat = {name: _flatten(cfg or {}) for name, cfg in configs.items()}
    keys: list[str] = []
    for f in flat.values():
        keys += [k for k in f if k not in keys]
    _missing = object()
    if len(flat) > 1:
        keys = [k for k in keys
                if len({json.dumps(f.get(k, _missing), sort_keys=True, default=repr) for f in flat.values()}) > 1]
    frame = pd.DataFrame({name: [_cell(f.get(k)) for k in keys] for name, f in flat.items()}, index=keys,
                         columns=list(flat))
    frame.index.name = "setting"
    return frame
