"""A sweep: a base run config, the axes that vary (any config field), the samples, the seeds and where it runs.

Axis forms, in a sweep file's "axes" object or as `--axis FIELD=...` on the CLI:
- values: `[1, 2, 4]` (CLI `loss.temperature=1,2,4`);
- a range: `{"range": [start, stop, step]}`, start, start + step, ... up to stop included (CLI `range(1,3,1)`);
- random draws, a fresh value per trial: `{"uniform": [lo, hi]}`, `{"loguniform": [lo, hi]}`, `{"randint": [lo,
  hi]}` (integers, both ends included) (CLI `uniform(0.3,0.9)`).
The trials are the grid of the value and range axes, repeated `samples` times; random axes are drawn per trial from
a generator seeded with `draw_seed`, so expanding the same spec twice gives the same trials. Every trial config is
validated before anything runs; a bad value is refused naming `axes.<field>` and the trial.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
from dataclasses import asdict, dataclass, field

import numpy as np

from distill_core.core import config as config_mod
from distill_core.core.errors import ConfigError, DistillLabError

RUNNERS = ("local", "ray")
VALUE_KINDS = ("values", "range")
RANDOM_KINDS = ("uniform", "loguniform", "randint")
MAX_TRIALS = 64  # a sweep larger than this is more likely a typo than a plan
MAX_RANGE_VALUES = 32
MAX_SAMPLES = 32
NOT_AXES = ("name", "task")  # a trial's name is made from its values; the task cannot change within a sweep


@dataclass
class Axis:
    """One varied config field: `values` (kind values/range: the expanded list) or `low`/`high` (random kinds)."""

    field: str  # dotted config field, e.g. "loss.temperature"
    kind: str = "values"  # values | range | uniform | loguniform | randint
    values: list = field(default_factory=list)
    low: float | None = None
    high: float | None = None

    @property
    def random(self) -> bool:
        return self.kind in RANDOM_KINDS

    def describe(self) -> str:
        if self.random:
            return f"{self.field} ~ {self.kind}({self.low:g}, {self.high:g})"
        return f"{self.field} in {', '.join(value_text(v) for v in self.values)}"


@dataclass
class Runner:
    """Where the trials run: the local worker queue, or a Ray cluster (`address`: "auto", "ray://host:10001", or
    None to start a local Ray instance); `storage`: a folder every node can write (the data folder when None);
    `retries`: how often Ray re-runs a trial whose worker died; per-trial resources default to the config's
    threads (or 1 CPU) and 1 GPU when the config's device is cuda."""

    kind: str = "local"
    address: str | None = None
    storage: str | None = None
    retries: int = 1
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None


@dataclass
class SweepSpec:
    name: str
    base: dict  # a RunConfig as a dict (a preset's, a file's)
    axes: list[Axis]
    samples: int = 1  # repeats of the grid; random axes are drawn anew for each
    seeds: int | None = None  # training seeds per trial (the base config's `seeds` when None)
    draw_seed: int = 0  # seeds the random axes' draws
    runner: Runner = field(default_factory=Runner)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


@dataclass
class Trial:
    index: int
    values: dict  # axis field -> the value this trial takes
    config: config_mod.RunConfig

    @property
    def label(self) -> str:
        return values_label(self.values)


def values_label(values: dict) -> str:
    """A trial's axis values as "temperature=2, num_layers=1" (the last part of each field)."""
    return ", ".join(f"{_field_label(k)}={value_text(v)}" for k, v in values.items())


