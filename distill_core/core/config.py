"""The run config: one dataclass tree, JSON round-trip, every field validated with its allowed range.

A config names what to distill (teacher, student, data), how (loss, budget, optimiser) and where (device, threads).
`from_dict` rejects unknown keys and wrong types; `validate` checks ranges; both raise ConfigError naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import reprlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from distill_core.core.errors import ConfigError
from distill_core.core.variants import RUNTIMES

STUDENT_KINDS = ("keep-layers", "shrink", "model")
STUDENT_INITS = ("teacher", "base", "random")
HIDDEN_LOSSES = ("mse", "cosine")
BUDGET_UNITS = ("steps", "epochs", "minutes")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # auto: bf16 (else fp16) on a GPU; CPU: bf16 in hardware, else fp32
MAX_PROCESSES = 64
CONTROL_BUDGETS = ("same-steps", "teacher-compute")
MAX_SEEDS = 20
MAX_LR_CANDIDATES = 8  # each one is a full training of student and control on the first seed

# Filled by the task registry (distill_core.tasks.registry) at import: config sections a task brings, and the
# checks that know about tasks. This module names no task.
_SECTIONS: dict[str, tuple[type, typing.Callable]] = {}  # key -> (dataclass, validate(section, check))
_VALIDATORS: list[typing.Callable] = []  # validate(config) -> None, raise ConfigError
_DEFAULT_TASK: list[str] = []  # the task of a config that names none (and of old results without a "task" key)


def set_default_task(name: str) -> None:
    _DEFAULT_TASK[:] = [name]


def default_task() -> str:
    """The task a config gets when it names none: the registry's first built-in task."""
    return _DEFAULT_TASK[0] if _DEFAULT_TASK else ""


def register_section(key: str, cls: type, validate_section: typing.Callable) -> None:
    """Add a config section (a dataclass) under `key`; `validate_section(section)` checks its ranges."""
    _SECTIONS[key] = (cls, validate_section)


def register_validator(validate_fn: typing.Callable) -> None:
    """Add a check run by `validate` after the shared ranges (the task registry checks the task here)."""
    if validate_fn not in _VALIDATORS:
        _VALIDATORS.append(validate_fn)


# Values quoted in error messages: short, and a bounded depth (a plain repr of deeply nested JSON overflows the stack).
_quote = reprlib.Repr()
_quote.maxstring = _quote.maxother = 60
_quote.maxlevel = 3


@dataclass
class TeacherConfig:
    model: str = "minilm"  # preset model key, Hugging Face hub id, or local folder
    finetune_epochs: float = 0.0  # > 0: fine-tune a classification head on the run's train split first (cached)
    finetune_lr: float = 1e-4  # learning rate of that fine-tune
    finetune_layers: int = 0  # train only the top N transformer layers and the head (0: all); fewer is faster
    trust_remote_code: bool = False  # allow the model's own Python code; only when the user ticks it


@dataclass
class StudentConfig:
    kind: str = "keep-layers"  # keep-layers | shrink | model
    layers: list[int] | None = None  # keep-layers: teacher layer indices to keep; shrink from the teacher: the
    #                                   layers its weights are selected from (sets the depth). None: evenly spaced
    num_layers: int = 2  # keep-layers (when layers is None) and shrink: student depth
    hidden_size: int | None = None  # shrink: width (None: the teacher's); must divide by num_heads
    intermediate_size: int | None = None  # shrink: feed-forward width (None: the teacher's ratio to hidden_size)
    num_heads: int | None = None  # shrink: attention heads (None: width / the teacher's head size, else its count)
    model: str | None = None  # model: another model reference with the same label space and vocabulary
    init_from: str = "teacher"  # keep-layers: copy from the prepared teacher, or from its base (pre-fine-tune) weights;
    #                             shrink: select weights from the teacher or its base, or "random": fresh weights
    trim_vocab: bool = False  # keep only the embedding rows of the tokens the training + transfer texts use (plus
    #                           special and single-character tokens); WordPiece (BERT-like) tokenizers; classification


@dataclass
class DataConfig:
    source: str = "reviews"  # built-in name, path to .csv/.jsonl, or "hub:<dataset id>"
    text_column: str = "text"  # for files and hub datasets
    label_column: str = "label"  # for files and hub datasets
    validation_fraction: float = 0.1  # share of the train split held out for validation (early stopping)
    test_fraction: float = 0.2  # share held out for test when the source has no test split of its own
    max_train_examples: int | None = None  # cap on labeled training examples (tiny runs); None: all
    student_labels: int | None = None  # labeled train rows the student and control learn from (the first N of the
    #                                    train split); the teacher still fine-tunes on all of them, and the rest
    #                                    become transfer text only the teacher labels. None: all (classification)
    transfer: str | None = None  # extra unlabeled text only the teacher labels: "augment", "tweets", or a file path
    transfer_copies: int = 1  # "augment": perturbed copies per training text
    transfer_limit: int | None = None  # cap on transfer examples; None: all
    seed: int = 0  # draws the train/validation/test split and fine-tunes the teacher; the training seeds share it


