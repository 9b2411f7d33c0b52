"""The causal-LM task's config section (`lm`) and the shared fields it refuses."""

from __future__ import annotations

from dataclasses import dataclass

from distill_core.core.config import check

DIVERGENCES = ("kl", "reverse-kl", "jsd")


@dataclass
class LMConfig:
    """Causal-LM settings (task "causal-lm"); max_length is the packed block length there."""

    top_k: int = 64  # teacher logits cached per token; the rest of the vocabulary is one tail bucket
    divergence: str = "kl"  # kl: KL(teacher || student) | reverse-kl: KL(student || teacher) | jsd (with beta)
    beta: float = 0.5  # jsd only, TRL GKD's interpolation: 0 = forward KL, 1 = reverse KL, 0.5 = symmetric JSD
    unlikelihood: float = 0.0  # weight of token-level unlikelihood (losses.unlikelihood_loss), student and control
    #                            alike: less mass on tokens already in the context, fewer greedy loops
    train_blocks: int | None = None  # cap on training blocks (the teacher labels each once); None: all
    validation_blocks: int = 16  # held-out blocks scored during training (best checkpoint by their perplexity)
    eval_blocks: int = 32  # held-out blocks for the final quality (never trained on, nor used for validation)
    prompt: str = "I bought this for my kitchen and"  # measurement: the prompt whose prefill is timed
    max_new_tokens: int = 32  # measurement: greedy tokens decoded per timed run (batch 1)


def validate_section(lm: LMConfig) -> None:
    """The lm section's ranges (checked for every config, so a saved config stays valid when its task changes)."""
    check(1 <= lm.top_k <= 1024, "lm.top_k", "1 to 1024", lm.top_k)
    check(lm.divergence in DIVERGENCES, "lm.divergence", " | ".join(DIVERGENCES), lm.divergence)
    check(0 <= lm.beta <= 1, "lm.beta", "0 to 1", lm.beta)
    check(0 <= lm.unlikelihood <= 10, "lm.unlikelihood", "0 to 10", lm.unlikelihood)
    check(lm.train_blocks is None or lm.train_blocks >= 1, "lm.train_blocks", "null or >= 1", lm.train_blocks)
    check(1 <= lm.validation_blocks <= 10000, "lm.validation_blocks", "1 to 10000", lm.validation_blocks)
    check(1 <= lm.eval_blocks <= 10000, "lm.eval_blocks", "1 to 10000", lm.eval_blocks)
    check(bool(lm.prompt.strip()) and len(lm.prompt) <= 4000, "lm.prompt", "1 to 4000 characters", lm.prompt)
    check(1 <= lm.max_new_tokens <= 1024, "lm.max_new_tokens", "1 to 1024", lm.max_new_tokens)


def validate_run(c) -> None:
    """What a causal-LM run refuses of the shared fields."""
    check(c.teacher.finetune_epochs == 0, "teacher.finetune_epochs",
          f"0 for {c.task} (the teacher is used as it is)", c.teacher.finetune_epochs)
    check(c.loss.hidden_weight == 0, "loss.hidden_weight", f"0 for {c.task} (logit distillation only)",
          c.loss.hidden_weight)
    check(c.max_length >= 8, "max_length", f">= 8 for {c.task} (the packed block length in tokens)", c.max_length)
    check(not c.student.trim_vocab, "student.trim_vocab",
          f"false for {c.task} (token-level distillation compares the teacher's and student's whole vocabularies; "
          "trimming is for classification students)", c.student.trim_vocab)
