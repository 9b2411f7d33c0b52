"""Every loader of user input: any input loads or raises the project's own error with a message, never another
exception; uploads and run folders never leave the data folder. (Config dicts and text: tests/core/test_config.py;
read_labeled_file on any bytes: tests/tasks/classification/test_data.py.)"""

import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distill_core.core import config
from distill_core.core.config import DataConfig, RunConfig
from distill_core.core.errors import ConfigError, DistillLabError
from distill_core.runs import store
from distill_core.tasks.causal_lm import data as lm_data
from distill_core.tasks.causal_lm.config import LMConfig
from distill_core.tasks.classification import data

UPLOAD_NAME = re.compile(r"[0-9a-f]{16}\.(csv|tsv|jsonl|ndjson|txt)")


def _loads_or_refuses(load, error=DistillLabError):
    """`load()`, or None when it raises `error` with a non-empty message; any other exception fails the test."""
    try:
        return load()
    except error as exc:
        assert exc.message.strip() and str(exc).strip()
        return None


def _written(folder: str, suffix: str, content: bytes) -> Path:
    path = Path(folder) / f"input{suffix}"
    path.write_bytes(content)
    return path


def _joined(fragments: list[bytes], max_size: int = 30):
    return st.lists(st.sampled_from(fragments), max_size=max_size).map(b"".join)


def _after(starts: list[bytes], fragments: list[bytes]):
    """A well-formed start (so some examples load) followed by a few fragments."""
    return st.tuples(st.sampled_from(starts), _joined(fragments, 6)).map(b"".join)


# --- a config file from any bytes ---------------------------------------------------------------------------------

_DEFAULT_JSON = RunConfig().to_json().encode()
_json_fragments = [b"{", b"}", b"[", b"]", b",", b":", b'"name"', b'"seed"', b'"student"', b'"layers"', b'"x"', b"1",
                   b"-1", b"1e400", b"NaN", b"Infinity", b"null", b"true", b" ", b"\n", b"\xef\xbb\xbf", b"\xff",
                   b"\x00", b'"\\ud800"', b"\xed\xa0\x80", b"1" * 5000, b"[" * 1500]


@st.composite
def _spliced_config(draw):
    """The default config's JSON with a fragment inserted or a span cut out: reaches the checks behind the parser."""
    at = draw(st.integers(0, len(_DEFAULT_JSON)))
    end = draw(st.integers(at, min(len(_DEFAULT_JSON), at + 20)))
    insert = draw(st.sampled_from([b"", b" ", b"\n"]) | st.sampled_from(_json_fragments))
    return _DEFAULT_JSON[:at] + insert + _DEFAULT_JSON[end:]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200) | _joined(_json_fragments) | _spliced_config())
def test_any_config_file_loads_or_raises_config_error(content):
    with tempfile.TemporaryDirectory() as folder:
        loaded = _loads_or_refuses(lambda: config.load(_written(folder, ".json", content)), ConfigError)
    if loaded is not None:
        assert config.from_json(loaded.to_json()) == loaded


def test_config_nested_too_deeply_to_parse_is_a_config_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 100_000)
    with pytest.raises(ConfigError, match="nested too deeply"):
        config.load(path)


@pytest.mark.parametrize("key", ["layers", "model"])
def test_deeply_nested_value_of_the_wrong_type_is_a_config_error(key):
    # Just under the parser's limit the value parses, and quoting it in the message once overflowed the stack.
    for depth in range(900, 1000):
        text = '{"student": {"%s": %s%s}}' % (key, "[" * depth, "]" * depth)
        with pytest.raises(ConfigError):
            config.from_json(text)


def test_config_file_with_a_byte_order_mark_loads(tmp_path):
    path = tmp_path / "run.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"name": "from-notepad"}).encode())
    assert config.load(path).name == "from-notepad"


# --- data files: preview on any bytes, JSON Lines round trip ------------------------------------------------------