@dataclass
class LossConfig:
    temperature: float = 2.0  # T: softens both distributions; the soft term is scaled by T^2
    alpha: float = 0.5  # weight of the soft-target term; 1 - alpha weighs hard-label cross-entropy
    hidden_weight: float = 0.0  # weight of the hidden-state term (0: off)
    hidden_loss: str = "mse"  # mse | cosine
    layer_map: list[int] | None = None  # teacher layer for each student layer (None: the kept layers)


@dataclass
class BudgetConfig:
    unit: str = "epochs"  # steps | epochs | minutes
    value: float = 2.0  # how many of them
    eval_every: int = 50  # validate every this many optimiser steps (and at the end)


@dataclass
class RunConfig:
    name: str = "run"  # a label, never a path
    task: str = field(default_factory=lambda: default_task())  # a registered task (tasks/registry.py)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    batch_size: int = 32  # examples per optimiser step
    learning_rate: float = 1e-4  # AdamW peak learning rate (linear decay)
    # Candidate learning rates, tuned alike for student and control: on the first training seed each is trained once
    # per candidate and keeps the one with the best validation score, used for the later seeds too. Empty: both
    # use learning_rate.
    learning_rate_candidates: list[float] = field(default_factory=list)
    max_length: int = 128  # tokens per input after truncation (a language model: tokens per packed block)
    seed: int = 0  # the first training seed (student and control init draws, data order, dropout)
    seeds: int = 3  # training seeds seed, seed + 1, ...: student and control are trained once per seed, the teacher
    #                 and its outputs once for all; the gain's interval and verdict come from them (3: the fewest
    #                 that measure how much the gain moves from seed to seed)
    control_budget: str = "same-steps"  # same-steps: the student's steps | teacher-compute: plus the steps whose
    #                                     training FLOPs equal the teacher's labeling passes
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # torch intra-op threads per process (0: the cores shared out among the processes)
    processes: int = 1  # training processes (DDP through Accelerate: GPUs, or CPU processes over gloo)
    precision: str = "auto"  # auto | fp32 | bf16 | fp16: training precision (auto: core.device.resolve_precision)
    control: bool = True  # also train the control student (same init, data, budget; alpha = 0)
    measure: bool = True  # at the end, measure latency, memory, size and quality of every variant (bench.json)
    # Runtimes the variants are measured on (core.variants.RUNTIMES): eager PyTorch, and ONNX Runtime fp32 + int8 on
    # ONNX files exported from the same folders (the classification task; others measure PyTorch only).
    runtimes: list[str] = field(default_factory=lambda: ["pytorch", "onnxruntime"])
    freeze_embeddings: bool = True  # keep word embeddings fixed (faster; they are shared knowledge anyway)
    # Sections that tasks register (register_section), e.g. "lm"; read as attributes: config.lm.top_k.
    sections: dict = field(default_factory=lambda: {name: cls() for name, (cls, _) in _SECTIONS.items()})

    def __getattr__(self, name: str):
        sections = self.__dict__.get("sections")
        if sections is not None and name in sections:
            return sections[name]
        raise AttributeError(f"RunConfig has no field or section {name!r}")

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        return {k: v for k, v in data.items() if k != "sections"} | data["sections"]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp)).replace("NoneType", "null")


