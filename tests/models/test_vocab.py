"""Vocabulary trimming: the same tokens and logits on the kept texts, characters for unseen words, the record's
counts, a save/load round trip, and a clear refusal for tokenizers other than WordPiece."""

import pytest
import torch
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, BertConfig, BertForMaskedLM,
                          BertForSequenceClassification, BertTokenizerFast, PreTrainedTokenizerFast)

from distill_core.core.errors import DistillLabError
from distill_core.models.vocab import trim_vocabulary

# 30 tokens, [PAD] at 1 so that its id moves. Single characters: . a c d g o t and ##a ##c ##d ##g ##o ##t ##s (14).
VOCAB = ["[unused0]", "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "a", "c", "d", "g", "o", "t",
         "##a", "##c", "##d", "##g", "##o", "##t", "##s", "the", "cat", "dog", "sat", "on", "mat",
         "##at", "goat", "fish", "ran"]
# Seen: the cat sat . dog ##s on mat (8). Kept: 8 + 14 characters + 5 special - 2 counted twice (. ##s) = 25.
TEXTS = ["the cat sat.", "the dogs sat on the mat."]
DROPPED = ["[unused0]", "##at", "goat", "fish", "ran"]
HIDDEN = 16


@pytest.fixture
def tokenizer(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return BertTokenizerFast.from_pretrained(str(tmp_path))


def tiny_bert(cls=BertForSequenceClassification, **changes):
    torch.manual_seed(0)
    settings = dict(vocab_size=len(VOCAB), hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=32, max_position_embeddings=64, pad_token_id=1, num_labels=2)
    config = BertConfig(**(settings | changes))
    return cls(config).eval()


def tokens(tok, texts):
    return [tok.convert_ids_to_tokens(ids) for ids in tok(texts)["input_ids"]]


@torch.no_grad()
def logits_of(model, tok, texts):
    enc = tok(texts, padding=True, return_tensors="pt")
    return model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits


def test_kept_texts_give_the_same_tokens_and_the_same_logits(tokenizer):
    model = tiny_bert()
    before_tokens, before_logits = tokens(tokenizer, TEXTS), logits_of(model, tokenizer, TEXTS)
    model, trimmed, _ = trim_vocabulary(model, tokenizer, TEXTS)
    assert tokens(trimmed, TEXTS) == before_tokens
    assert torch.equal(logits_of(model, trimmed, TEXTS), before_logits)  # the kept rows are the same weights


def test_kept_ids_stay_in_their_original_order_and_special_ids_are_renumbered(tokenizer):
    model, trimmed, _ = trim_vocabulary(tiny_bert(), tokenizer, TEXTS)
    order = sorted(trimmed.get_vocab(), key=trimmed.get_vocab().get)
    assert order == [t for t in VOCAB if t not in DROPPED]
    assert (trimmed.pad_token_id, trimmed.unk_token_id, trimmed.cls_token_id, trimmed.sep_token_id) == (0, 1, 2, 3)
    ids = trimmed("the cat")["input_ids"]
    assert ids[0] == trimmed.cls_token_id and ids[-1] == trimmed.sep_token_id  # the post-processor's ids moved too
    assert model.config.vocab_size == 25 and model.config.pad_token_id == 0
    assert model.get_input_embeddings().padding_idx == 0


def test_an_unseen_word_falls_apart_into_characters_not_unk(tokenizer):
    _, trimmed, _ = trim_vocabulary(tiny_bert(), tokenizer, TEXTS)
    assert tokens(tokenizer, ["goat"])[0][1:-1] == ["goat"]
    assert tokens(trimmed, ["goat"])[0][1:-1] == ["g", "##o", "##a", "##t"]
    assert tokens(trimmed, ["fish"])[0][1:-1] == ["[UNK]"]  # f is not in the vocabulary at all


def test_the_record_counts_tokens_bytes_and_the_samples_unknown_tokens(tokenizer):
    _, _, record = trim_vocabulary(tiny_bert(), tokenizer, TEXTS, sample=["the goat ran"])
    assert (record.tokens_before, record.tokens_after, record.tokens_seen, record.tokens_single_char,
            record.texts) == (30, 25, 8, 14, 2)
    assert (record.embedding_bytes_before, record.embedding_bytes_after) == (30 * HIDDEN * 4, 25 * HIDDEN * 4)
    # Before: the goat ran (3 tokens, none unknown); after: the g ##o ##a ##t [UNK] (6 tokens, 1 unknown).
    assert (record.sample_texts, record.sample_tokens_before, record.sample_tokens_after) == (1, 3, 6)
    assert record.sample_unknown_rate_before == 0 and record.sample_unknown_rate == pytest.approx(1 / 6)
    assert "25 of 30 tokens" in record.summary()


def test_the_saved_model_and_tokenizer_load_back_and_predict_the_same(tokenizer, tmp_path):
    model, trimmed, _ = trim_vocabulary(tiny_bert(), tokenizer, TEXTS)
    model.save_pretrained(tmp_path / "student", safe_serialization=True)
    trimmed.save_pretrained(tmp_path / "student")
    loaded_tok = AutoTokenizer.from_pretrained(tmp_path / "student")
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "student").eval()
    assert loaded.config.vocab_size == 25 and len(loaded_tok) == 25
    assert loaded_tok(TEXTS)["input_ids"] == trimmed(TEXTS)["input_ids"]
    assert torch.equal(logits_of(loaded, loaded_tok, TEXTS), logits_of(model, trimmed, TEXTS))


def test_a_tied_output_embedding_keeps_the_same_rows_and_stays_tied(tokenizer):
    model = tiny_bert(BertForMaskedLM)
    kept = [i for i, t in enumerate(VOCAB) if t not in DROPPED]
    before = logits_of(model, tokenizer, TEXTS)[..., kept]
    model, trimmed, record = trim_vocabulary(model, tokenizer, TEXTS)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert record.embedding_bytes_after == 25 * HIDDEN * 4  # tied: counted once
    assert torch.allclose(logits_of(model, trimmed, TEXTS), before)


def test_a_bpe_tokenizer_is_refused_naming_the_field_and_what_is_supported():
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"<unk>": 0, "a": 1, "b": 2, "ab": 3}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[("a", "b")], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    gpt2_like = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")
    model = tiny_bert(vocab_size=4, pad_token_id=0)
    with pytest.raises(DistillLabError) as info:
        trim_vocabulary(model, gpt2_like, ["ab ab"])
    assert info.value.field == "student.trim_vocab"
    assert "WordPiece" in info.value.message and "BPE tokenizer" in info.value.message
    assert model.config.vocab_size == 4  # nothing changed


def test_a_slow_tokenizer_is_refused():
    class SlowTokenizer:
        pass

    with pytest.raises(DistillLabError, match="slow tokenizer") as info:
        trim_vocabulary(tiny_bert(), SlowTokenizer(), TEXTS)
    assert info.value.field == "student.trim_vocab"


def test_ids_that_would_name_other_tokens_are_caught_before_anything_changes(tokenizer, monkeypatch):
    from distill_core.models import vocab

    monkeypatch.setattr(vocab, "_renumber_post_processor", lambda processor, new_id: processor)  # [CLS] keeps id 3
    model = tiny_bert()
    with pytest.raises(DistillLabError, match="cannot be trimmed") as info:
        trim_vocabulary(model, tokenizer, TEXTS)
    assert info.value.field == "student.trim_vocab" and model.config.vocab_size == len(VOCAB)
