"""What a sweep will cost before it starts: each trial's pre-flight (FLOPs and size against the teacher) and an
estimate of its wall time, plus the teacher's preparation (once for the sweep).

Time comes from this machine's own past runs of the same task in the run store: training throughput in FLOPs per
second (examples per second x 3 x the student's forward FLOPs per input: forward plus a backward of about twice
its cost), the per-run overhead outside training (data, evaluation) and the measurement time; with no past runs,
the FALLBACK_* figures below. An estimate, labelled as one: the basis says which.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field

from distill_core.core.config import RunConfig
from distill_core.core.errors import DistillLabError
from distill_core.core.run_files import read_json_or_none
from distill_core.runs import store
from distill_core.sweeps.spec import SweepSpec, expand
from distill_core.tasks import preflight

# Seen on the 2-core dev VM (the reviews-sentiment preset: 59.9 student examples/s at 5.38e8 FLOPs per input).
FALLBACK_TRAIN_FLOPS_PER_S = 9.0e10
FALLBACK_OVERHEAD_S = 30.0  # data, model loading and evaluation around the training of one run
FALLBACK_MEASURE_S = 60.0  # measuring the variants of one run
FALLBACK_TEACHER_S = 240.0  # fine-tuning a teacher and labelling the text once (when not cached)
HISTORY_RUNS = 40  # newest finished runs read for the figures


@dataclass
class TrialEstimate:
    index: int
    label: str
    flops_ratio: float  # teacher FLOPs / student FLOPs per input: the ideal speedup
    size_ratio: float  # teacher weight bytes / student weight bytes
    student_parameters: int
    trainings: int  # student and control trainings, over seeds and learning-rate candidates
    seconds: float | None  # estimated wall seconds of the trial (None: no estimate, e.g. epochs of unknown data)


@dataclass
class Throughput:
    """This machine's figures for a task, from past runs (or the fallbacks): FLOP/s in training, seconds."""

    train_flops_per_s: float
    overhead_s: float
    measure_s: float
    teacher_s: float
    runs: int  # past runs they come from (0: the fallbacks)
    train_rows: dict = field(default_factory=dict)  # data source -> training rows seen (for epoch budgets)


@dataclass
class SweepEstimate:
    trials: list[TrialEstimate]
    teacher_seconds: float  # preparing the teacher once (when its cache is cold)
    total_seconds: float | None  # teacher + every trial, one after another; None when a trial has no estimate
    basis: str

    def to_dict(self) -> dict:
        return asdict(self)


def _median(values: list[float], default: float) -> float:
    values = [v for v in values if v is not None and v >= 0]
    return statistics.median(values) if values else default


def throughput(task: str) -> Throughput:
    """This machine's training throughput and overheads for `task`, from its newest finished runs. A run that
    trained several at once (one thread each) counts their summed rate: the machine's, as a trial would get it."""
    flops, overhead, measure, teacher, rows = [], [], [], [], {}
    runs = 0
    for record in store.list_runs(status="done", limit=HISTORY_RUNS):
        try:
            results = read_json_or_none(record.folder, "results.json")
        except DistillLabError:
            continue
        if not results or results.get("task") != task:
            continue
        t = results.get("timings") or {}
        student = (results.get("training") or {}).get("student") or {}
        per_input = ((results.get("preflight") or {}).get("student") or {}).get("flops_per_input")
        at_once = int(((results.get("training") or {}).get("trainings_at_once")) or 1)  # runs/fits.py
        if student.get("examples_per_s") and per_input:  # one training's rate, times those that ran beside it
            flops.append(student["examples_per_s"] * at_once * 3 * per_input)
            runs += 1
        trained = sum(t.get(k) or 0 for k in ("teacher_prepare_s", "teacher_outputs_s", "student_train_s",
                                              "control_train_s", "measure_s"))
        if t.get("total_s"):
            overhead.append(t["total_s"] - trained)
        if t.get("measure_s"):
            measure.append(t["measure_s"])
        if not (results.get("teacher") or {}).get("cached", True):
            teacher.append((t.get("teacher_prepare_s") or 0) + (t.get("teacher_outputs_s") or 0))
        source = (results.get("config") or {}).get("data", {}).get("source")
        if source and (results.get("data") or {}).get("train"):
            rows.setdefault(source, results["data"]["train"])
    return Throughput(_median(flops, FALLBACK_TRAIN_FLOPS_PER_S), _median(overhead, FALLBACK_OVERHEAD_S),
                      _median(measure, FALLBACK_MEASURE_S), _median(teacher, FALLBACK_TEACHER_S), runs, rows)


def trainings(config: RunConfig) -> int:
    """Student and control trainings of a run: one each per seed, plus the extra learning-rate candidates (tried
    on the first seed only)."""
    per_phase = config.seeds + max(0, len(config.learning_rate_candidates) - 1)
    return per_phase * (2 if config.control else 1)


def train_seconds(config: RunConfig, flops_per_input: float, machine: Throughput) -> float | None:
    """Seconds of one training (student or control) of `config`, or None for epochs on data of unknown size."""
    unit, value = config.budget.unit, config.budget.value
    if unit == "minutes":
        return value * 60
    if unit == "steps":
        examples = value * config.batch_size
    else:
        rows = config.data.max_train_examples or machine.train_rows.get(config.data.source)
        if not rows:
            return None
        examples = value * rows
    return examples * 3 * flops_per_input / machine.train_flops_per_s


def trial_seconds(config: RunConfig, flops_per_input: float, machine: Throughput) -> float | None:
    """Wall seconds of one trial (its teacher cached): its trainings, the run overhead, the measurement."""
    one = train_seconds(config, flops_per_input, machine)
    if one is None:
        return None
    return one * trainings(config) + machine.overhead_s + (machine.measure_s if config.measure else 0.0)


def estimate_sweep(spec: SweepSpec) -> SweepEstimate:
    """Pre-flight and time of every trial of `spec` (ConfigError for a bad spec, DistillLabError for a pair that
    cannot be built). Trials with the same student share one pre-flight (models built from configs, no weights)."""
    trials = expand(spec)
    machine = throughput(trials[0].config.task)
    seen: dict[str, preflight.Preflight] = {}
    out = []
    for trial in trials:
        config = trial.config
        key = json.dumps([config.teacher.model, config.student.__dict__, config.max_length, config.task],
                         sort_keys=True, default=str)
        if key not in seen:
            seen[key] = preflight.estimate(config)
        report = seen[key]
        if report.blocking:
            raise DistillLabError(f"trial {trial.index + 1} ({trial.label}): {report.blocking}",
                                  report.blocking_field or "axes")
        per_input = report.student["flops_per_input"]
        out.append(TrialEstimate(trial.index, trial.label, report.flops_ratio, report.size_ratio,
                                 int(report.student["parameters"]), trainings(config),
                                 trial_seconds(config, per_input, machine)))
    times = [t.seconds for t in out]
    total = None if any(t is None for t in times) else machine.teacher_s + sum(times)
    basis = (f"from {machine.runs} past {trials[0].config.task} run(s) on this machine: training at "
             f"{machine.train_flops_per_s / 1e9:.0f} GFLOP/s" if machine.runs else
             f"no past {trials[0].config.task} runs here yet: assumed training at "
             f"{machine.train_flops_per_s / 1e9:.0f} GFLOP/s (seen on a 2-core VM)")
    basis += (f", {machine.overhead_s:.0f} s around each run, {machine.measure_s:.0f} s to measure one; the teacher "
              f"prepared once ({machine.teacher_s:.0f} s when not cached); trials one after another")
    return SweepEstimate(out, machine.teacher_s, total, basis)