_table_fragments = [b"text", b"label", b",", b"\t", b"\n", b"\r\n", b"\r", b'"', b"a b", b"\xe9", b"\xc3\xa9", b"\x00",
                    b"\xef\xbb\xbf", b'{"text": "nice", "label": "a"}', b'{"text": ["x"]}', b"{", b"}", b"[1]",
                    b"\xe2\x80\xa8", b"\x1c", b"\xc2\x85", b"1" * 5000, b"[" * 3000]


_table_starts = [b"text,label\nnice,a\nbad,b\n", b"text\tlabel\nnice\ta\n",
                 b'{"text": "nice", "label": "a"}\n{"text": "bad", "label": "b"}\n']


@settings(max_examples=120, deadline=None)
@given(content=st.binary(max_size=200) | _joined(_table_fragments) | _after(_table_starts, _table_fragments),
       suffix=st.sampled_from([".csv", ".jsonl", ".tsv"]), n=st.integers(0, 8))
def test_preview_of_any_bytes_shows_rows_or_raises_distill_lab_error(content, suffix, n):
    with tempfile.TemporaryDirectory() as folder:
        preview = _loads_or_refuses(lambda: data.preview_file(_written(folder, suffix, content), n))
    if preview is not None:
        columns, rows = preview
        assert columns and len(rows) <= n and all(isinstance(r, dict) for r in rows)


_texts = st.text(min_size=1, max_size=30).filter(str.strip)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(_texts, min_size=1, max_size=6), newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_jsonl_rows_written_by_json_dumps_load_back_unchanged(texts, newline):
    rows = [{"text": t, "label": "ab"[i % 2]} for i, t in enumerate(texts + ["two classes"])]
    content = newline.join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
    with tempfile.TemporaryDirectory() as folder:
        loaded = data.read_labeled_file(_written(folder, ".jsonl", content), "text", "label")
    assert loaded == ([r["text"] for r in rows], [r["label"] for r in rows])


def test_jsonl_text_with_a_line_separator_character_loads(tmp_path):
    path = tmp_path / "u2028.jsonl"
    path.write_text('{"text": "one\u2028two", "label": "a"}\n{"text": "three", "label": "b"}\n', encoding="utf-8")
    assert data.read_labeled_file(path, "text", "label") == (["one\u2028two", "three"], ["a", "b"])


# --- causal-LM text from any bytes --------------------------------------------------------------------------------

class _LengthTokenizer:
    """One token per word, its id the word's length (1..); EOS is 0. Enough to pack blocks without a model."""

    eos_token_id = 0

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [[len(w) for w in t.split()] for t in texts]}


_text_fragments = [b"one two three four five six seven eight\n", b"text\n", b"text,label\n", b'"a b",c\n',
                   b'{"text": "nine ten eleven twelve thirteen fourteen fifteen sixteen"}\n', b'{"text": "x y"}\n',
                   b'{"other": 1}\n', b"[1]\n", b"\n", b"\r", b" ", b"\xff", b"\x00", b"\xef\xbb\xbf", b"\xe2\x80\xa8",
                   b"\xc3\xa9t\xc3\xa9", b"{", b'"']
_lines = [b"one two three four five six seven eight", b"red green blue cyan pink gold grey teal",
          b"alpha beta gamma delta epsilon zeta eta theta"]
_text_starts = [b"\n".join(_lines) + b"\n", b"text\n" + b"\n".join(_lines) + b"\n",
                b"".join(b'{"text": "%s"}\n' % line for line in _lines)]


@settings(max_examples=120, deadline=None)
@given(content=st.binary(max_size=200) | _joined(_text_fragments) | _after(_text_starts, _text_fragments),
       suffix=st.sampled_from([".txt", ".csv", ".jsonl"]))
def test_lm_text_of_any_bytes_packs_blocks_or_raises_distill_lab_error(content, suffix):
    lm = LMConfig(eval_blocks=1, validation_blocks=1)
    with tempfile.TemporaryDirectory() as folder:
        source = DataConfig(source=str(_written(folder, suffix, content)))
        packed = _loads_or_refuses(lambda: lm_data.load_lm_data(source, lm, 4, _LengthTokenizer(), seed=0))
    if packed is not None:
        for blocks in (packed.train, packed.validation, packed.test):
            assert blocks.shape[0] >= 1 and blocks.shape[1] == 4