def _coerce(value, tp, path: str):
    """Check `value` against the annotation `tp`; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], path) if value is not None else _fail_type(value, tp, path)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            _fail_type(value, tp, path)
        return [_coerce(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"expected an object, got {type(value).__name__}", path)
        return _from_dict(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            _fail_type(value, tp, path)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail_type(value, tp, path)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail_type(value, tp, path)
        # JSON allows NaN, Infinity and huge integers; none is a usable setting, and inf would pass "> 0" checks.
        number = float(value) if not isinstance(value, int) or abs(value) < 2**1000 else math.inf
        if not math.isfinite(number):
            raise ConfigError(f"expected a finite number, got {value!r:.60}", path)
        return number
    if tp is str:
        if not isinstance(value, str):
            _fail_type(value, tp, path)
        return value
    raise ConfigError(f"unsupported type {tp}", path)


def _fail_type(value, tp, path):
    raise ConfigError(f"expected {_type_name(tp)}, got {type(value).__name__} ({_quote.repr(value)})", path)


def _from_dict(cls, data: dict, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    if cls is RunConfig:
        names = (names - {"sections"}) | set(_SECTIONS)
        data = _data_seed_of_old_config(dict(data))
        sections = {key: data.pop(key) for key in list(data) if key in _SECTIONS}
        config = _from_dict_fields(cls, data, names, hints, prefix)
        for key, value in sections.items():
            config.sections[key] = _coerce(value, _SECTIONS[key][0], key)
        return config
    return _from_dict_fields(cls, data, names, hints, prefix)


def _data_seed_of_old_config(data: dict) -> dict:
    """A config written before data seeds (no `seeds`, no `data.seed`) drew its split with `seed`: keep it so."""
    data_section = data.get("data", {})
    if "seeds" not in data and "seed" in data and isinstance(data_section, dict) and "seed" not in data_section:
        data["data"] = {**data_section, "seed": data["seed"]}
    return data


def _from_dict_fields(cls, data: dict, names: set, hints: dict, prefix: str):
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(f"unknown key; allowed keys: {', '.join(sorted(names))}", f"{where}{unknown[0]}")
    kwargs = {}
    for name, value in data.items():
        path = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _coerce(value, hints[name], path)
    return cls(**kwargs)


def from_dict(data: dict) -> RunConfig:
    """Build and validate a RunConfig from plain data (e.g. parsed JSON). Raises ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"a run config is a JSON object, got {type(data).__name__}")
    config = _from_dict(RunConfig, data)
    validate(config)
    return config


def from_json(text: str) -> RunConfig:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except ValueError as exc:  # e.g. an integer too long for Python to convert
        raise ConfigError(f"not valid JSON: {str(exc)[:120]}") from None
    except RecursionError:
        raise ConfigError("lists or objects nested too deeply to read; a run config is an object of sections a few "
                          "levels deep") from None
    return from_dict(data)


def load(path: str | Path) -> RunConfig:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark (Windows editors) is not JSON
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    return from_json(text)


def _check(ok: bool, field_name: str, allowed: str, value) -> None:
    if not ok:
        raise ConfigError(f"{value!r} is not allowed; allowed: {allowed}", field_name)


