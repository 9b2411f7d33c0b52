"""Students: which layers are kept, that their weights are copied exactly, shrunk models (fresh or selected from
the teacher), and costs."""

import pytest
import torch

from distill_core.core.config import StudentConfig, from_dict
from distill_core.core.errors import ConfigError, DistillLabError
from distill_core.models import loading as models
from distill_core.models.students import (
    evenly_spaced_layers,
    keep_layers,
    kept_layers,
    model_cost,
    shrink,
    shrink_config,
    shrink_description,
    shrink_from,
    weight_bytes,
)
from distill_core.models.weight_selection import select_weights

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
    assert student.config.intermediate_size == 32  # the teacher's ratio: 64 / 32 x 16
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


# Shrunk students that start from the teacher: tiny models built here, seeded, so each test is self-contained.


def _bert(hidden=32, layers=4, heads=4, intermediate=64, labels=LABELS):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=120, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=intermediate, max_position_embeddings=32, num_labels=len(labels),
                        id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():  # LayerNorm weights start at 1: spread them so that the selection has something to see
        for name, param in model.named_parameters():
            if "LayerNorm.weight" in name:
                param.uniform_(0.5, 1.5)
    return model


def _llama(hidden=32, layers=4, heads=4, kv_heads=2, intermediate=64):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=120, hidden_size=hidden, intermediate_size=intermediate,
                                        num_hidden_layers=layers, num_attention_heads=heads,
                                        num_key_value_heads=kv_heads, max_position_embeddings=64,
                                        tie_word_embeddings=True)).eval()


def _llama_shrink(teacher, cfg: StudentConfig):
    from transformers import LlamaForCausalLM

    student = LlamaForCausalLM(shrink_config(teacher.config, cfg)).eval()
    return select_weights(student, teacher, evenly_spaced_layers(teacher.config.num_hidden_layers, cfg.num_layers))


IDS = torch.randint(0, 120, (3, 9), generator=torch.Generator().manual_seed(0))


def test_shrink_keeps_the_teachers_head_size_and_feed_forward_ratio():
    config = shrink_config(_bert(hidden=64, heads=8, intermediate=256).config,
                           StudentConfig(kind="shrink", hidden_size=32))
    assert (config.hidden_size, config.num_attention_heads, config.intermediate_size) == (32, 4, 128)
    # A width that is no multiple of the head size keeps the teacher's head count, as before.
    assert shrink_config(_bert(hidden=64, heads=4).config,  # heads of 16 dims
                         StudentConfig(kind="shrink", hidden_size=40)).num_attention_heads == 4


def test_selection_at_full_width_and_depth_is_the_identity():
    teacher = _bert()
    student = shrink_from(teacher, StudentConfig(kind="shrink", num_layers=4), LABELS).eval()
    with torch.no_grad():
        assert torch.allclose(student(input_ids=IDS).logits, teacher(input_ids=IDS).logits, atol=1e-5)
    llama = _llama()
    with torch.no_grad():
        assert torch.allclose(_llama_shrink(llama, StudentConfig(kind="shrink", num_layers=4))(input_ids=IDS).logits,
                              llama(input_ids=IDS).logits, atol=1e-5)


def test_narrower_student_holds_the_teachers_values_at_the_selected_indices():
    teacher = _bert()
    cfg = StudentConfig(kind="shrink", num_layers=2, hidden_size=16)
    student = shrink_from(teacher, cfg, LABELS).eval()
    assert (student.config.num_attention_heads, student.config.intermediate_size) == (2, 32)
    t, s = teacher.bert, student.bert
    # By hand: residual dims by embedding std x |LayerNorm weight|, heads by their block of the attention output.
    importance = t.embeddings.word_embeddings.weight.std(dim=0) * t.embeddings.LayerNorm.weight.abs()
    dims = torch.topk(importance, 16).indices.sort().values
    assert torch.equal(s.embeddings.LayerNorm.weight, t.embeddings.LayerNorm.weight[dims])
    assert torch.equal(s.embeddings.word_embeddings.weight, t.embeddings.word_embeddings.weight[:, dims])
    t_layer, s_layer = t.encoder.layer[3], s.encoder.layer[1]  # student layer 1 starts as teacher layer 3 of 0..3
    head_norms = t_layer.attention.output.dense.weight.reshape(32, 4, 8).norm(dim=(0, 2))
    heads = torch.topk(head_norms, 2).indices.sort().values.tolist()
    rows = torch.tensor([h * 8 + d for h in heads for d in range(8)])
    assert torch.equal(s_layer.attention.self.query.weight, t_layer.attention.self.query.weight[rows][:, dims])
    assert torch.equal(s_layer.attention.output.dense.weight,
                       t_layer.attention.output.dense.weight[dims][:, rows])
    assert torch.equal(s_layer.output.LayerNorm.weight, t_layer.output.LayerNorm.weight[dims])
    with torch.no_grad():
        assert student(input_ids=IDS).logits.shape == (3, 2)
    fresh = shrink(teacher.config, cfg, LABELS)
    assert sum(p.numel() for p in student.parameters()) == sum(p.numel() for p in fresh.parameters())


def test_classifier_rows_follow_the_students_label_order():
    teacher = _bert()
    student = shrink_from(teacher, StudentConfig(kind="shrink", num_layers=4), ["other", "great"]).eval()
    assert student.config.id2label == {0: "other", 1: "great"}
    with torch.no_grad():
        assert torch.allclose(student(input_ids=IDS).logits, teacher(input_ids=IDS).logits.flip(-1), atol=1e-5)


