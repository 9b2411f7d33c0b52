"""Causal-LM text: packing into blocks, held-out splits by whole text, sources."""

import pytest

from distill_core.core.config import DataConfig
from distill_core.core.errors import DistillLabError
from distill_core.tasks.causal_lm import data as lm_data
from distill_core.tasks.causal_lm.config import LMConfig


class _WordTokenizer:
    """One token per word, ids from a growing table; EOS is 0."""

    eos_token_id = 0

    def __init__(self):
        self.ids = {}

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [[self.ids.setdefault(w, len(self.ids) + 1) for w in t.split()] for t in texts]}


def test_pack_joins_with_eos_and_drops_the_remainder():
    blocks = lm_data.pack([[1, 2, 3], [4, 5], [6, 7]], 3, eos_id=9)
    assert blocks.tolist() == [[1, 2, 3], [9, 4, 5], [9, 6, 7]]  # the last EOS is the dropped remainder
    assert lm_data.pack([[1, 2]], 4, eos_id=None).shape == (0, 4)


def _texts_file(tmp_path, n=120, words=6):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(" ".join(f"t{i}w{j}" for j in range(words)) for i in range(n)) + "\n")
    return str(path)


def test_held_out_blocks_come_from_texts_never_trained_on(tmp_path):
    tok = _WordTokenizer()
    data = lm_data.load_lm_data(DataConfig(source=_texts_file(tmp_path)), LMConfig(eval_blocks=3, validation_blocks=2),
                                8, tok, seed=0)
    assert data.test.shape == (3, 8) and data.validation.shape == (2, 8) and data.train.shape[1] == 8
    word_text = {i: w.split("w")[0] for w, i in tok.ids.items()}
    texts = {name: {word_text[int(i)] for i in part.flatten() if int(i)} for name, part in
             (("train", data.train), ("validation", data.validation), ("test", data.test))}
    assert not texts["train"] & texts["test"] and not texts["train"] & texts["validation"]
    assert not texts["validation"] & texts["test"]
    assert sum(data.texts.values()) == 120


def test_splits_are_deterministic_for_a_seed_and_train_blocks_caps(tmp_path):
    source = DataConfig(source=_texts_file(tmp_path))
    a = lm_data.load_lm_data(source, LMConfig(eval_blocks=2, validation_blocks=2), 8, _WordTokenizer(), seed=3)
    b = lm_data.load_lm_data(source, LMConfig(eval_blocks=2, validation_blocks=2), 8, _WordTokenizer(), seed=3)
    assert a.fingerprint() == b.fingerprint()
    capped = lm_data.load_lm_data(source, LMConfig(eval_blocks=2, validation_blocks=2, train_blocks=5), 8,
                                  _WordTokenizer(), seed=3)
    assert len(capped.train) == 5


def test_too_little_text_says_how_many_blocks_it_gives(tmp_path):
    with pytest.raises(DistillLabError, match="each needs at least one") as err:
        lm_data.load_lm_data(DataConfig(source=_texts_file(tmp_path, n=4)), LMConfig(eval_blocks=2), 8,
                             _WordTokenizer(), seed=0)
    assert err.value.field == "data.source"


def test_unknown_source_and_augment_transfer_are_refused(tmp_path):
    with pytest.raises(DistillLabError, match="neither a built-in") as err:
        lm_data.load_texts(str(tmp_path / "missing.txt"))
    assert err.value.field == "data.source"
    with pytest.raises(DistillLabError, match="for classification") as err:
        lm_data.load_lm_data(DataConfig(source=_texts_file(tmp_path), transfer="augment"),
                             LMConfig(eval_blocks=1, validation_blocks=1), 8, _WordTokenizer(), seed=0)
    assert err.value.field == "data.transfer"


def test_jsonl_text_column_and_builtin_reviews(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"body": "first text"}\n{"body": "second text"}\n')
    assert lm_data.load_texts(str(path), "body") == ["first text", "second text"]
    reviews = lm_data.load_texts("reviews")
    assert len(reviews) == 5000 and all(isinstance(t, str) for t in reviews[:5])