def validate(c: RunConfig) -> RunConfig:
    """Check every field's range; raise ConfigError naming the first bad field and what is allowed."""
    _check(bool(c.name.strip()) and len(c.name) <= 120, "name", "1 to 120 characters", c.name)
    _check(bool(c.teacher.model.strip()), "teacher.model", "a preset key, hub id or local folder", c.teacher.model)
    _check(0 <= c.teacher.finetune_epochs <= 20, "teacher.finetune_epochs", "0 to 20", c.teacher.finetune_epochs)
    _check(0 < c.teacher.finetune_lr <= 1, "teacher.finetune_lr", "> 0 and <= 1", c.teacher.finetune_lr)
    _check(0 <= c.teacher.finetune_layers <= 1024, "teacher.finetune_layers", "0 (all) to 1024",
           c.teacher.finetune_layers)

    s = c.student
    _check(s.kind in STUDENT_KINDS, "student.kind", " | ".join(STUDENT_KINDS), s.kind)
    _check(1 <= s.num_layers <= 128, "student.num_layers", "1 to 128", s.num_layers)
    if s.layers is not None:
        _check(len(s.layers) > 0, "student.layers", "a non-empty list of teacher layer indices", s.layers)
        _check(all(i >= 0 for i in s.layers), "student.layers", "indices >= 0", s.layers)
        _check(len(set(s.layers)) == len(s.layers), "student.layers", "each index at most once", s.layers)
    for name, limit in (("hidden_size", 16384), ("intermediate_size", 65536), ("num_heads", 256)):
        value = getattr(s, name)
        _check(value is None or 1 <= value <= limit, f"student.{name}", f"null or 1 to {limit}", value)
    if s.hidden_size and s.num_heads:
        _check(s.hidden_size % s.num_heads == 0, "student.hidden_size", "a multiple of student.num_heads",
               s.hidden_size)
    _check(s.kind != "model" or bool(s.model), "student.model", "a model reference when kind is 'model'", s.model)
    _check(s.init_from in STUDENT_INITS, "student.init_from", " | ".join(STUDENT_INITS), s.init_from)
    _check(s.kind != "keep-layers" or s.init_from != "random", "student.init_from",
           "teacher | base for keep-layers (it copies layers; 'random' is for shrink)", s.init_from)
    _check(isinstance(s.trim_vocab, bool), "student.trim_vocab", "true or false", s.trim_vocab)

    _check(isinstance(c.runtimes, list) and bool(c.runtimes) and all(r in RUNTIMES for r in c.runtimes)
           and len(set(c.runtimes)) == len(c.runtimes), "runtimes",
           f"a non-empty list of distinct runtimes from: {', '.join(RUNTIMES)}", c.runtimes)

    d = c.data
    _check(bool(d.source.strip()), "data.source", "a built-in name, a .csv/.jsonl path or hub:<id>", d.source)
    _check(0 < d.validation_fraction < 0.5, "data.validation_fraction", "> 0 and < 0.5", d.validation_fraction)
    _check(0 < d.test_fraction < 0.5, "data.test_fraction", "> 0 and < 0.5", d.test_fraction)
    _check(d.max_train_examples is None or d.max_train_examples >= 2, "data.max_train_examples", "null or >= 2",
           d.max_train_examples)
    _check(d.student_labels is None or d.student_labels >= 2, "data.student_labels", "null or >= 2",
           d.student_labels)
    _check(1 <= d.transfer_copies <= 20, "data.transfer_copies", "1 to 20", d.transfer_copies)
    _check(d.transfer_limit is None or d.transfer_limit >= 1, "data.transfer_limit", "null or >= 1",
           d.transfer_limit)

    lo = c.loss
    _check(0 < lo.temperature <= 100, "loss.temperature", "> 0 and <= 100", lo.temperature)
    _check(0 <= lo.alpha <= 1, "loss.alpha", "0 to 1", lo.alpha)
    _check(lo.hidden_weight >= 0, "loss.hidden_weight", ">= 0", lo.hidden_weight)
    _check(lo.hidden_loss in HIDDEN_LOSSES, "loss.hidden_loss", " | ".join(HIDDEN_LOSSES), lo.hidden_loss)
    if lo.layer_map is not None:
        _check(len(lo.layer_map) > 0 and all(i >= 0 for i in lo.layer_map), "loss.layer_map",
               "a non-empty list of teacher layer indices >= 0", lo.layer_map)

    b = c.budget
    _check(b.unit in BUDGET_UNITS, "budget.unit", " | ".join(BUDGET_UNITS), b.unit)
    _check(b.value > 0, "budget.value", "> 0", b.value)
    _check(b.unit != "steps" or float(b.value).is_integer(), "budget.value", "a whole number of steps", b.value)
    _check(b.eval_every >= 1, "budget.eval_every", ">= 1", b.eval_every)

    _check(1 <= c.batch_size <= 4096, "batch_size", "1 to 4096", c.batch_size)
    _check(0 < c.learning_rate <= 1, "learning_rate", "> 0 and <= 1", c.learning_rate)
    cands = c.learning_rate_candidates
    _check(isinstance(cands, list) and len(cands) <= MAX_LR_CANDIDATES and all(0 < x <= 1 for x in cands)
           and len(set(cands)) == len(cands), "learning_rate_candidates",
           f"up to {MAX_LR_CANDIDATES} distinct rates, each > 0 and <= 1 (empty: learning_rate for both)", cands)
    _check(2 <= c.max_length <= 8192, "max_length", "2 to 8192", c.max_length)
    _check(0 <= c.seed < 2**32 - MAX_SEEDS, "seed", f"0 to 2^32 - {MAX_SEEDS + 1}", c.seed)
    _check(1 <= c.seeds <= MAX_SEEDS, "seeds", f"1 to {MAX_SEEDS} training seeds", c.seeds)
    _check(0 <= d.seed < 2**32, "data.seed", "0 to 2^32 - 1", d.seed)
    _check(c.control_budget in CONTROL_BUDGETS, "control_budget", " | ".join(CONTROL_BUDGETS), c.control_budget)
    _check(c.device in DEVICES, "device", " | ".join(DEVICES), c.device)
    _check(0 <= c.threads <= 1024, "threads", "0 (all cores) to 1024", c.threads)
    _check(1 <= c.processes <= MAX_PROCESSES, "processes", f"1 to {MAX_PROCESSES}", c.processes)
    _check(c.precision in PRECISIONS, "precision", " | ".join(PRECISIONS), c.precision)
    for key, (_, validate_section) in _SECTIONS.items():
        validate_section(c.sections[key])
    for validate_fn in _VALIDATORS:
        validate_fn(c)
    return c


def training_seeds(c: RunConfig) -> list[int]:
    """The run's training seeds: seed, seed + 1, ..., `seeds` of them."""
    return [c.seed + i for i in range(c.seeds)]


def check(ok: bool, field_name: str, allowed: str, value) -> None:
    """Raise ConfigError naming `field_name`, the value and what is allowed, unless `ok` (for task sections)."""
    _check(ok, field_name, allowed, value)
