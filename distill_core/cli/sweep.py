"""`distill-lab sweep`: start a sweep (a sweep file or --axis flags), list, show, cancel, delete and export it."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from distill_core.core import config as config_mod
from distill_core.core.atomic import write_text
from distill_core.core.errors import DistillLabError
from distill_core.runs import store
from distill_core.sweeps import launch, records
from distill_core.sweeps.spec import axis_from_cli, spec_from_dict
from distill_core.tasks.presets import get_preset, preset_names
from distill_core.views import sweep_display
from distill_core.views import sweeps as sweep_views

WAIT_POLL_S = 2.0


def add_parser(sub, apply_overrides) -> None:
    sweep = sub.add_parser("sweep", help="a grid (or random draws) of configs as one study, on the local queue "
                                         "or a Ray cluster")
    actions = sweep.add_subparsers(dest="sweep_command", required=True)

    start = actions.add_parser("start", help="start a sweep; prints its id")
    start.add_argument("--file", help="a sweep file (JSON: name, base or preset, axes, samples, seeds, runner)")
    start.add_argument("--preset", choices=sorted(preset_names()),
                       help="the base config (default: the file's base or preset, else reviews-sentiment)")
    start.add_argument("--config", help="a run config JSON file as the base")
    start.add_argument("--axis", action="append", metavar="FIELD=VALUES",
                       help="vary a field: loss.temperature=1,2,4 | student.num_layers=range(1,4,1) | "
                            "loss.alpha=uniform(0.3,0.9) (also loguniform, randint); repeatable")
    start.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a base field")
    start.add_argument("--samples", type=int, help="repeats of the grid; random axes drawn anew each (default 1)")
    start.add_argument("--seeds", type=int, help="training seeds per trial (default: the base config's)")
    start.add_argument("--name", help="a label for the sweep")
    start.add_argument("--ray", metavar="ADDRESS", nargs="?", const="local",
                       help="run the trials on a Ray cluster: auto, HOST:PORT or ray://HOST:10001 (no value: start "
                            "a Ray instance on this machine)")
    start.add_argument("--storage", help="with --ray: a data folder every node can reach (default: this one)")
    start.add_argument("--retries", type=int, help="with --ray: re-runs of a trial whose worker died (default 1)")
    start.add_argument("--cpus-per-trial", type=float, help="with --ray: CPUs each trial asks for")
    start.add_argument("--gpus-per-trial", type=float, help="with --ray: GPUs each trial asks for")
    start.add_argument("--wait", action="store_true", help="follow the sweep until it ends, then show it")
    start.add_argument("--dry-run", action="store_true", help="print the trials and the estimate; start nothing")
    start.set_defaults(func=lambda args: cmd_start(args, apply_overrides))

    listing = actions.add_parser("list", help="sweeps, newest first")
    listing.set_defaults(func=cmd_list)
    for name, func, help_text in (("show", cmd_show, "one sweep: trials, Pareto front and best trials"),
                                  ("cancel", cmd_cancel, "stop a sweep: queued trials cancelled, running ones "
                                                         "stop at their next step"),
                                  ("delete", cmd_delete, "remove a sweep, its trials and their files")):
        one = actions.add_parser(name, help=help_text)
        one.add_argument("sweep", help="sweep id (or a unique prefix of it)")
        one.set_defaults(func=func)
    export = actions.add_parser("export", help="a sweep as an HTML report, JSON or CSV (one row per trial)")
    export.add_argument("sweep", help="sweep id (or a unique prefix of it)")
    export.add_argument("--format", choices=("html", "json", "csv"), default="html")
    export.add_argument("--out", help="write to this file (default: standard output)")
    export.set_defaults(func=cmd_export)


def build_spec(args, apply_overrides):
    """The SweepSpec the flags describe (file first, flags on top)."""
    data: dict = {}
    if args.file:
        try:
            data = json.loads(Path(args.file).read_text())
        except OSError as exc:
            raise DistillLabError(f"cannot read {args.file}: {exc.strerror}", "--file") from None
        except json.JSONDecodeError as exc:
            raise DistillLabError(f"not JSON: {exc}", "--file") from None
        if not isinstance(data, dict):
            raise DistillLabError("a sweep file holds one JSON object", "--file")
    if args.config:
        base = config_mod.load(args.config)
    elif args.preset or "preset" in data:
        base = get_preset(args.preset or data["preset"])
    elif "base" in data:
        base = config_mod.from_dict(data["base"])
    else:
        base = get_preset("reviews-sentiment")
    base = apply_overrides(base, args.set or [])
    data.pop("preset", None)
    axes = dict(data.get("axes") or {})
    for item in args.axis or []:
        axis = axis_from_cli(item)
        axes[axis.field] = axis
    data["axes"] = axes
    for key, value in (("samples", args.samples), ("seeds", args.seeds), ("name", args.name)):
        if value is not None:
            data[key] = value
    ray_only = [f"--{key.replace('_', '-')}" for key in ("storage", "retries", "cpus_per_trial", "gpus_per_trial")
                if getattr(args, key) is not None]
    if ray_only and args.ray is None and (data.get("runner") or {}).get("kind") != "ray":
        raise DistillLabError("only applies to a sweep on Ray: add --ray (or runner.kind \"ray\" in the file)",
                              ray_only[0])
    if args.ray is not None or ray_only:
        runner = dict(data.get("runner") or {})
        runner["kind"] = "ray"
        if args.ray is not None:
            runner["address"] = None if args.ray == "local" else args.ray
        for key in ("storage", "retries", "cpus_per_trial", "gpus_per_trial"):
            if getattr(args, key) is not None:
                runner[key] = getattr(args, key)
        data["runner"] = runner
    return spec_from_dict(data, base=base.to_dict())


def _minutes(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds / 60:.1f} min"


def cmd_start(args, apply_overrides) -> int:
    from distill_core.sweeps.estimate import estimate_sweep  # imports torch (students' sizes): not at every command

    spec = build_spec(args, apply_overrides)
    estimate = estimate_sweep(spec)
    for t in estimate.trials:
        print(f"  trial {t.index + 1:>2}: {t.label:<48} {t.flops_ratio:5.2f}x fewer FLOPs, "
              f"{t.student_parameters / 1e6:6.1f} M params, ~{_minutes(t.seconds)}", file=sys.stderr)
    print(f"{len(estimate.trials)} trial(s), about {_minutes(estimate.total_seconds)} in all ({estimate.basis})",
          file=sys.stderr)
    if args.dry_run:
        return 0
    sweep_id = launch.start(spec)
    print(sweep_id)
    print(f"started sweep {sweep_id} on {spec.runner.kind}; follow it with `distill-lab sweep show {sweep_id}`",
          file=sys.stderr)
    if not args.wait:
        return 0
    while records.get_sweep(sweep_id).status in records.ACTIVE:
        time.sleep(WAIT_POLL_S)
    return cmd_show(argparse.Namespace(sweep=sweep_id))


def cmd_list(args) -> int:
    sweeps = records.list_sweeps()
    if not sweeps:
        print("no sweeps yet; start one with `distill-lab sweep start --axis loss.temperature=1,2,4`")
        return 0
    for s in sweeps:
        ended = sum(r.status in store.FINISHED for r in records.trial_runs(s.id))
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.created))
        print(f"{s.id}  {s.status:<11} {ended:>2}/{s.trials:<2} trials  {when}  {s.name}  {s.message or ''}")
    return 0


def cmd_show(args) -> int:
    record = records.get_sweep(args.sweep)
    spec = record.spec
    print(f"sweep {record.id}: {record.name} ({record.status}; {record.message or ''})")
    if record.error:
        print(f"error: {record.error}")
    print("axes: " + "; ".join(a.describe() for a in spec.axes) + f"; runner: {spec.runner.kind}")
    rows = sweep_views.trial_rows(record.id)
    if not rows:
        print("no trials yet")
        return 0
    print(sweep_display.trial_table(rows).to_string(index=False))
    print("best trials:")
    print(sweep_display.best_table(sweep_views.best_trials(rows)).to_string(index=False))
    return 0


def cmd_cancel(args) -> int:
    status = launch.cancel(args.sweep)
    print(f"sweep {records.get_sweep(args.sweep).id}: {status}")
    return 0


def cmd_delete(args) -> int:
    print(f"deleted sweep {launch.delete(args.sweep)} with its trials")
    return 0


def cmd_export(args) -> int:
    record = records.get_sweep(args.sweep)
    rows = sweep_views.trial_rows(record.id)
    if args.format == "html":
        text = sweep_views.sweep_report_html(record.id)
    elif args.format == "json":
        text = json.dumps({"sweep": record.to_dict(), "trials": rows}, indent=2, default=str)
    else:
        import pandas as pd

        text = pd.DataFrame(rows).to_csv(index=False) if rows else ""  # raw values, one row per trial
    if not args.out:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    try:
        write_text(Path(args.out), text)
    except OSError as exc:
        raise DistillLabError(f"cannot write {args.out}: {exc.strerror}", "--out") from None
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
