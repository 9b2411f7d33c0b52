"""`distill-lab scan`: which teacher blocks matter on the run's data, and which the student should keep."""

from __future__ import annotations

import json

from distill_core.core import config as config_mod
from distill_core.core.atomic import write_text
from distill_core.tasks import get_task
from distill_core.tasks.presets import get_preset, preset_names
from distill_core.views.layer_scan import scan_lines


def add_parser(sub, apply_overrides) -> None:
    scan = sub.add_parser("scan", help="the teacher's layer importance on the run's own data (block influence) and "
                                       "the layers it suggests the student keep")
    source = scan.add_mutually_exclusive_group()
    source.add_argument("--preset", default="reviews-sentiment", choices=sorted(preset_names()))
    source.add_argument("--config", help="a run config JSON file")
    scan.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field, e.g. student.num_layers=3")
    scan.add_argument("--json", metavar="FILE", help="also write the scan to this file")
    scan.set_defaults(func=lambda args: cmd_scan(args, apply_overrides))


def cmd_scan(args, apply_overrides) -> int:
    cfg = config_mod.load(args.config) if args.config else get_preset(args.preset)
    cfg = apply_overrides(cfg, args.set or [])
    scan = get_task(cfg.task).scan_layers(cfg).to_dict()
    print("\n".join(scan_lines(scan)))
    print(f"use it: --set 'student.layers={json.dumps(scan['suggested'])}'")
    if args.json:
        write_text(args.json, json.dumps(scan, indent=2))
    return 0
