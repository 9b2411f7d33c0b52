"""Causal language modelling: a teacher LM's next-token distributions (its cached top-k) teach a smaller LM with
the same vocabulary (token-level KD; forward / reverse KL or JSD as in TRL's GKD)."""

from __future__ import annotations

from pathlib import Path

from distill_core.tasks.base import QualitySpec, Task
from distill_core.tasks.causal_lm import NAME
from distill_core.tasks.causal_lm.config import LMConfig, validate_run, validate_section


class CausalLMTask(Task):
    name = NAME
    title = "Causal language model"
    quality = QualitySpec("perplexity", False,
                          ("perplexity", "agreement", "kl_from_teacher", "retention", "distillation_gain"),
                          split="held-out", example_scores="block_nll", link="exp")
    section = ("lm", LMConfig, validate_section)
    unit_name = "block"
    playground = "continuation"
    steps_module = "distill_core.tasks.causal_lm.run"
    bench_module = "distill_core.tasks.causal_lm.bench"
    offline_data = ("reviews", "tweets")  # data.BUILTIN_TEXT_SOURCES (tweets is also a transfer name)

    def validate(self, config) -> None:
        validate_run(config)

    def scan_layers(self, config, device: str = "cpu"):
        from distill_core.tasks.causal_lm.scan import scan_teacher

        return scan_teacher(config, device=device)

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
