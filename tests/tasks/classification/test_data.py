"""Data: deterministic splits that keep the test split apart, file loading with clear errors, transfer text, batches."""

import json
import random
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distill_core.core.config import DataConfig
from distill_core.core.errors import DistillLabError
from distill_core.models import loading as models
from distill_core.tasks.classification.data import (
    augment_text,
    bucketed_batches,
    encode,
    load_splits,
    load_transfer,
    pad_batch,
    read_labeled_file,
    read_text_file,
    sorted_batches,
)

ROWS = [{"review": f"review number {i} {'love it' if i % 3 else 'broke fast'}", "sentiment": "pos" if i % 3 else "neg",
         "stars": str(i % 5)} for i in range(30)]


@pytest.fixture(scope="module")
def reviews():
    return load_splits(DataConfig(source="reviews"), seed=0)


def _write_csv(path: Path, rows, columns=("review", "sentiment", "stars")) -> Path:
    lines = [",".join(columns)] + [",".join(f'"{r[c]}"' for c in columns) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --- the built-in reviews -----------------------------------------------------------------------------------------

def test_reviews_splits_are_deterministic_by_seed(reviews):
    again = load_splits(DataConfig(source="reviews"), seed=0)
    assert again.train == reviews.train and again.validation == reviews.validation
    assert again.fingerprint() == reviews.fingerprint()
    other = load_splits(DataConfig(source="reviews"), seed=1)
    assert other.train.texts != reviews.train.texts
    assert other.fingerprint() != reviews.fingerprint()


def test_reviews_use_the_packaged_test_split_of_1000(reviews):
    assert len(reviews.test) == 1000
    assert reviews.label_names == ["great", "other"]
    assert load_splits(DataConfig(source="reviews"), seed=5).test == reviews.test  # not reshuffled by seed


def test_reviews_train_and_validation_never_contain_a_test_text(reviews):
    test_texts = set(reviews.test.texts)
    assert not test_texts & set(reviews.train.texts)
    assert not test_texts & set(reviews.validation.texts)


def test_reviews_validation_is_about_a_tenth_of_the_training_split(reviews):
    total = len(reviews.train) + len(reviews.validation)
    assert 3900 <= total <= 4000
    assert len(reviews.validation) == round(total * 0.1)


def test_max_train_examples_caps_train_and_validation():
    splits = load_splits(DataConfig(source="reviews", max_train_examples=64), seed=0)
    assert len(splits.train) == 64 and len(splits.validation) == 32 and len(splits.test) == 1000


# --- CSV / JSONL files ---------------------------------------------------------------------------------------------

def test_csv_loads_with_chosen_columns(tmp_path):
    path = _write_csv(tmp_path / "data.csv", ROWS)
    texts, labels = read_labeled_file(path, "review", "sentiment")
    assert texts == [r["review"] for r in ROWS] and labels == [r["sentiment"] for r in ROWS]
    texts, labels = read_labeled_file(path, "review", "stars")
    assert sorted(set(labels)) == ["0", "1", "2", "3", "4"]


def test_jsonl_loads_with_chosen_columns_and_skips_blank_lines(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS[:10]) + "\n\n" +
                    "\n".join(json.dumps(r) for r in ROWS[10:]) + "\n")
    texts, labels = read_labeled_file(path, "review", "sentiment")
    assert texts == [r["review"] for r in ROWS] and labels == [r["sentiment"] for r in ROWS]


def test_jsonl_numeric_labels_become_names(tmp_path):
    path = _write_jsonl(tmp_path / "data.jsonl", [{"t": "good one", "y": 1}, {"t": "bad one", "y": 0}])
    assert read_labeled_file(path, "t", "y") == (["good one", "bad one"], ["1", "0"])


def test_file_source_splits_are_deterministic_and_disjoint(tmp_path):
    path = _write_jsonl(tmp_path / "data.jsonl", ROWS)
    cfg = DataConfig(source=str(path), text_column="review", label_column="sentiment", test_fraction=0.2)
    a, b = load_splits(cfg, seed=3), load_splits(cfg, seed=3)
    assert a == b
    assert (len(a.train), len(a.validation), len(a.test)) == (22, 2, 6)
    parts = [a.train.texts, a.validation.texts, a.test.texts]
    assert sorted(sum(parts, [])) == sorted(r["review"] for r in ROWS)
    assert a.label_names == ["neg", "pos"]


@pytest.mark.parametrize("text_column, label_column, field", [
    ("body", "sentiment", "data.text_column"),
    ("review", "label", "data.label_column"),
])
def test_missing_column_names_the_field(tmp_path, text_column, label_column, field):
    path = _write_csv(tmp_path / "data.csv", ROWS)
    with pytest.raises(DistillLabError) as info:
        read_labeled_file(path, text_column, label_column)
    assert info.value.field == field
    assert "columns found" in str(info.value) and "review" in str(info.value)


def test_single_class_is_refused(tmp_path):
    path = _write_jsonl(tmp_path / "one.jsonl", [{"text": f"t{i}", "label": "x"} for i in range(5)])
    with pytest.raises(DistillLabError, match="two classes") as info:
        read_labeled_file(path, "text", "label")
    assert info.value.field == "data.label_column"


