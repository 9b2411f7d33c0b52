"""`distill-lab`: run distillation from the terminal with a progress bar; the same core the dashboard uses."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from distill_core.cli import bundles as bundles_command
from distill_core.cli import scan as scan_command
from distill_core.cli import sweep as sweep_command
from distill_core.cli.progress import ProgressBar
from distill_core.core import config as config_mod
from distill_core.core.atomic import write_text
from distill_core.core.errors import DistillLabError, RunCancelled
from distill_core.core.run_files import read_json
from distill_core.core.variants import ALL_VARIANTS
from distill_core.runs import jobs, store, worker
from distill_core.tasks.presets import get_preset, preset_names
from distill_core.training.parallel import launched_world
from distill_core.views import compare, tables


def apply_overrides(cfg: config_mod.RunConfig, overrides: list[str]) -> config_mod.RunConfig:
    """Apply `dotted.key=value` overrides (value parsed as JSON, else taken as a string) and re-validate."""
    data = cfg.to_dict()
    for item in overrides:
        if "=" not in item:
            raise DistillLabError(f"{item!r} is not key=value (e.g. loss.alpha=0.7)", "--set")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise DistillLabError(f"{key!r} does not name a config field", "--set")
            node = node[part]
        node[parts[-1]] = value
    return config_mod.from_dict(data)


def cmd_run(args) -> int:
    if args.config:
        cfg = config_mod.load(args.config)
    else:
        cfg = get_preset(args.preset)
    shortcuts = [f"{key}={value}" for key, value in (("seeds", args.seeds), ("processes", args.processes),
                                                      ("precision", args.precision)) if value is not None]
    cfg = apply_overrides(cfg, (args.set or []) + shortcuts)
    if args.name:
        cfg = cfg.replace(name=args.name)
        config_mod.validate(cfg)
    launched = launched_world()
    if launched > 1 and (not args.run_dir or args.detach):
        raise DistillLabError(f"this is one of {launched} processes started by a launcher (accelerate launch, "
                              "torchrun): give --run-dir (all of them train one run into it), or run without the "
                              "launcher and pass --processes N", "--run-dir")
    if args.detach and args.run_dir:
        raise DistillLabError("runs into a folder outside the run store and cannot be detached; drop --run-dir "
                              "(detached runs live in the data folder's runs/)", "--run-dir")
    if args.detach:
        run_id = jobs.submit(cfg)
        print(run_id)
        print(f"queued run {run_id} ({cfg.name}); follow it with `distill-lab show {run_id}`, "
              f"stop it with `distill-lab cancel {run_id}`", file=sys.stderr)
        return 0
    if not args.run_dir:
        return _run_in_store(cfg)
    # --run-dir: files only, in a folder of the user's choosing; not recorded in the store (not in `list`).
    from distill_core.runs.pipeline import run_experiment

    run_id = store.new_run_id()  # never derived from the name: names are labels
    run_dir = Path(args.run_dir)
    main = os.environ.get("RANK", "0") == "0"  # not one of a launcher's other processes
    if main:
        print(f"run {run_id}: {cfg.name} -> {run_dir} (outside the run store)", file=sys.stderr)
    bar = ProgressBar()
    try:
        run_experiment(cfg, run_dir, on_progress=bar)
    finally:
        bar.close()
    if not main:
        return 0  # the main process reports
    print(tables.run_report(run_dir))
    print(f"saved: {run_dir}")
    return 0


def cmd_presets(args) -> int:
    for name, desc in preset_names().items():
        print(f"{name:<20} {desc}")
    return 0


def cmd_config(args) -> int:
    cfg = apply_overrides(get_preset(args.preset), args.set or [])
    print(cfg.to_json())
    return 0


def _run_in_store(cfg: config_mod.RunConfig) -> int:
    """Foreground run: recorded in the store like a detached one (queue, heartbeat, events), executed here with a
    progress bar. First Ctrl-C cancels gracefully (the partly trained student is kept); a second stops at once."""
    bar = ProgressBar()
    cancel = worker.CancelWatch("")

    def on_sigint(signum, frame):
        if cancel.flag.is_set():
            raise KeyboardInterrupt
        cancel.request()
        print("\ncancelling after the current step (Ctrl-C again to stop at once)", file=sys.stderr)

    def on_created(record):
        print(f"run {record.id}: {cfg.name} -> {record.folder}", file=sys.stderr)

    def on_wait():
        print(f"waiting for a free slot: {worker.max_jobs()} run(s) may train at once (DISTILL_LAB_MAX_JOBS); "
              "Ctrl-C leaves the queue", file=sys.stderr)

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    try:
        run_id, status = jobs.run_here(cfg, on_progress=bar, on_wait=on_wait, cancel=cancel, on_created=on_created)
    except RunCancelled as exc:
        bar.close()
        print(f"cancelled: {exc.message}", file=sys.stderr)
        return 130
    finally:
        bar.close()
        if in_main:
            signal.signal(signal.SIGINT, previous)
    if status != "done":
        print(f"run {run_id}: {status}", file=sys.stderr)
        return 130 if status == "cancelled" else 1
    folder = store.run_dir(run_id)
    print(tables.run_report(folder))
    print(f"saved: {folder}")
    return 0


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"


def _progress_text(r: store.RunRecord) -> str:
    if r.status == "running":
        return f"{r.progress * 100:3.0f}% {r.phase or ''}".rstrip()
    return "100%" if r.status == "done" else f"{r.progress * 100:3.0f}%"


def cmd_list(args) -> int:
    runs = store.list_runs(status=args.status, limit=args.limit)
    if not runs:
        print("no runs yet; start one with `distill-lab run --detach`", file=sys.stderr)
        return 0
    results_columns, results_cells = tables.summary_columns(runs)
    rows = []
    for r, cells in zip(runs, results_cells):
        rows.append({"id": r.id, "status": r.status + (" (cancelling)" if r.cancel_requested and
                                                        r.status == "running" else ""),
                     "progress": _progress_text(r), "name": r.name, "created": _when(r.created)} | cells)
    print(tables.format_table(["id", "status", "progress", "name", "created"] + results_columns, rows))
    return 0


def _config_summary(c: dict) -> list[str]:
    s, d, lo, b = c["student"], c["data"], c["loss"], c["budget"]
    student = f"{s['kind']}, {s['num_layers']} layers" if s["kind"] != "model" else f"model {s['model']}"
    return [f"teacher: {c['teacher']['model']} (fine-tune epochs {c['teacher']['finetune_epochs']:g})",
            f"student: {student}",
            f"data: {d['source']} (max train {d['max_train_examples'] or 'all'}, transfer {d['transfer'] or 'none'})",
            f"loss: T={lo['temperature']:g}, alpha={lo['alpha']:g}, hidden weight {lo['hidden_weight']:g}",
            f"budget: {b['value']:g} {b['unit']}; batch {c['batch_size']}, lr {c['learning_rate']:g}, "
            f"max length {c['max_length']}, device {c['device']}, threads {c['threads']}",
            _seeds_summary(c)]


def _seeds_summary(c: dict) -> str:
    """Training seeds, data seed and control budget (configs from before seeds: one seed, the split drawn by it)."""
    first, n = int(c.get("seed", 0)), int(c.get("seeds", 1))
    seeds = ", ".join(str(first + i) for i in range(n))
    data_seed = (c.get("data") or {}).get("seed", first)
    return (f"seeds: {n} ({seeds}), data seed {data_seed}, control budget "
            f"{c.get('control_budget', config_mod.CONTROL_BUDGETS[0])}")


def cmd_show(args) -> int:
    r = store.get_run(args.run)
    print(f"run {r.id}  {r.name}")
    state = r.status
    if r.status == "running":
        state += f" ({r.phase or 'starting'} {r.fraction * 100:.0f}%, overall {r.progress * 100:.0f}%)"
        if r.cancel_requested:
            state += ", cancel requested"
    print(f"status: {state}")
    if r.error:
        print(f"reason: {r.error}")
    took = f", took {(r.finished - r.started):.1f} s" if r.finished and r.started else ""
    print(f"created {_when(r.created)}, started {_when(r.started)}, finished {_when(r.finished)}{took}")
    for line in _config_summary(r.config):
        print(f"  {line}")
    print(f"folder: {r.folder}")
    results_path = r.folder / "results.json"
    if results_path.exists():
        print()
        print(tables.run_report(r.folder))
    else:
        last = store.run_history(r.id)[-3:]
        for e in last:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in e["metrics"].items() if isinstance(v, (int, float)))
            print(f"  {_when(e['time'])} {e['phase']} step {e['step']}{'/' + str(e['total']) if e['total'] else ''}"
                  f" {shown} {e['message']}".rstrip())
    return 0


def cmd_cancel(args) -> int:
    status = jobs.cancel(args.run)
    run_id = store.get_run(args.run).id
    if status == "cancelled":
        print(f"run {run_id} cancelled (it had not started)")
    elif status == "running":
        print(f"run {run_id}: cancel requested; it stops at its next training step and keeps what it trained")
    else:
        print(f"run {run_id} is already {status}; nothing to cancel")
    return 0


def cmd_delete(args) -> int:
    was_running = store.get_run(args.run).status == "running"
    run_id = jobs.delete(args.run)
    print(f"deleted run {run_id} and its folder" + ("; its worker stops at its next step" if was_running else ""))
    return 0


def cmd_export(args) -> int:
    text = compare.export_run(args.run, args.format)
    if not args.out:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    out = Path(args.out)
    try:
        write_text(out, text)
    except OSError as exc:
        raise DistillLabError(f"cannot write {out}: {exc.strerror}", "--out") from None
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _scaled_timing(rounds: int | None) -> tuple[float | None, float | None]:
    """(seconds of rounds at least, cap) for `rounds` asked for: more rounds than the default scale the default cap
    up alike (20 rounds get them where 10 take the usual time), fewer scale the seconds down (`--rounds 5` is
    quicker); None: the default."""
    from distill_core.measure.records import BenchConfig

    default = BenchConfig()
    share = rounds / default.min_rounds if rounds else 1.0
    return (default.timing_seconds * share if share < 1 else None,
            default.max_timing_seconds * share if share > 1 else None)


def cmd_bench(args) -> int:
    from distill_core.measure.records import BenchConfig
    from distill_core.runs.folders import resolve_run_dir

    run_dir = resolve_run_dir(args.run)
    task = tables.task_of(read_json(run_dir, "config.json"))
    listed = {key: [item.strip() for item in text.split(",")] for key, text in
              (("settings", args.settings), ("runtimes", args.runtimes)) if text}
    chosen = {"threads": args.threads, "device": args.device, "quantization": args.quantization,
              "min_iterations": args.min_iterations, "min_seconds": args.min_seconds, "min_rounds": args.rounds,
              "timing_seconds": args.timing_seconds, "timing": args.timing,
              "quiet_wait_seconds": args.quiet_wait, **listed}
    floor, cap = _scaled_timing(args.rounds)
    chosen["timing_seconds"] = args.timing_seconds if args.timing_seconds is not None else floor
    chosen["max_timing_seconds"] = args.max_timing_seconds if args.max_timing_seconds is not None else cap
    cfg = BenchConfig(**{k: v for k, v in chosen.items() if v is not None}, quality=not args.no_quality)
    bar = ProgressBar()
    try:
        data = task.measure(run_dir, cfg, variants=args.variant, on_progress=bar)
    finally:
        bar.close()
    print(task.format_bench(data))
    print(f"saved: {run_dir / 'bench.json'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distill-lab", description="Knowledge distillation lab (CLI).")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="distill a student (and its control) and report quality against the teacher")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--preset", default="reviews-sentiment", choices=sorted(preset_names()))
    source.add_argument("--config", help="a run config JSON file (see `distill-lab config`)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="override a field, e.g. loss.alpha=0.7, data.seed=1, control_budget=teacher-compute")
    run.add_argument("--seeds", type=int, metavar="N",
                     help="training seeds (--set seeds=N): 3 or more give a verdict over seed-to-seed noise")
    run.add_argument("--processes", type=int, metavar="N",
                     help="train on N processes (--set processes=N): DDP through Accelerate, GPUs or CPU (gloo)")
    run.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"),
                     help="training precision (same as --set precision=...): auto is bf16 (else fp16) on a GPU; "
                          "on CPU bf16 where the CPU has it in hardware, else fp32")
    run.add_argument("--name", help="a label for the run")
    run.add_argument("--run-dir", help="save into this folder instead, outside the run store (not in `list`)")
    run.add_argument("--detach", action="store_true",
                     help="queue the run in a background worker, print its id and return at once")
    run.set_defaults(func=cmd_run)

    presets = sub.add_parser("presets", help="list the presets")
    presets.set_defaults(func=cmd_presets)

    cfg = sub.add_parser("config", help="print a preset's config as JSON (edit it and pass --config)")
    cfg.add_argument("--preset", default="reviews-sentiment", choices=sorted(preset_names()))
    cfg.add_argument("--set", action="append", metavar="KEY=VALUE")
    cfg.set_defaults(func=cmd_config)

    scan_command.add_parser(sub, apply_overrides)
    sweep_command.add_parser(sub, apply_overrides)
    bundles_command.add_parser(sub)

    listing = sub.add_parser("list", help="runs with their status and progress, newest first")
    listing.add_argument("--status", choices=store.STATUSES)
    listing.add_argument("--limit", type=int)
    listing.set_defaults(func=cmd_list)

    for name, func, help_text in (
            ("show", cmd_show, "one run: status, config, quality table"),
            ("cancel", cmd_cancel, "stop a run; a running one keeps what it trained so far"),
            ("delete", cmd_delete, "remove a run and its files (cancel a running one first)")):
        one_run = sub.add_parser(name, help=help_text)
        one_run.add_argument("run", help="run id (or a unique prefix of it)")
        one_run.set_defaults(func=func)

    export = sub.add_parser("export", help="a run's results as JSON (everything) or CSV (the comparison table)")
    export.add_argument("run", help="run id (or a unique prefix of it)")
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument("--out", help="write to this file (default: standard output)")
    export.set_defaults(func=cmd_export)

    # No defaults here: bench.BenchConfig holds them (and importing it would load torch for every command).
    bench = sub.add_parser("bench", help="measure a finished run's variants (latency, memory, size, quality) "
                                         "into its bench.json")
    bench.add_argument("run", help="run folder, or run id (the data folder's runs/<id>)")
    bench.add_argument("--variant", action="append",
                       help=f"measure only this one (repeatable): {', '.join(ALL_VARIANTS)}")
    bench.add_argument("--runtimes", help="comma-separated: pytorch, onnxruntime (default: both; ONNX files are "
                                          "exported once, next to each model folder)")
    bench.add_argument("--threads", type=int, help="torch threads per measuring process (default 0: every core, one "
                       "on machines with 2 cores or fewer)")
    bench.add_argument("--device", choices=("auto", "cpu", "cuda"))
    bench.add_argument("--quantization", help="int8 method: auto (default), torchao-int8-dynamic, "
                                              "torchao-int8-weight-only or torch-dynamic-int8")
    bench.add_argument("--rounds", type=int, help="interleaved timing rounds, at least (default 10: each latency "
                                                  "and speedup gets a 95%% interval; more rounds, narrower intervals)")
    bench.add_argument("--max-timing-seconds", type=float,
                       help="stop the rounds here even short of --rounds (default 45 s, scaled up with --rounds)")
    bench.add_argument("--timing", choices=["one-process", "per-variant"],
                       help="one-process (default): every variant timed in one process, in mirrored order, so the "
                            "machine's noise falls on all alike (memory is still measured per variant, alone); "
                            "per-variant: each in its own process (automatic when they do not fit in memory twice)")
    bench.add_argument("--timing-seconds", type=float,
                       help="seconds of timing rounds, at least: rounds go on past --rounds while the machine is "
                            "quick (default 36 for classification, 5 for causal-lm)")
    bench.add_argument("--quiet-wait", type=float, metavar="SECONDS",
                       help="on a shared host: while a setting has too few rounds on a quiet host to leave the "
                            "contended ones out, time on until the rounds lasted this many seconds in all (default 0: "
                            "no wait; the record then says the figures were measured under contention)")
    bench.add_argument("--settings", help="input settings to time, comma-separated: real (default), fixed "
                                          "(inputs of exactly 128 tokens)")
    bench.add_argument("--min-iterations", type=int, help="tasks timed one variant at a time (causal LM prefill): "
                                                          "timed passes, at least (default 10)")
    bench.add_argument("--min-seconds", type=float, help="the same: timed seconds, at least (default 1)")
    bench.add_argument("--no-quality", action="store_true", help="skip the test-split quality (faster)")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DistillLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
