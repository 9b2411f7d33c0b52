"""Frozen bottom blocks computed once: the same logits and gradients as running them, for BERT-, GPT-2- and
Llama-like classifiers; the model restored after; the teacher fine-tune uses it and labels the run's texts."""

import copy

import numpy as np
import pytest
import torch

from distill_core.models import loading as models
from distill_core.models.frozen_features import FrozenFeatures, frozen_in_eval


def _bert():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=4,
                                                    num_attention_heads=4, intermediate_size=64, num_labels=3))


def _gpt2():
    from transformers import GPT2Config, GPT2ForSequenceClassification

    torch.manual_seed(0)
    return GPT2ForSequenceClassification(GPT2Config(vocab_size=60, n_embd=32, n_layer=4, n_head=4, n_positions=64,
                                                    num_labels=3, pad_token_id=0))


def _llama():
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(0)
    return LlamaForSequenceClassification(LlamaConfig(vocab_size=60, hidden_size=32, intermediate_size=64,
                                                      num_hidden_layers=4, num_attention_heads=4,
                                                      num_key_value_heads=2, num_labels=3, pad_token_id=0))


IDS = [[5, 9, 13, 2], [7, 7, 30, 41, 12, 8, 3], [11, 4], [21, 22, 23, 24, 25], [5, 9, 13, 2]]  # one repeated


def _logits(model, ids):
    from distill_core.tasks.classification.evaluate import predict_logits

    return predict_logits(model, ids, 0, batch_size=2)