def test_blank_text_is_refused_with_its_row(tmp_path):
    rows = [{"text": "fine", "label": "a"}, {"text": "   ", "label": "b"}]
    with pytest.raises(DistillLabError, match="row 2 has a blank text") as info:
        read_labeled_file(_write_jsonl(tmp_path / "blank.jsonl", rows), "text", "label")
    assert info.value.field == "data.text_column"


def test_missing_label_is_refused_with_its_row(tmp_path):
    rows = [{"text": "fine", "label": "a"}, {"text": "ok", "label": "b"}, {"text": "meh", "label": ""}]
    with pytest.raises(DistillLabError, match="row 3 has no label") as info:
        read_labeled_file(_write_csv(tmp_path / "nolabel.csv", rows, ("text", "label")), "text", "label")
    assert info.value.field == "data.label_column"


@pytest.mark.parametrize("name, content, message", [
    ("empty.csv", b"", "is empty"),
    ("latin1.csv", "text,label\ncaf\xe9,a\n".encode("latin-1"), "not UTF-8"),
    ("binary.csv", b"PK\x03\x04\x00\x00\x00binary zip", "looks binary"),
    ("broken.jsonl", b'{"text": "ok", "label": "a"}\n{"text": "oops\n', "line 2 is not valid JSON"),
    ("list.jsonl", b'["text", "label"]\n', "line 1 is not a JSON object"),
    ("data.xlsx", b"text,label\na,b\n", "unsupported file type '.xlsx'"),
    ("header-only.csv", b"text,label\n", "has no rows"),
    ("unclosed-quote.csv", b'text,label\n"oops,a\nfine,b\n', "not a readable CSV: .*EOF inside string"),
    ("ragged.csv", b"text,label\ngood,a\nno, quotes here,b\n", "not a readable CSV: .*must be in double quotes"),
    ("wide-first-row.csv", b"text,label\nno, quotes,here,b\n", "not a readable CSV: .*must be in double quotes"),
])
def test_bad_files_are_refused_with_a_clear_message(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DistillLabError, match=message) as info:
        read_labeled_file(path, "text", "label")
    assert info.value.field == "data.source"


@pytest.mark.parametrize("line", [b"1" * 5000, b"[" * 100000])
def test_jsonl_line_python_cannot_parse_is_refused(tmp_path, line):
    path = tmp_path / "deep.jsonl"
    path.write_bytes(b'{"text": "ok", "label": "a"}\n' + line + b"\n")
    with pytest.raises(DistillLabError, match="line 2 is not valid JSON"):
        read_labeled_file(path, "text", "label")


def test_missing_file_is_refused_naming_the_source(tmp_path):
    with pytest.raises(DistillLabError, match="does not exist") as info:
        load_splits(DataConfig(source=str(tmp_path / "nope.csv")), seed=0)
    assert info.value.field == "data.source"


def test_file_with_bom_loads(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefftext,label\nnice,a\nbad,b\n".encode("utf-8"))
    assert read_labeled_file(path, "text", "label") == (["nice", "bad"], ["a", "b"])


# --- transfer text -------------------------------------------------------------------------------------------------

def test_augment_text_is_deterministic_for_a_seeded_random():
    text = "this blender is loud but it crushes ice well and the jar is easy to clean after use"
    a = [augment_text(text, random.Random(4)) for _ in range(3)]
    b = [augment_text(text, random.Random(4)) for _ in range(3)]
    assert a == b
    rng = random.Random(4)
    copies = [augment_text(text, rng) for _ in range(20)]
    assert len(set(copies)) > 1, "a shared generator gives different copies"
    words = set(text.split()) | {"[MASK]"}
    assert all(set(c.split()) <= words and c for c in copies)


def test_augment_never_returns_an_empty_text():
    assert all(augment_text("hi", random.Random(seed)) for seed in range(200))


def test_augment_transfer_is_copies_of_train_text_capped_by_limit():
    train = [f"text number {i} is here" for i in range(10)]
    cfg = DataConfig(transfer="augment", transfer_copies=2)
    texts = load_transfer(cfg, train, seed=0)
    assert len(texts) == 20 and texts == load_transfer(cfg, train, seed=0)
    assert len(load_transfer(DataConfig(transfer="augment", transfer_copies=2, transfer_limit=5), train, 0)) == 5
    assert load_transfer(DataConfig(transfer=None), train, 0) == []


def test_transfer_from_a_text_file(tmp_path):
    path = tmp_path / "extra.txt"
    path.write_text("first line\n\n  second line  \n")
    assert read_text_file(path) == ["first line", "second line"]
    assert load_transfer(DataConfig(transfer=str(path)), [], 0) == ["first line", "second line"]


# --- encoding and batches ------------------------------------------------------------------------------------------

def test_encode_truncates_to_max_length_without_padding(tiny_teacher_dir):
    tokenizer = models.load_tokenizer(str(tiny_teacher_dir))
    ids = encode(tokenizer, ["short", "a much longer text " * 20], max_length=16)
    assert len(ids[0]) < 16 and len(ids[1]) == 16
    assert encode(tokenizer, [], 16) == []


@pytest.mark.parametrize("n, batch_size", [(1, 4), (10, 4), (257, 8), (1000, 3)])
def test_bucketed_batches_cover_every_index_exactly_once(n, batch_size):
    lengths = np.random.default_rng(n).integers(1, 100, size=n).tolist()
    batches = bucketed_batches(lengths, batch_size, np.random.default_rng(0))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(n))
    assert all(1 <= len(b) <= batch_size for b in batches)


