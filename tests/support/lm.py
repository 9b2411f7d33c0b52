"""Tiny causal LMs for the tests: a word-level tokenizer trained on review text and a random Llama-style model.

Built in the test session (well under a second); `tiny_lm_dir` caches the folder per session.
"""

from __future__ import annotations

import torch

from distill_core.core.config import BudgetConfig, DataConfig, LossConfig, RunConfig, StudentConfig, TeacherConfig
from distill_core.tasks.causal_lm.config import LMConfig

_BUILT: dict = {}


def make_tokenizer(vocab_size: int = 400):
    """A word-level tokenizer over the reviews' most common words, with <unk>, <pad>, <s> and </s>."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from distill_core.tasks.causal_lm.data import review_texts

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<pad>", "<s>", "</s>"])
    tok.train_from_iterator(review_texts()[:2000], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>")


def make_tiny_lm(folder, layers: int = 4, hidden: int = 32, vocab_size: int = 400, seed: int = 0):
    """A randomly initialised 4-layer, 32-wide Llama (tied embeddings) with its tokenizer, saved to `folder`."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tokenizer = make_tokenizer(vocab_size)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=256, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_lm_dir(tmp_path_factory):
    """The session's tiny teacher folder (built on first use)."""
    if "teacher" not in _BUILT:
        _BUILT["teacher"] = make_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))
    return _BUILT["teacher"]


def tiny_lm_config(teacher_dir, **changes) -> RunConfig:
    """A causal-LM run over the tiny teacher: 32-token blocks, a few steps; seconds, not minutes."""
    cfg = RunConfig(
        name="tiny-lm", task="causal-lm",
        teacher=TeacherConfig(model=str(teacher_dir)),
        student=StudentConfig(kind="keep-layers", num_layers=2),
        data=DataConfig(source="reviews"),
        loss=LossConfig(temperature=1.0, alpha=0.5),
        budget=BudgetConfig(unit="steps", value=6, eval_every=3),
        sections={"lm": LMConfig(top_k=8, train_blocks=48, validation_blocks=4, eval_blocks=6, prompt="this blender is",
                                         max_new_tokens=6)},
        batch_size=8, learning_rate=3e-3, max_length=32, threads=1, seeds=1, measure=False,
    )
    return cfg.replace(**changes) if changes else cfg
