"""Greedy continuation with timings, and loading a run's variants for the Playground."""

import math

import pytest
import torch

from distill_core.core import variants
from distill_core.core.errors import DistillLabError
from distill_core.runs.pipeline import run_experiment
from distill_core.tasks.causal_lm import generate as lm_generate
from distill_core.tasks.causal_lm import teacher as lm_teacher
from tests.support.lm import tiny_lm_config, tiny_lm_dir


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    return tiny_lm_dir(tmp_path_factory)


def test_continuation_is_greedy_timed_and_has_token_probabilities(teacher_dir):
    model = lm_teacher.load_causal_lm(str(teacher_dir))
    tok = lm_teacher.load_tokenizer(str(teacher_dir))
    out = lm_generate.continue_text(model, tok, "this blender is great", 5, stop_at_eos=False)
    assert out.new_tokens == 5 and len(out.tokens) == len(out.token_probs) == 5 and len(out.token_ms) == 4
    assert out.prefill_ms > 0 and out.decode_tokens_per_s > 0 and out.total_ms >= out.prefill_ms
    assert all(0 < p <= 1 for p in out.token_probs)
    ids = tok("this blender is great", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        first = int(model(input_ids=ids).logits[0, -1].argmax())
    assert out.tokens[0] == tok.decode([first])  # greedy: the most likely token
    again = lm_generate.continue_text(model, tok, "this blender is great", 5, stop_at_eos=False)
    assert again.tokens == out.tokens
    assert 0.0 <= out.repetition <= 1.0


def test_repeated_ngram_share_counts_the_n_grams_seen_before():
    share = lm_generate.repeated_ngram_share
    # 1 2 3 4 1 2 3 4: five 4-grams, (1 2 3 4) twice: 1 - 4/5
    assert share([1, 2, 3, 4, 1, 2, 3, 4]) == pytest.approx(0.2)
    assert share([1, 2, 3, 4, 5, 6, 7, 8]) == 0.0
    # a two-token loop of 32 tokens: 29 4-grams, 2 distinct
    assert share([7, 9] * 16) == pytest.approx(1 - 2 / 29)
    assert share([5, 5, 5]) == 0.0  # fewer than two 4-grams
    assert share([1, 2, 1, 2, 1], n=2) == pytest.approx(1 - 2 / 4)


def test_one_token_has_no_decode_speed_and_an_empty_prompt_is_refused(teacher_dir):
    model = lm_teacher.load_causal_lm(str(teacher_dir))
    tok = lm_teacher.load_tokenizer(str(teacher_dir))
    assert math.isnan(lm_generate.continue_text(model, tok, "great", 1).decode_tokens_per_s)
    with pytest.raises(DistillLabError) as err:
        lm_generate.continue_text(model, tok, "   ", 4)
    assert err.value.field == "prompt"


def test_run_variants_load_with_int8_made_on_the_fly(teacher_dir, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(DistillLabError, match="results.json does not exist"):
        variants.variant_refs(run)
    run_experiment(tiny_lm_config(teacher_dir, control=False), run)
    refs = variants.variant_refs(run)
    assert list(refs) == ["teacher", "teacher-int8", "student", "student-int8"]
    model, tok = lm_generate.load_run_variant(run, "student-int8")
    assert any("quantized" in type(m).__module__ for m in model.modules())
    assert lm_generate.continue_text(model, tok, "this is", 3, stop_at_eos=False).new_tokens == 3
    with pytest.raises(DistillLabError, match="has no 'control'") as err:
        lm_generate.load_run_variant(run, "control")
    assert err.value.field == "variant"
