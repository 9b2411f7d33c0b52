"""What a task is: the hooks the shared run pipeline, measurement, CLI and views call, and what they may assume.

A task is one folder under `tasks/` with a `Task` subclass registered in `tasks/registry.py`. The shared machinery
(runs/, views/, cli.py) asks the task; it never names one. A new task overrides the hooks below that differ; the
defaults here are what a task without its own opinion gets.

The pipeline's order (runs/pipeline.py): prepare -> teacher_targets -> train("student") -> evaluate -> reset to the
same initial weights -> train("control", same steps) -> evaluate -> results.json -> measure.
"""

from __future__ import annotations

import importlib
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from distill_core.core.errors import DistillLabError, RunCancelled
from distill_core.core.progress import ProgressEvent, ProgressFn, StopFn
from distill_core.training.parallel import Processes


@dataclass(frozen=True)
class QualitySpec:
    """What "quality" means for a task: its headline metric and the columns Compare and the CLI show."""

    metric: str  # the headline metric every variant is scored on, e.g. "accuracy", "perplexity"
    higher_is_better: bool
    columns: tuple[str, ...]  # quality columns of the comparison table, headline first
    split: str = "test"  # the held-out data the metric is measured on, as the results say it
    # The per-example scores a quality report carries under this key (dropped from results.json), whose mean gives
    # the metric through `link` ("identity" | "exp"): they make the gain's paired test on the shared split.
    example_scores: str | None = None
    link: str = "identity"
    binary: bool = False  # the scores are right (1) / wrong (0): McNemar's test applies
    # The per-example outputs a quality report carries under this key (dropped from results.json); the first
    # seed's teacher, student and control outputs go to test_outputs.json with Task.test_examples.
    example_outputs: str | None = None


@dataclass
class RunContext:
    """What every step of one run shares: its config, folder, device, progress callback and stop check."""

    config: Any  # a validated RunConfig
    run_dir: Path
    device: str  # "cpu" | "cuda"
    threads: int  # torch intra-op threads in force
    emit: ProgressFn
    should_stop: StopFn | None = None  # with several processes: the shared check (Processes.stop_check)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase, saved in results.json
    processes: Processes = field(default_factory=Processes)  # the training processes; only the main one writes

    def stop_if_asked(self, where: str) -> None:
        if self.should_stop is not None and self.should_stop():
            raise RunCancelled(f"cancelled {where}")

    def progress(self, phase: str, message: str, fraction: float = 0.0) -> None:
        self.emit(ProgressEvent(phase, 0, None, fraction, message=message))

    @contextmanager
    def timed(self, key: str) -> Iterator[None]:
        """Add the seconds spent in the block to timings[key]."""
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.timings[key] = self.timings.get(key, 0.0) + time.monotonic() - t0


@dataclass
class Prepared:
    """What `Task.prepare` hands the pipeline: a student ready to train and the records to save with the run."""

    student: Any  # torch.nn.Module, trained in place; reset to its initial weights before the control
    tokenizer: Any  # saved beside the student (None: the task saves no tokenizer)
    preflight: dict  # preflight.json: {"teacher": cost, "student": cost, "student_description", "flops_ratio"}
    state: Any = None  # anything else the task's later hooks need (data, teacher, label order...)
    history: dict[str, list] = field(default_factory=dict)  # curves recorded while preparing (teacher fine-tune)
    freeze_embeddings: bool = False  # the student's input embeddings stay fixed during training
    labeled_inputs: int = 0  # inputs the teacher labels for the student (a control given the teacher's compute)


@dataclass
class Targets:
    """The teacher's outputs the student learns from (computed once, cached) and whether they came from the cache."""

    value: Any
    cached: bool


@dataclass
class Trained:
    """One training phase's outcome: its curve, the steps it took, a summary for results.json, how it ended."""

    history: list[dict]
    steps: int
    summary: dict  # steps, seconds, examples, best step, best validation score, stopped
    stopped: str  # "budget" | "cancelled"
    validation: float | None = None  # the best validation score, higher is better (accuracy; minus perplexity):
    #                                  picks among candidate learning rates (learning_rate_candidates)
    validation_loss: float | None = None  # cross-entropy on the validation split at that score's checkpoint (nats):
    #                                       the lower decides between candidates whose scores tie (an accuracy on a
    #                                       few hundred examples often does); None where the score cannot tie