def value_text(value) -> str:
    """An axis value as shown: floats to 4 significant digits, strings as they are, anything else as JSON."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if not isinstance(value, str) else value


def _field_label(dotted: str) -> str:
    return dotted.rsplit(".", 1)[-1]


# --- reading axes -----------------------------------------------------------------------------------------------

def _number(raw, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise ConfigError(f"{raw!r} is not a finite number", where)
    return raw


def _range_values(start, stop, step, where: str) -> list:
    start, stop, step = (_number(x, where) for x in (start, stop, step))
    if step <= 0 or stop < start:
        raise ConfigError(f"range({start:g}, {stop:g}, {step:g}) is empty; allowed: step > 0 and stop >= start", where)
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    if count > MAX_RANGE_VALUES:
        raise ConfigError(f"range gives {count} values; allowed: at most {MAX_RANGE_VALUES}", where)
    integer = all(isinstance(x, int) for x in (start, stop, step))
    return [start + i * step if integer else round(start + i * step, 12) for i in range(count)]


def axis_from_json(name: str, raw) -> Axis:
    """An Axis from a sweep file's entry: a list, {"range": [a, b, step]} or {"uniform"|"loguniform"|"randint": [lo,
    hi]}. Raises ConfigError naming `axes.<name>`."""
    where = f"axes.{name}"
    if not isinstance(name, str) or not re.fullmatch(r"[a-z_]+(\.[a-z_]+)*", name):
        raise ConfigError("not a config field name (like loss.temperature)", where)
    if name in NOT_AXES:
        raise ConfigError(f"{name} cannot vary within a sweep", where)
    if isinstance(raw, list):
        if not raw:
            raise ConfigError("an empty list of values", where)
        if len(raw) > MAX_RANGE_VALUES:
            raise ConfigError(f"{len(raw)} values; allowed: at most {MAX_RANGE_VALUES}", where)
        return Axis(name, "values", list(raw))
    if isinstance(raw, dict) and len(raw) == 1:
        (kind, args), = raw.items()
        if kind == "range" and isinstance(args, list) and len(args) == 3:
            return Axis(name, "range", _range_values(*args, where))
        if kind in RANDOM_KINDS and isinstance(args, list) and len(args) == 2:
            low, high = (_number(x, where) for x in args)
            if high <= low or (kind == "loguniform" and low <= 0):
                raise ConfigError(f"{kind}({low:g}, {high:g}); allowed: low < high" +
                                  (" and low > 0" if kind == "loguniform" else ""), where)
            if kind == "randint" and not (float(low).is_integer() and float(high).is_integer()):
                raise ConfigError("randint takes whole numbers", where)
            return Axis(name, kind, [], low, high)
    raise ConfigError(f"{raw!r} is not an axis; allowed: a list of values, {{\"range\": [start, stop, step]}}, "
                      "{\"uniform\": [lo, hi]}, {\"loguniform\": [lo, hi]} or {\"randint\": [lo, hi]}", where)


def _cli_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def axis_from_cli(item: str) -> Axis:
    """`FIELD=v1,v2,...`, `FIELD=range(a,b,step)` or `FIELD=uniform(lo,hi)` (also loguniform, randint)."""
    if "=" not in item:
        raise ConfigError(f"{item!r} is not FIELD=VALUES (e.g. loss.temperature=1,2,4)", "--axis")
    name, raw = (part.strip() for part in item.split("=", 1))
    call = re.fullmatch(r"(range|uniform|loguniform|randint)\((.*)\)", raw)
    if call:
        args = [_cli_value(a.strip()) for a in call.group(2).split(",")]
        return axis_from_json(name, {call.group(1): args})
    return axis_from_json(name, [_cli_value(v.strip()) for v in raw.split(",") if v.strip()])


def _axis_to_json(axis: Axis):
    return {axis.kind: [axis.low, axis.high]} if axis.random else list(axis.values)


def spec_from_dict(data: dict, base: dict | None = None) -> SweepSpec:
    """A SweepSpec from a sweep file's JSON: {"name", "base" (a RunConfig dict) or "preset", "axes" {field: axis},
    "samples", "seeds", "draw_seed", "runner" {...}}. `base` overrides the file's base (the CLI resolved a preset)."""
    if not isinstance(data, dict):
        raise ConfigError("a sweep file holds one JSON object", "sweep")
    known = {"name", "base", "preset", "axes", "samples", "seeds", "draw_seed", "runner"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}; allowed: {', '.join(sorted(known))}", "sweep")
    if base is None:
        base = data.get("base")
    if not isinstance(base, dict):
        raise ConfigError("no base config: give \"base\" (a run config) or \"preset\"", "base")
    axes_raw = data.get("axes") or {}
    if not isinstance(axes_raw, dict) or not axes_raw:
        raise ConfigError("at least one axis, as {\"loss.temperature\": [1, 2, 4]}", "axes")
    runner_raw = data.get("runner") or {}
    if not isinstance(runner_raw, dict):
        raise ConfigError("an object like {\"kind\": \"ray\", \"address\": \"auto\"}", "runner")
    try:
        runner = Runner(**runner_raw)
    except TypeError:
        raise ConfigError(f"unknown key in {sorted(runner_raw)}; allowed: {', '.join(Runner.__dataclass_fields__)}",
                          "runner") from None
    spec = SweepSpec(name=str(data.get("name") or base.get("name") or "sweep"), base=base,
                     axes=[a if isinstance(a, Axis) else axis_from_json(k, a) for k, a in axes_raw.items()],
                     samples=data.get("samples", 1), seeds=data.get("seeds"), draw_seed=data.get("draw_seed", 0),
                     runner=runner)
    validate_spec(spec)
    return spec


def spec_to_file(spec: SweepSpec) -> dict:
    """The sweep-file form of `spec` (what `spec_from_dict` reads back)."""
    return {"name": spec.name, "base": spec.base, "axes": {a.field: _axis_to_json(a) for a in spec.axes},
            "samples": spec.samples, "seeds": spec.seeds, "draw_seed": spec.draw_seed, "runner": asdict(spec.runner)}


def spec_from_json(text: str) -> SweepSpec:
    """A stored spec (SweepSpec.to_json) back."""
    data = json.loads(text)
    data["axes"] = [Axis(**a) for a in data["axes"]]
    data["runner"] = Runner(**data["runner"])
    return SweepSpec(**data)


# --- checks and expansion ---------------------------------------------------------------------------------------

