"""Students: which layers are kept, that their weights are copied exactly, shrunk models, and costs."""

import pytest
import torch

from distill_core.core.config import StudentConfig
from distill_core.core.errors import DistillLabError
from distill_core.models import loading as models
from distill_core.models.students import (
    evenly_spaced_layers,
    keep_layers,
    kept_layers,
    model_cost,
    shrink,
    weight_bytes,
)

LABELS = ["great", "other"]


@pytest.fixture(scope="module")
def teacher(tiny_teacher_dir):
    return models.load_classifier(str(tiny_teacher_dir), LABELS)


@pytest.mark.parametrize("n_teacher, n_student, expected", [
    (6, 2, [2, 5]),
    (12, 6, [1, 3, 5, 7, 9, 11]),
    (6, 1, [5]),
    (4, 4, [0, 1, 2, 3]),
    (6, 3, [1, 3, 5]),
])
def test_evenly_spaced_layers_end_at_the_top_layer(n_teacher, n_student, expected):
    assert evenly_spaced_layers(n_teacher, n_student) == expected


@pytest.mark.parametrize("n_student", [0, 7])
def test_evenly_spaced_layers_rejects_impossible_depth(n_student):
    with pytest.raises(DistillLabError) as info:
        evenly_spaced_layers(6, n_student)
    assert info.value.field == "student.num_layers"


def test_kept_layers_defaults_to_evenly_spaced_and_sorts_explicit_ones():
    assert kept_layers(StudentConfig(num_layers=2), 4) == [1, 3]
    assert kept_layers(StudentConfig(layers=[3, 0]), 4) == [0, 3]


@pytest.mark.parametrize("layers", [[0, 4], [-1], [], [1, 1], [0, 2, 2]])
def test_bad_layer_indices_are_rejected_naming_student_layers(layers):
    with pytest.raises(DistillLabError) as info:
        kept_layers(StudentConfig(layers=layers), 4)
    assert info.value.field == "student.layers"
    assert str(info.value).startswith("student.layers:")


def _params(module) -> dict:
    return dict(module.named_parameters())


def test_kept_layers_carry_exactly_the_teachers_weights(teacher):
    layers = [0, 3]
    student = keep_layers(teacher, layers)
    s_blocks, t_blocks = models.encoder_layers(student), models.encoder_layers(teacher)
    assert len(s_blocks) == 2
    for i, t_index in enumerate(layers):
        s_params, t_params = _params(s_blocks[i]), _params(t_blocks[t_index])
        assert s_params.keys() == t_params.keys()
        for name in t_params:
            assert torch.equal(s_params[name], t_params[name]), f"block {i} ({t_index}) {name}"
    # Kept block 1 is the teacher's block 3, not block 1.
    assert not torch.equal(_params(s_blocks[1])["attention.self.query.weight"],
                           _params(t_blocks[1])["attention.self.query.weight"])


def test_kept_layers_student_has_the_teachers_embeddings_and_head(teacher):
    student = keep_layers(teacher, [1, 2])
    t_state, s_state = teacher.state_dict(), student.state_dict()
    outside_blocks = [k for k in t_state if ".encoder.layer." not in k]
    assert any(k.startswith("classifier.") for k in outside_blocks)
    assert any("embeddings" in k for k in outside_blocks)
    for key in outside_blocks:
        assert torch.equal(s_state[key], t_state[key]), key


def test_keep_layers_copies_and_leaves_the_teacher_untouched(teacher):
    student = keep_layers(teacher, [2])
    assert student.config.num_hidden_layers == 1
    assert teacher.config.num_hidden_layers == 4 and len(models.encoder_layers(teacher)) == 4
    with torch.no_grad():
        models.encoder_layers(student)[0].output.dense.weight.add_(1.0)
    assert not torch.equal(models.encoder_layers(student)[0].output.dense.weight,
                           models.encoder_layers(teacher)[2].output.dense.weight)


def test_kept_layers_student_runs_and_round_trips_through_save_pretrained(teacher, tmp_path):
    from transformers import AutoModelForSequenceClassification

    student = keep_layers(teacher, [0, 3]).eval()
    ids = torch.tensor([[101, 2307, 2154, 102]])
    with torch.no_grad():
        logits = student(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    assert logits.shape == (1, 2)
    student.save_pretrained(tmp_path, safe_serialization=True)
    again = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert again.config.num_hidden_layers == 2
    with torch.no_grad():
        assert torch.allclose(again(input_ids=ids, attention_mask=torch.ones_like(ids)).logits, logits)


def test_shrink_makes_the_requested_depth_and_width(teacher):
    cfg = StudentConfig(kind="shrink", num_layers=2, hidden_size=16, num_heads=2)
    student = shrink(teacher.config, cfg, LABELS)
    assert student.config.num_hidden_layers == 2 and len(models.encoder_layers(student)) == 2
    assert student.config.hidden_size == 16
    assert student.config.num_attention_heads == 2
    assert student.config.intermediate_size == 64
    assert student.config.num_labels == 2 and student.config.id2label == {0: "great", 1: "other"}
    assert student.get_input_embeddings().weight.shape == (teacher.config.vocab_size, 16)
    assert teacher.config.num_hidden_layers == 4 and teacher.config.hidden_size == 32  # not mutated


def test_shrink_gives_fresh_weights_not_the_teachers(teacher):
    torch.manual_seed(1234)
    student = shrink(teacher.config, StudentConfig(kind="shrink", num_layers=2), LABELS)
    assert student.config.hidden_size == teacher.config.hidden_size
    s_block, t_block = models.encoder_layers(student)[0], models.encoder_layers(teacher)[0]
    assert not torch.equal(s_block.attention.self.query.weight, t_block.attention.self.query.weight)
    assert not torch.equal(student.get_input_embeddings().weight, teacher.get_input_embeddings().weight)


def test_shrink_rejects_width_not_divisible_by_heads(teacher):
    with pytest.raises(DistillLabError) as info:
        shrink(teacher.config, StudentConfig(kind="shrink", num_layers=1, hidden_size=30, num_heads=4), LABELS)
    assert info.value.field == "student.hidden_size"


def test_model_cost_counts_parameters_bytes_and_flops(teacher):
    student = keep_layers(teacher, [1, 3])
    t_cost, s_cost = model_cost(teacher, 16), model_cost(student, 16)
    assert t_cost.parameters == sum(p.numel() for p in teacher.parameters())
    assert s_cost.parameters == sum(p.numel() for p in student.parameters())
    assert s_cost.parameters < t_cost.parameters
    assert s_cost.weight_bytes >= 4 * s_cost.parameters  # float32
    assert 0 < s_cost.flops_per_input < t_cost.flops_per_input
    assert (s_cost.layers, t_cost.layers) == (2, 4)
    assert s_cost.hidden_size == 32 and s_cost.seq_len == 16
    assert model_cost(teacher, 32).flops_per_input > t_cost.flops_per_input


def test_weight_bytes_counts_tied_weights_once():
    model = torch.nn.Sequential(torch.nn.Linear(8, 8, bias=False), torch.nn.Linear(8, 8, bias=False))
    assert weight_bytes(model) == 2 * 64 * 4
    model[1].weight = model[0].weight
    assert weight_bytes(model) == 64 * 4