def test_bucketed_batches_group_similar_lengths_and_depend_on_the_seed():
    lengths = np.random.default_rng(0).integers(1, 200, size=400).tolist()
    batches = bucketed_batches(lengths, 8, np.random.default_rng(0))
    spread = np.mean([np.ptp([lengths[i] for i in b]) for b in batches])
    assert spread < 20  # random batches of 8 would spread over ~150 tokens
    same = bucketed_batches(lengths, 8, np.random.default_rng(0))
    other = bucketed_batches(lengths, 8, np.random.default_rng(1))
    assert all(np.array_equal(a, b) for a, b in zip(batches, same))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other))


def test_sorted_batches_cover_every_index_in_length_order():
    lengths = [5, 1, 3, 3, 9, 2, 7]
    batches = sorted_batches(lengths, 3)
    flat = np.concatenate(batches).tolist()
    assert sorted(flat) == list(range(7))
    assert [lengths[i] for i in flat] == sorted(lengths)


def test_pad_batch_pads_to_the_longest_and_masks_padding():
    input_ids, mask = pad_batch([[5, 6, 7], [8], [9, 10]], pad_id=0)
    assert input_ids.shape == mask.shape == (3, 3)
    assert input_ids.dtype == mask.dtype == torch.long
    assert input_ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]


# --- property: any bytes either load or give a DistillLabError ----------------------------------------------------

_csv_like = st.lists(st.sampled_from([b"text", b"label", b",", b"\n", b"\r", b'"', b"a", b"b", b" ", b"\t",
                                      b"\xe9", b"\x00", b"{", b"}", b":", b"[", b"1" * 5, b"\xef\xbb\xbf"]),
                     max_size=40).map(b"".join)
_jsonl_like = st.lists(st.sampled_from([b'{"text": "nice", "label": "a"}', b'{"text": "bad", "label": 1}',
                                        b'{"text": null, "label": "b"}', b'{"text": ["x"], "label": {"y": 2}}',
                                        b"\n", b"[", b"]", b"{", b"}", b"\n" + b"1" * 5000 + b"\n", b"NaN", b'"',
                                        b"\xff", b"\xe2\x80\xa8", b"\n" + b"[" * 3000 + b"\n"]), max_size=12).map(b"".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=st.binary(max_size=200) | _csv_like | _jsonl_like, suffix=st.sampled_from([".csv", ".jsonl", ".tsv"]))
def test_any_bytes_either_load_or_raise_distill_lab_error(content, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(content)
        try:
            texts, labels = read_labeled_file(path, "text", "label")
        except DistillLabError:
            return
        assert len(texts) == len(labels) and len(set(labels)) >= 2
        assert all(isinstance(t, str) and t.strip() for t in texts)


def test_file_rows_repeating_a_test_text_are_dropped_from_training(tmp_path):
    rows = [{"text": f"text {i % 30}", "label": "ab"[i % 30 % 2]} for i in range(60)]  # every text twice
    splits = load_splits(DataConfig(source=str(_write_jsonl(tmp_path / "dup.jsonl", rows)), test_fraction=0.2),
                         seed=0)
    test_texts = set(splits.test.texts)
    assert test_texts and not test_texts & set(splits.train.texts + splits.validation.texts)


def test_preview_lists_columns_and_first_rows(tmp_path):
    from distill_core.tasks.classification.data import preview_file

    path = tmp_path / "d.csv"
    path.write_text("review,stars\n" + "".join(f"text {i},{i % 5}\n" for i in range(20)))
    columns, rows = preview_file(path, n=3)
    assert columns == ["review", "stars"] and len(rows) == 3 and rows[0]["review"] == "text 0"


def test_uploads_are_kept_under_the_data_folder_by_content(isolated_home):
    from distill_core.tasks.classification.data import save_upload

    first = save_upload("mine.jsonl", b'{"text": "a", "label": "x"}\n')
    again = save_upload("renamed.jsonl", b'{"text": "a", "label": "x"}\n')
    assert first == again and first.parent == isolated_home / "uploads" and first.suffix == ".jsonl"


def test_uploads_of_other_types_or_too_large_are_refused(isolated_home, monkeypatch):
    from distill_core.tasks.classification import data

    with pytest.raises(DistillLabError) as err:
        data.save_upload("model.bin", b"\x00")
    assert err.value.field == "data.source" and ".csv" in str(err.value)
    from distill_core.core import textfiles

    monkeypatch.setattr(textfiles, "MAX_UPLOAD_BYTES", 10)
    with pytest.raises(DistillLabError, match="limit"):
        data.save_upload("big.csv", b"x" * 11)