def _whole(value, low: int, high: int, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{value!r} is not allowed; allowed: a whole number {low}..{high}", where)


def validate_spec(spec: SweepSpec) -> SweepSpec:
    """Check the spec and every trial it expands to; raises ConfigError naming the field."""
    if not str(spec.name).strip() or len(spec.name) > 100:
        raise ConfigError("a non-empty label of at most 100 characters", "name")
    _whole(spec.samples, 1, MAX_SAMPLES, "samples")
    if spec.seeds is not None:
        _whole(spec.seeds, 1, config_mod.MAX_SEEDS, "seeds")
    _whole(spec.draw_seed, 0, 2**31 - 1, "draw_seed")
    runner = spec.runner
    if runner.kind not in RUNNERS:
        raise ConfigError(f"{runner.kind!r} is not allowed; allowed: {', '.join(RUNNERS)}", "runner.kind")
    if runner.kind == "local" and (runner.address or runner.storage):
        raise ConfigError("an address or storage path needs runner.kind \"ray\"", "runner.address")
    _whole(runner.retries, 0, 5, "runner.retries")
    for name in ("cpus_per_trial", "gpus_per_trial"):
        value = getattr(runner, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise ConfigError(f"{value!r} is not allowed; allowed: a number >= 0", f"runner.{name}")
    fields = [a.field for a in spec.axes]
    if len(set(fields)) != len(fields):
        raise ConfigError("the same field twice", "axes")
    expand(spec)  # every trial is built and validated
    return spec


def trial_count(spec: SweepSpec) -> int:
    grid = math.prod(len(a.values) for a in spec.axes if not a.random)
    return grid * spec.samples


def _set_field(data: dict, dotted: str, value) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            raise ConfigError("does not name a config field", f"axes.{dotted}")
        node = node[part]
    if parts[-1] not in node:
        raise ConfigError("does not name a config field", f"axes.{dotted}")
    node[parts[-1]] = value


def _draw(axis: Axis, rng: np.random.Generator):
    if axis.kind == "uniform":
        return round(float(rng.uniform(axis.low, axis.high)), 6)
    if axis.kind == "loguniform":
        return float(f"{math.exp(rng.uniform(math.log(axis.low), math.log(axis.high))):.4g}")
    return int(rng.integers(int(axis.low), int(axis.high), endpoint=True))


def expand(spec: SweepSpec) -> list[Trial]:
    """The trials: grid x samples, random axes drawn per trial; each config validated (ConfigError names the axis)."""
    count = trial_count(spec)
    if count > MAX_TRIALS:
        raise ConfigError(f"the axes and samples give {count} trials; allowed: at most {MAX_TRIALS}", "axes")
    rng = np.random.default_rng(spec.draw_seed)
    grid_axes = [a for a in spec.axes if not a.random]
    trials = []
    for _ in range(spec.samples):
        for combo in itertools.product(*(a.values for a in grid_axes)):
            values = dict(zip((a.field for a in grid_axes), combo))
            values |= {a.field: _draw(a, rng) for a in spec.axes if a.random}
            values = {a.field: values[a.field] for a in spec.axes}  # the spec's axis order
            trials.append(_trial(spec, len(trials), values))
    return trials


def _trial(spec: SweepSpec, index: int, values: dict) -> Trial:
    data = copy.deepcopy(spec.base)
    for dotted, value in values.items():
        _set_field(data, dotted, value)
    if spec.seeds is not None:
        data["seeds"] = spec.seeds
    label = values_label(values)
    data["name"] = f"{spec.name} #{index + 1}: {label}"[:100]
    try:
        return Trial(index, values, config_mod.validate(config_mod.from_dict(data)))
    except DistillLabError as exc:
        field_name = exc.field or "config"
        axis = next((a for a in values if field_name == a or field_name.startswith(a + ".")), None)
        where = f"axes.{axis}" if axis else field_name
        raise ConfigError(f"trial {index + 1} ({label}): {exc.message}", where) from None


# Fields that never change the teacher or its outputs: trials differing only in these share one preparation.
STUDENT_SIDE = ("name", "student", "learning_rate", "learning_rate_candidates", "seed", "seeds", "measure",
                "runtimes", "control", "control_budget", "freeze_embeddings", "precision", "processes", "threads",
                "loss.temperature", "loss.hidden_loss", "loss.layer_map", "budget.unit", "budget.value")


def teacher_key(config: dict) -> str:
    """What a trial's teacher preparation depends on: its config without the STUDENT_SIDE fields, as JSON."""
    data = json.loads(json.dumps(config))
    for dotted in STUDENT_SIDE:
        node, parts = data, dotted.split(".")
        for part in parts[:-1]:
            node = node.get(part, {})
        node.pop(parts[-1], None)
    return json.dumps(data, sort_keys=True)


def teacher_groups(trials: list[Trial]) -> list[list[Trial]]:
    """Trials grouped by teacher_key, in the order of their first trial."""
    groups: dict[str, list[Trial]] = {}
    for trial in trials:
        groups.setdefault(teacher_key(trial.config.to_dict()), []).append(trial)
    return list(groups.values())