def test_grouped_query_student_keeps_each_query_head_with_its_teachers_key_value_head():
    teacher = _llama(hidden=64, heads=8, kv_heads=2, intermediate=128)  # 4 query heads per KV head
    student = _llama_shrink(teacher, StudentConfig(kind="shrink", num_layers=2, hidden_size=32))
    c = student.config
    assert (c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.intermediate_size) == (4, 2, 8, 64)
    assert student.lm_head.weight is student.model.embed_tokens.weight  # still tied
    t_attn, s_attn = teacher.model.layers[3].self_attn, student.model.layers[1].self_attn
    residual = [int(torch.nonzero((teacher.model.embed_tokens.weight == student.model.embed_tokens.weight[:, [i]])
                                  .all(dim=0))[0]) for i in range(32)]
    for j in range(4):  # student head j -> a teacher head; its KV head must be that teacher head's group
        s_q = s_attn.q_proj.weight[j * 8:(j + 1) * 8]
        t_head = next(h for h in range(8) if torch.equal(t_attn.q_proj.weight[h * 8:(h + 1) * 8][:, residual], s_q))
        group = t_head // 4
        s_k = s_attn.k_proj.weight[(j // 2) * 8:(j // 2 + 1) * 8]
        assert torch.equal(s_k, t_attn.k_proj.weight[group * 8:(group + 1) * 8][:, residual])
    with torch.no_grad():
        assert student(input_ids=IDS).logits.shape == (3, 9, 120)


def test_gpt2_fused_attention_is_selected_head_by_head():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    teacher = GPT2LMHeadModel(GPT2Config(vocab_size=120, n_embd=32, n_layer=2, n_head=4, n_positions=32)).eval()
    same = select_weights(GPT2LMHeadModel(teacher.config).eval(), teacher, [0, 1])
    narrow = select_weights(GPT2LMHeadModel(shrink_config(teacher.config, StudentConfig(
        kind="shrink", num_layers=1, hidden_size=16))).eval(), teacher, [1])
    with torch.no_grad():
        assert torch.allclose(same(input_ids=IDS).logits, teacher(input_ids=IDS).logits, atol=1e-5)
        assert narrow(input_ids=IDS).logits.shape == (3, 9, 120)


@pytest.mark.parametrize("cfg, says", [
    (StudentConfig(kind="shrink", num_layers=2, hidden_size=16, num_heads=4), "heads of 4 dims"),
    (StudentConfig(kind="shrink", num_layers=2, hidden_size=64, num_heads=8), "width 64 is above"),
    (StudentConfig(kind="shrink", num_layers=2, intermediate_size=128), "feed-forward width 128"),
])
def test_unmappable_shapes_are_refused_naming_init_from(cfg, says):
    with pytest.raises(DistillLabError, match=says) as info:
        shrink_from(_bert(), cfg, LABELS)
    assert info.value.field == "student.init_from"
    assert "'random'" in str(info.value)


def test_a_parameter_of_unknown_meaning_is_refused_naming_init_from():
    teacher, student = _bert(), shrink(_bert().config, StudentConfig(kind="shrink", num_layers=4), LABELS)
    student.bert.pooler.extra = torch.nn.Linear(32, 7)  # only the student has it
    teacher.bert.pooler.extra = torch.nn.Linear(32, 5)
    with pytest.raises(DistillLabError, match="bert.pooler.extra.weight") as info:
        select_weights(student, teacher, [0, 1, 2, 3])
    assert info.value.field == "student.init_from"


def test_init_from_random_is_a_shrink_choice():
    assert from_dict({"student": {"kind": "shrink", "init_from": "random"}}).student.init_from == "random"
    with pytest.raises(ConfigError, match="student.init_from"):
        from_dict({"student": {"kind": "keep-layers", "init_from": "random"}})
    with pytest.raises(ConfigError, match="student.init_from"):
        from_dict({"student": {"kind": "shrink", "init_from": "zeros"}})
    assert shrink_description(StudentConfig(kind="shrink", init_from="random"), 192) == \
        "2 layers, width 192, fresh random weights"
    assert shrink_description(StudentConfig(kind="shrink"), 192) == \
        "2 layers, width 192, weights selected from the teacher"


def test_a_shrink_student_from_the_teacher_starts_from_the_layers_it_names(teacher):
    """Teacher layers [0, 3] with the feed-forward narrowed: each student layer's attention is its teacher layer's
    exactly (the width is the teacher's), its feed-forward the teacher's most important neurons of that layer."""
    n_teacher = teacher.config.num_hidden_layers
    ffn = teacher.config.intermediate_size // 2
    cfg = StudentConfig(kind="shrink", layers=[3, 0], num_layers=7, intermediate_size=ffn)  # layers set the depth
    student = shrink_from(teacher, cfg, LABELS)
    assert student.config.num_hidden_layers == 2 and student.config.intermediate_size == ffn
    t_layers, s_layers = teacher.bert.encoder.layer, student.bert.encoder.layer
    for i, source in enumerate([0, 3]):
        assert torch.equal(s_layers[i].attention.self.query.weight, t_layers[source].attention.self.query.weight)
        kept_rows = s_layers[i].intermediate.dense.weight
        teacher_rows = t_layers[source].intermediate.dense.weight
        assert all(any(torch.equal(row, t) for t in teacher_rows) for row in kept_rows)  # rows of that layer
    assert shrink_description(cfg, teacher.config.hidden_size) == (
        f"2 layers, width {teacher.config.hidden_size}, feed-forward {ffn}, weights selected from the teacher's "
        "layers [0, 3]")
    assert n_teacher > 3
    with pytest.raises(DistillLabError) as info:
        shrink_from(teacher, StudentConfig(kind="shrink", layers=[0, n_teacher]), LABELS)
    assert info.value.field == "student.layers"
