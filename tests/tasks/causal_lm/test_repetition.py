"""Held-out repetition: greedy continuations of held-out starts, their repeated 4-grams, the comparison with the
teacher's (values by hand)."""

import pytest
import torch

from distill_core.core.errors import DistillLabError
from distill_core.tasks.causal_lm import repetition


class _ScriptedLM:
    """A stand-in causal LM whose greedy continuation of row i is NEW[i], whatever the prompt."""

    NEW = [[1, 2, 3, 4, 1, 2, 3, 4], [1, 2, 3, 4, 5, 6, 7, 8]]

    def __init__(self):
        self.seen = None
        self.weight = torch.zeros(1)

    def eval(self):
        return self

    def parameters(self):
        return iter([self.weight])

    def generate(self, input_ids, attention_mask, max_new_tokens, min_new_tokens, **_):
        self.seen = (input_ids.clone(), max_new_tokens, min_new_tokens)
        new = torch.tensor([row[:max_new_tokens] for row in self.NEW[:len(input_ids)]])
        return torch.cat([input_ids, new], dim=1)


class _Tokenizer:
    pad_token_id = 0
    eos_token_id = 0

    def decode(self, ids, skip_special_tokens=True):
        return " ".join(str(i) for i in ids)


def test_heldout_repetition_scores_each_continuation_of_the_block_starts():
    blocks = torch.arange(40).reshape(4, 10)
    model = _ScriptedLM()
    rep = repetition.heldout_repetition(model, _Tokenizer(), blocks, prompts=2, prompt_tokens=3, new_tokens=8)
    prompts, new, at_least = model.seen
    assert prompts.tolist() == [[0, 1, 2], [10, 11, 12]] and (new, at_least) == (8, 8)  # exactly 8 new tokens
    # [1,2,3,4,1,2,3,4]: 5 four-grams, (1,2,3,4) twice -> 1 - 4/5 = 0.2; [1..8]: none repeated
    assert rep.per_prompt == pytest.approx([0.2, 0.0]) and rep.mean == pytest.approx(0.1)
    assert (rep.prompts, rep.prompt_tokens, rep.new_tokens) == (2, 3, 8)
    assert rep.texts == ["1 2 3 4 1 2 3 4", "1 2 3 4 5 6 7 8"]
    with pytest.raises(DistillLabError, match="at least one block of 12 tokens"):
        repetition.heldout_repetition(model, _Tokenizer(), blocks, prompt_tokens=12)


def _rep(values):
    return {"per_prompt": values, "mean": sum(values) / len(values)}


def test_compare_with_teacher_by_hand():
    teacher = _rep([0.1, 0.2, 0.3])
    out = repetition.compare_with_teacher({
        "teacher": teacher,
        "student": _rep([0.2, 0.5, 0.5]),  # differences 0.1, 0.3, 0.2: mean 0.2, sd 0.1
        "control": _rep([0.5, 0.6, 0.7]),  # +0.4 on every prompt: a zero-width interval above 0
        "student-int8": _rep([0.0, 0.1, 0.2]),  # -0.1 on every prompt
        "other": _rep([0.5]),  # other prompts: not compared
    })
    s = out["student"]
    half = 4.302653 * 0.1 / 3 ** 0.5  # t(0.975, 2 df) x sd / sqrt(n)
    assert s["difference"] == pytest.approx(0.2) and s["low"] == pytest.approx(0.2 - half, abs=1e-6)
    assert s["high"] == pytest.approx(0.2 + half, abs=1e-6) and s["verdict"] == repetition.SAME
    assert (s["mean"], s["teacher_mean"]) == (pytest.approx(0.4), pytest.approx(0.2))
    assert out["control"]["verdict"] == repetition.MORE and out["control"]["low"] == pytest.approx(0.4)
    assert out["student-int8"]["verdict"] == repetition.LESS
    assert "other" not in out and "teacher" not in out
    assert repetition.compare_with_teacher({"student": _rep([0.1])}) == {}