@pytest.mark.parametrize("build", [_bert, _gpt2, _llama], ids=["bert", "gpt2", "llama"])
def test_stored_outputs_give_the_models_own_logits_and_the_model_is_restored(build):
    model = build().eval()
    keys = list(model.state_dict())
    plain = _logits(model, IDS)
    features = FrozenFeatures(model, 2)
    features.compute(IDS, 0, batch_size=2)
    assert len(features.stored) == 4  # the repeated input is stored once
    assert features.stored[(11, 4)].shape == (2, 32)
    assert features.check(IDS[:3], 0) is None
    with features.active():
        assert type(models.encoder_layers(model)[0]).__name__ == "_PassThrough"
        fed = _logits(model, IDS)
        unseen = _logits(model, [[40, 41, 42]])  # not stored: the frozen blocks run for real
    torch.testing.assert_close(fed, plain, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(unseen, _logits(model, [[40, 41, 42]]), atol=1e-5, rtol=1e-4)
    assert list(model.state_dict()) == keys and type(models.encoder_layers(model)[0]).__name__ != "_PassThrough"


def test_the_stored_outputs_are_the_frozen_blocks_outputs_and_cost_what_they_say():
    model = _bert().eval()
    features = FrozenFeatures(model, 2)
    features.compute(IDS[:2], 0)
    with torch.no_grad():
        hidden = model(input_ids=torch.tensor([IDS[1]]), output_hidden_states=True).hidden_states[2][0]
    torch.testing.assert_close(features.stored[tuple(IDS[1])], hidden, atol=1e-5, rtol=1e-4)
    # 4 distinct inputs of 4 + 7 + 2 + 5 tokens, 32 wide, 4 bytes each
    assert FrozenFeatures.bytes_needed(IDS, 32) == (4 + 7 + 2 + 5) * 32 * 4
    with pytest.raises(ValueError):
        FrozenFeatures(model, 4)  # every block frozen: nothing left to train


def test_a_training_step_gets_the_same_gradients_and_frozen_parts_stay_in_eval_mode():
    model = _bert()
    for block in list(models.encoder_layers(model))[:2]:
        block.requires_grad_(False)
    model.bert.embeddings.requires_grad_(False)
    twin = copy.deepcopy(model)
    batch = torch.tensor([[5, 9, 13, 2, 0], [7, 7, 30, 41, 12]])
    mask = (batch != 0).long()
    labels = torch.tensor([1, 2])

    def grads(m):
        m.train()
        m.zero_grad()
        loss = torch.nn.functional.cross_entropy(m(input_ids=batch, attention_mask=mask).logits, labels)
        loss.backward()
        return {n: p.grad.clone() for n, p in m.named_parameters() if p.requires_grad}

    with frozen_in_eval(twin, 2):
        torch.manual_seed(1)
        expected = grads(twin)
        assert not twin.bert.embeddings.dropout.training and twin.bert.encoder.layer[2].output.dropout.training
    features = FrozenFeatures(model, 2)
    features.compute([[5, 9, 13, 2], [7, 7, 30, 41, 12]], 0)
    with features.active():
        torch.manual_seed(1)  # the same dropout masks in the trained blocks
        got = grads(model)
    assert got.keys() == expected.keys() and all(k.startswith(("bert.encoder.layer.2", "bert.encoder.layer.3",
                                                               "bert.pooler", "classifier")) for k in got)
    for name in got:
        torch.testing.assert_close(got[name], expected[name], atol=1e-5, rtol=1e-4)
    model.train()
    assert model.bert.embeddings.dropout.training  # released on exit


def test_check_says_why_when_the_stored_outputs_do_not_stand_in():
    model = _bert().eval()
    features = FrozenFeatures(model, 2)
    features.compute(IDS[:2], 0)
    torch.manual_seed(0)
    stored = features.stored[tuple(IDS[0])]
    features.stored[tuple(IDS[0])] = 3 * stored + torch.randn_like(stored)  # outputs of some other model
    assert "logits differ" in features.check(IDS[:2], 0)


def test_the_teacher_fine_tune_stores_the_frozen_outputs_and_labels_the_runs_texts(tiny_teacher_dir, monkeypatch):
    from distill_core.core.config import TeacherConfig
    from distill_core.tasks.classification import teacher as teacher_mod
    from distill_core.tasks.classification import teacher_cache
    from distill_core.tasks.classification.data import encode, load_splits
    from tests.support.runs import tiny_run_config

    config = tiny_run_config(tiny_teacher_dir, precision="fp32",
                             teacher=TeacherConfig(model=str(tiny_teacher_dir), finetune_epochs=0.5,
                                                   finetune_layers=2))
    splits = load_splits(config.data, config.seed)
    label = (splits.train.texts, splits.validation.texts)
    prepared = teacher_mod.prepare_teacher(config, splits, label=label)
    record = prepared.info["frozen_features"]
    assert record["used"] and record["frozen_blocks"] == 2 and record["bytes"] > 0
    assert prepared.info["labeled"]["texts"] == len(splits.train) + len(splits.validation)
    teacher = models.load_classifier(prepared.model_ref, splits.label_names)
    tok = models.load_tokenizer(prepared.model_ref)
    for texts in label:  # the cache holds what the saved teacher gives, under the keys the run looks up
        key = teacher_cache.fingerprint(prepared.fingerprint, texts, config.max_length, [])
        cached = teacher_cache.load(key, len(texts), [])
        assert cached is not None
        torch.testing.assert_close(cached.logits, _logits(teacher, encode(tok, texts, config.max_length)).float(),
                                   atol=1e-4, rtol=1e-4)

    # Without room for the outputs, the fine-tune runs its frozen blocks (in eval mode) and ends at the same teacher.
    monkeypatch.setattr(teacher_mod, "FEATURE_MEMORY_CAP", 0)
    monkeypatch.setattr(teacher_mod, "cache_dir", lambda kind: tiny_teacher_dir.parent / "other-cache" / kind)
    plain = teacher_mod.prepare_teacher(config, splits)
    assert not plain.info["frozen_features"]["used"] and "MiB is allowed" in plain.info["frozen_features"]["why_not"]
    a = models.load_classifier(prepared.model_ref, splits.label_names).state_dict()
    b = models.load_classifier(plain.model_ref, splits.label_names).state_dict()
    assert all(np.allclose(a[k].numpy(), b[k].numpy(), atol=1e-4) for k in a)
