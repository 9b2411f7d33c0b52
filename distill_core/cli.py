"""`distill-lab`: run distillation from the terminal with a progress bar; the same core the dashboard uses."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from pathlib import Path

from . import config as config_mod
from .errors import DistillLabError
from .home import data_home
from .presets import get_preset, preset_names


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


def new_run_id(name: str) -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


class ProgressBar:
    """A tqdm bar per phase, fed by the loop's progress events."""

    def __init__(self, stream=sys.stderr):
        from tqdm import tqdm

        self._tqdm = tqdm
        self.stream = stream
        self.phase = None
        self.bar = None

    def __call__(self, event) -> None:
        if event.phase != self.phase:
            self.close()
            self.phase = event.phase
            total = event.total if event.total else 100
            self.bar = self._tqdm(total=total, desc=f"{event.phase:>16}", file=self.stream, leave=True,
                                  unit="step" if event.total else "%", dynamic_ncols=True)
        done = event.step if event.total else int(event.fraction * 100)
        self.bar.n = min(done, self.bar.total)
        shown = {k: round(v, 4) for k, v in event.metrics.items() if isinstance(v, float)}
        if shown:
            self.bar.set_postfix(shown, refresh=False)
        if event.message:
            self.bar.set_description_str(f"{event.phase:>16}")
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def format_results(results: dict) -> str:
    """The quality table of a finished run, as text."""
    q = results["quality"]
    lines = [f"{'variant':<10} {'accuracy':>9} {'macro-F1':>9} {'retention':>10} {'agreement':>10} {'KL(t||v)':>9}"]
    for name, m in q["variants"].items():
        lines.append(f"{name:<10} {m['accuracy']:>9.4f} {m['macro_f1']:>9.4f} {m['retention']:>10.3f} "
                     f"{m.get('agreement', float('nan')):>10.3f} {m.get('kl_from_teacher', float('nan')):>9.4f}")
    if q.get("distillation_gain") is not None:
        lines.append(f"distillation gain (student - control accuracy): {q['distillation_gain'] * 100:+.2f} points")
    pf = results["preflight"]
    lines.append(f"student: {pf['student_description']}; {pf['student']['parameters'] / 1e6:.1f}M params vs "
                 f"teacher {pf['teacher']['parameters'] / 1e6:.1f}M; FLOPs/input {pf['flops_ratio']:.1f}x fewer")
    t = results["timings"]
    lines.append("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in t.items()))
    return "\n".join(lines)


def cmd_run(args) -> int:
    from .runner import run_experiment

    if args.config:
        cfg = config_mod.load(args.config)
    else:
        cfg = get_preset(args.preset)
    cfg = apply_overrides(cfg, args.set or [])
    if args.name:
        cfg = cfg.replace(name=args.name)
        config_mod.validate(cfg)
    run_id = new_run_id(cfg.name)
    run_dir = Path(args.run_dir) if args.run_dir else data_home() / "runs" / run_id
    print(f"run {run_id}: {cfg.name} -> {run_dir}", file=sys.stderr)
    bar = ProgressBar()
    try:
        results = run_experiment(cfg, run_dir, on_progress=bar)
    finally:
        bar.close()
    print(format_results(results))
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distill-lab", description="Knowledge distillation lab (CLI).")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="distill a student (and its control) and report quality against the teacher")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--preset", default="reviews-sentiment", choices=sorted(preset_names()))
    source.add_argument("--config", help="a run config JSON file (see `distill-lab config`)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field, e.g. loss.alpha=0.7")
    run.add_argument("--name", help="a label for the run")
    run.add_argument("--run-dir", help="where to save (default: the data folder's runs/)")
    run.set_defaults(func=cmd_run)

    presets = sub.add_parser("presets", help="list the presets")
    presets.set_defaults(func=cmd_presets)

    cfg = sub.add_parser("config", help="print a preset's config as JSON (edit it and pass --config)")
    cfg.add_argument("--preset", default="reviews-sentiment", choices=sorted(preset_names()))
    cfg.add_argument("--set", action="append", metavar="KEY=VALUE")
    cfg.set_defaults(func=cmd_config)
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


if __name__ == "__main__":
    sys.exit(main())