@pytest.mark.parametrize("content, message", [(b"caf\xe9 au lait\n", "not UTF-8"), (b"a\x00b\n", "looks binary"),
                                              (b"", "is empty")])
def test_lm_text_file_that_is_not_utf8_text_names_the_source(tmp_path, content, message):
    path = tmp_path / "texts.txt"
    path.write_bytes(content)
    with pytest.raises(DistillLabError, match=message) as err:
        lm_data.load_texts(str(path))
    assert err.value.field == "data.source"


def test_transfer_text_file_that_is_not_utf8_names_the_transfer_field(tmp_path):
    path = tmp_path / "extra.txt"
    path.write_bytes(b"caf\xe9\n")
    with pytest.raises(DistillLabError, match="not UTF-8") as err:
        data.load_transfer(DataConfig(transfer=str(path)), [], 0)
    assert err.value.field == "data.transfer"


# --- uploads stay in <data home>/uploads, whatever the file name --------------------------------------------------

_hostile_names = st.sampled_from(["../../escape.csv", "/etc/passwd.csv", "..\\..\\win.tsv", "a\x00.csv", "..csv",
                                  ".csv", "~/x.jsonl", "uploads/../../x.txt", "C:\\x.csv", "x" * 5000 + ".csv",
                                  "na\u00efve \u2028 \U0001f600.JSONL", "dir/", "", ".", ".."])
_path_parts = st.lists(st.sampled_from(["..", ".", "", "/", "a", "\x00", "\u00e9"]) | st.text(max_size=5),
                       max_size=5).map("/".join)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text() | _hostile_names
       | st.tuples(_path_parts, st.sampled_from([".csv", ".tsv", ".jsonl", ".txt", ".CSV", ".exe", ""])).map("".join),
       content=st.binary(max_size=64))
def test_upload_of_any_name_lands_directly_in_uploads_or_is_refused(isolated_home, name, content):
    uploads = isolated_home / "uploads"
    path = _loads_or_refuses(lambda: data.save_upload(name, content))
    if path is not None:
        assert path.parent == uploads and path.resolve().parent == uploads.resolve()
        assert UPLOAD_NAME.fullmatch(path.name) and path.read_bytes() == content
    assert set(os.listdir(isolated_home)) <= {"uploads"}, "nothing is written beside the uploads folder"
    assert all(UPLOAD_NAME.fullmatch(f) for f in os.listdir(uploads)) if uploads.exists() else True


# --- run ids never become paths -----------------------------------------------------------------------------------

_id_like = st.from_regex(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}", fullmatch=True)
_run_refs = (st.text() | _id_like | st.tuples(st.sampled_from(["../", "/", "./", "..\\", "~/"]), _id_like).map("".join)
             | st.sampled_from(["..", ".", "", "/", "runs", "20260101-120000-a1b2c3/../.."]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_run_refs)
def test_run_dir_of_any_string_is_directly_in_the_runs_root_or_refused(isolated_home, ref):
    path = _loads_or_refuses(lambda: store.run_dir(ref))
    if path is not None:
        assert path.parent == store.runs_root() and path.name == ref and ref not in ("", ".", "..")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_run_refs)
def test_get_run_of_any_string_on_an_empty_store_is_a_run_error(isolated_home, ref):
    with pytest.raises(DistillLabError) as err:
        store.get_run(ref)
    assert err.value.field == "run" and err.value.message.strip()


def test_run_id_with_a_trailing_newline_is_refused():
    with pytest.raises(DistillLabError):
        store.run_dir("20260101-120000-a1b2c3\n")


def test_run_reference_with_a_lone_surrogate_is_a_run_error():
    with pytest.raises(DistillLabError):
        store.get_run("\udcff")
