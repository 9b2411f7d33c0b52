"""Causal language modelling: a teacher LM's next-token distributions (its cached top-k) teach a smaller LM with
the same vocabulary (token-level KD; forward / reverse KL or JSD as in TRL's GKD)."""

from __future__ import annotations

from pathlib import Path

from distill_core.tasks.base import Prepared, QualitySpec, RunContext, Targets, Task, Trained
from distill_core.tasks.causal_lm import NAME
from distill_core.tasks.causal_lm.config import LMConfig, validate_run, validate_section


class CausalLMTask(Task):
    name = NAME
    title = "Causal language model"
    quality = QualitySpec("perplexity", False,
                          ("perplexity", "agreement", "kl_from_teacher", "retention", "distillation_gain"),
                          split="held-out")
    section = ("lm", LMConfig, validate_section)
    unit_name = "block"
    playground = "continuation"

    def validate(self, config) -> None:
        validate_run(config)

    def presets(self) -> dict:
        from distill_core.tasks.causal_lm.presets import PRESETS

        return PRESETS

    # --- pre-flight
    def preflight_seq_len(self, config) -> int:
        return config.max_length

    def teacher_config(self, config):
        from distill_core.tasks.causal_lm import teacher

        return teacher.load_teacher_config(config.teacher.model, config.teacher.trust_remote_code)

    def model_from_config(self, hf_config):
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_config(hf_config)

    def compatibility(self, config, teacher_config, student_config):
        """Logit distillation compares distributions over the same vocabulary, token by token."""
        from distill_core.tasks.causal_lm import teacher

        if config.student.kind != "model":
            return None, None
        reason = teacher.vocabulary_mismatch(teacher_config, student_config)
        return (reason, "student.model") if reason else (None, None)

    # --- the run
    def prepare(self, ctx: RunContext) -> Prepared:
        from distill_core.tasks.causal_lm import run

        return run.prepare(ctx)

    def teacher_targets(self, ctx: RunContext, prepared: Prepared) -> Targets:
        from distill_core.tasks.causal_lm import run

        return run.teacher_targets(ctx, prepared)

    def train(self, ctx: RunContext, prepared: Prepared, targets: Targets, phase: str, steps: int | None) -> Trained:
        from distill_core.tasks.causal_lm import run

        return run.train(ctx, prepared, targets, phase, steps)

    def teacher_quality(self, ctx: RunContext, prepared: Prepared, targets: Targets) -> dict:
        from distill_core.tasks.causal_lm import run

        return run.teacher_quality(ctx, prepared, targets)

    def evaluate(self, ctx: RunContext, prepared: Prepared, targets: Targets) -> dict:
        from distill_core.tasks.causal_lm import run

        return run.evaluate_student(ctx, prepared, targets)

    def results_extra(self, ctx: RunContext, prepared: Prepared, targets: Targets) -> dict:
        from distill_core.tasks.causal_lm import run

        return run.results_extra(ctx, prepared, targets)

    # --- measurement and reading results
    def measure(self, run_dir: Path, cfg, variants=None, on_progress=None, should_stop=None, write=True,
                after_run=False) -> dict:
        from distill_core.tasks.causal_lm import bench

        return bench.measure_run(run_dir, cfg, variants, on_progress, should_stop, write, after_run)

    def bench_columns(self, bench: dict) -> dict[str, dict]:
        from distill_core.tasks.causal_lm import bench as bench_mod

        return bench_mod.bench_columns(bench)

    def format_bench(self, bench: dict) -> str:
        from distill_core.tasks.causal_lm import bench as bench_mod

        return bench_mod.format_bench_table(bench)

    def results_lines(self, results: dict) -> list[str]:
        """The held-out and training blocks, and the teacher's top-k cache (MB)."""
        d, cache = results["data"], results["teacher_cache"]
        return [f"held-out: {d['eval_blocks']} blocks of {d['block_size']} tokens; trained on {d['train_blocks']} "
                f"blocks; teacher top-{cache['top_k']} cache {cache['bytes'] / 1e6:.1f} MB"]

    # --- the Playground
    def load_variant(self, run_dir: Path, ref: str, trust_remote_code: bool):
        from distill_core.tasks.causal_lm import generate

        model, tokenizer = generate.load_variant_model(ref, trust_remote_code)
        return model.eval(), tokenizer, []

    def continue_text(self, model, tokenizer, prompt: str, max_new_tokens: int):
        from distill_core.tasks.causal_lm import generate

        return generate.continue_text(model, tokenizer, prompt, max_new_tokens)