class Task:
    """Base of every task: override what differs. Methods import their heavy libraries lazily, so registering a task
    (at import of distill_core) costs nothing."""

    name: str = ""  # the config's `task` value, e.g. "classification"
    title: str = ""  # a label for people, e.g. "Text classification"
    quality: QualitySpec = QualitySpec("accuracy", True, ("accuracy",))
    # A config section of its own: (key, dataclass, validate_section(section)), e.g. ("lm", LMConfig, ...)
    section: tuple | None = None
    class_distributions: bool = False  # variants answer with probabilities over named classes (Learn's lessons)
    unit_name: str = "input"  # what one input is, for costs ("input", "block of max_length tokens")
    # How variants answer in the Playground: "classes" (probabilities over named classes: `classify`),
    # "continuation" (greedy text: `continue_text`), or None (no Playground for this task).
    playground: str | None = None
    # Runtimes the task's variants can be measured and answered on (core.variants.RUNTIMES); others are skipped.
    runtimes: tuple[str, ...] = ("pytorch",)
    # Where the run hooks and the measurement live, when a task keeps them as module functions: `steps_module` holds
    # prepare, teacher_targets, train, teacher_quality, evaluate_student, results_extra; `bench_module` holds
    # measure_run, bench_columns, format_bench_table. The methods below call them; a task may override instead.
    steps_module: str | None = None
    bench_module: str | None = None
    # Data names (`data.source`, `data.transfer`) the task reads from installed packages, never from the network:
    # room mode lets visitors use these (and the presets' own) while it refuses hub datasets.
    offline_data: tuple[str, ...] = ()

    def _module(self, attribute: str):
        name = getattr(self, attribute)
        if not name:
            raise NotImplementedError(f"task {self.name!r} names no {attribute} and does not override this hook")
        return importlib.import_module(name)

    # --- config -----------------------------------------------------------------------------------------------
    def validate(self, config) -> None:
        """Refuse settings this task cannot honour (raise ConfigError naming the field); the shared ranges are
        already checked."""

    def presets(self) -> dict[str, tuple[str, Any]]:
        """Preset name -> (one-line description, RunConfig)."""
        return {}

    # --- before a run: pre-flight -----------------------------------------------------------------------------
    def preflight_seq_len(self, config) -> int:
        """Tokens per input at which pre-flight counts FLOPs."""
        return max(2, config.max_length // 2)

    def teacher_config(self, config):
        """The teacher's transformers config (no weights loaded)."""
        raise NotImplementedError

    def model_from_config(self, hf_config):
        """A randomly initialised model of `hf_config` (pre-flight counts its costs)."""
        raise NotImplementedError

    def compatibility(self, config, teacher_config, student_config) -> tuple[str | None, str | None]:
        """(why the pair cannot be distilled, the field at fault), or (None, None)."""
        return None, None

    def preflight_notes(self, config, teacher_config, student_config) -> list[str]:
        return []

    # --- the run ------------------------------------------------------------------------------------------------
    def prepare(self, ctx: RunContext) -> Prepared:
        """Load data and teacher, build the student; raise DistillLabError for what the user must fix."""
        return self._module("steps_module").prepare(ctx)

    def teacher_targets(self, ctx: RunContext, prepared: Prepared) -> Targets:
        """The teacher's outputs the student learns from (computed once, cached across runs where possible)."""
        return self._module("steps_module").teacher_targets(ctx, prepared)

    def train(self, ctx: RunContext, prepared: Prepared, targets: Targets, phase: str, steps: int | None) -> Trained:
        """Train prepared.student in place. phase "student": with the teacher, within the config's budget;
        "control": hard targets only, exactly `steps` steps, same data the labels cover."""
        return self._module("steps_module").train(ctx, prepared, targets, phase, steps)

    def seed_student(self, ctx: RunContext, prepared: Prepared) -> None:
        """Re-draw whatever is random in the student's initial weights for ctx.config.seed (torch is seeded with it
        just before). Default: the steps module's `seed_student` where it has one; else nothing, the initial weights
        are the same for every seed (e.g. copied layers)."""
        module = self._module("steps_module") if self.steps_module else None
        if module is not None and hasattr(module, "seed_student"):
            module.seed_student(ctx, prepared)

    def teacher_quality(self, ctx: RunContext, prepared: Prepared, targets: Targets) -> dict:
        """The teacher's quality report on the held-out split (it must carry `quality.metric`)."""
        return self._module("steps_module").teacher_quality(ctx, prepared, targets)

    def evaluate(self, ctx: RunContext, prepared: Prepared, targets: Targets) -> dict:
        """The quality report of prepared.student as it is now, on the same held-out split."""
        return self._module("steps_module").evaluate_student(ctx, prepared, targets)

    def scan_layers(self, config, device: str = "cpu"):
        """The teacher's block influence on a few of the run's own inputs and the blocks it suggests the student
        keep (models.layer_importance.LayerScan). Tasks without a scan raise DistillLabError."""
        raise DistillLabError(f"the {self.name} task has no layer-importance scan", "task")

    def quality_warnings(self, variants: dict[str, dict]) -> list[str]:
        """Sentences for the user once the first seed's teacher, student and control are evaluated (`variants`:
        quality reports by name), e.g. a control as good as the teacher; none by default."""
        return []

    def test_examples(self, prepared: Prepared) -> dict:
        """The held-out examples the quality was measured on ({"texts", "labels", ...}), saved next to the
        variants' per-example outputs (QualitySpec.example_outputs) in test_outputs.json; {} saves none. Default:
        the steps module's `test_examples` where it has one."""
        module = self._module("steps_module") if self.steps_module else None
        return module.test_examples(prepared) if module is not None and hasattr(module, "test_examples") else {}

    def results_extra(self, ctx: RunContext, prepared: Prepared, targets: Targets) -> dict:
        """Task-specific parts of results.json (teacher, data sizes, label names...)."""
        return self._module("steps_module").results_extra(ctx, prepared, targets) if self.steps_module else {}

    # --- after a run: measurement ---------------------------------------------------------------------------
    def measure(self, run_dir: Path, cfg, variants: list[str] | None = None, on_progress: ProgressFn | None = None,
                should_stop: StopFn | None = None, write: bool = True, after_run: bool = False) -> dict:
        """Measure a finished run's variants and write bench.json (with "task": self.name); returns its dict.
        `cfg` is a measure.records.BenchConfig; `after_run`: the run's own results already hold some quality."""
        return self._module("bench_module").measure_run(run_dir, cfg, variants, on_progress, should_stop, write,
                                                        after_run)

    # --- reading results ------------------------------------------------------------------------------------
    def bench_columns(self, bench: dict) -> dict[str, dict]:
        """Compare's cost columns per variant from bench.json (latency, memory, size...)."""
        return self._module("bench_module").bench_columns(bench) if self.bench_module else {}

    def format_bench(self, bench: dict) -> str:
        """bench.json as a text table (`distill-lab bench`, `distill-lab show`)."""
        return self._module("bench_module").format_bench_table(bench) if self.bench_module else ""

    def results_lines(self, results: dict) -> list[str]:
        """Task-specific lines the text report prints under the quality table of results.json (data sizes,
        caches...); the shared lines (distillation gain, student cost, timings) are the views' own."""
        return []

    # --- the Playground: a finished run's variants answer one input side by side ------------------------------
    def load_variant(self, run_dir: Path, ref: str, trust_remote_code: bool) -> tuple[Any, Any, list[str]]:
        """(fp32 model in eval mode on CPU, its tokenizer, class names in logit order; [] when the task has no
        classes) of one variant of the finished run in `run_dir`, loaded from `ref` (a model folder, preset key or
        hub id). The caller quantizes the int8 variants and caches the result."""
        raise NotImplementedError(f"task {self.name!r} has no Playground")

    def classify(self, model, tokenizer, text: str, max_length: int) -> tuple[list[float], float]:
        """(playground "classes") One text's raw logits, in load_variant's label order, and the wall time of the
        forward pass (ms). Inputs longer than `max_length` tokens are truncated."""
        raise NotImplementedError(f"task {self.name!r} does not answer with classes")

    def continue_text(self, model, tokenizer, prompt: str, max_new_tokens: int):
        """(playground "continuation") A greedy continuation of `prompt`, batch 1: a record with `text` (without the
        prompt), `prefill_ms` (ms to the first new token) and `decode_tokens_per_s` (tokens/s after the first)."""
        raise NotImplementedError(f"task {self.name!r} does not continue texts")

    def example_inputs(self, config: dict, n: int = 6) -> list[str]:
        """Up to `n` held-out inputs of the run with this config (a config dict) to try in the Playground; [] when
        its data offers none."""
        return []
