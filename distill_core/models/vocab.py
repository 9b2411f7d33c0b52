"""Vocabulary trimming: a student keeps only the embedding rows of the tokens its data uses.

MiniLM's 30,522 x 384 word-embedding table is ~47 MB of a 2-layer student's ~62 MB, and dropping layers does not
shrink it. The kept tokens are the special tokens, every token the original tokenizer produces on the given texts,
and every single-character piece (`x` and `##x`), so an unseen word still falls apart into characters rather than
becoming [UNK].

Why the kept texts tokenize exactly as before (WordPiece, greedy longest match first): a word is cut left to right,
each time into the longest piece of the vocabulary V that starts at the current position. Let V' be a subset of V
that holds every piece the original produced on the texts. At each position the original's piece p is in V'; every
longer candidate is not in V, so not in V'; hence p is also the longest match in V'. By induction over positions
the pieces are the same, and a word the original turned into [UNK] (no piece at some position in V) finds none in
V' either. Normalizer, pre-tokenizer and post-processor are unchanged, so the token sequences are identical and only
the ids are renumbered: kept ids keep their original order, so the new id of a token is its rank among them.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass

import torch

from distill_core.core.errors import DistillLabError

FIELD = "student.trim_vocab"
SUPPORTED = "WordPiece fast tokenizers (BERT-like: BERT, DistilBERT, MiniLM, ELECTRA)"
# Config attributes that name a token id: each keeps its token, renumbered.
CONFIG_TOKEN_IDS = ("pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id",
                    "decoder_start_token_id")
CHECKED_TEXTS = 256  # kept texts re-encoded with the trimmed tokenizer to confirm identical tokens


@dataclass
class TrimRecord:
    """What trimming kept: tokens, bytes of the embedding tables, and how the trimmed tokenizer does on a sample of
    other texts (e.g. the validation split, never used to choose the tokens)."""

    tokens_before: int  # the original vocabulary (embedding rows)
    tokens_after: int  # kept: special + seen in the texts + single characters
    tokens_seen: int  # distinct tokens the original tokenizer produced on the texts
    tokens_single_char: int  # single-character pieces (`x`, `##x`) kept for unseen words
    texts: int  # texts the kept tokens were counted on
    embedding_bytes_before: int  # the input embedding table (plus an untied output table), bytes
    embedding_bytes_after: int
    sample_texts: int = 0  # texts in the sample (0: none given)
    sample_tokens_before: int = 0  # tokens of the sample under the original tokenizer (no special tokens)
    sample_tokens_after: int = 0  # ... under the trimmed one (unseen words split into more pieces)
    sample_unknown_rate_before: float = 0.0  # fraction of the sample's tokens that are the unknown token
    sample_unknown_rate: float = 0.0  # the same under the trimmed tokenizer

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        line = (f"vocabulary trimmed to {self.tokens_after:,} of {self.tokens_before:,} tokens "
                f"({self.tokens_seen:,} seen in {self.texts:,} texts, {self.tokens_single_char:,} single characters); "
                f"embeddings {self.embedding_bytes_before / 1e6:.1f} MB -> {self.embedding_bytes_after / 1e6:.1f} MB")
        if self.sample_texts:
            line += (f"; on {self.sample_texts:,} other texts {self.sample_unknown_rate:.2%} unknown tokens "
                     f"({self.sample_unknown_rate_before:.2%} before), "
                     f"{self.sample_tokens_after / max(1, self.sample_tokens_before):.3f}x as many tokens")
        return line


def trim_vocabulary(model: torch.nn.Module, tokenizer, texts: list[str], sample: list[str] | None = None):
    """(model, tokenizer, TrimRecord) with the vocabulary cut to the tokens `texts` use (see the module docstring).

    `texts` are the training texts (train + transfer; never validation or test). `model` is changed in place: its
    input embedding (and a tied or untied output embedding over the vocabulary) keeps the rows of the kept ids, its
    config's vocab_size and token ids are renumbered. The tokenizer is a new one; `sample` only measures it.
    Raises DistillLabError (field student.trim_vocab) for tokenizers other than WordPiece fast ones."""
    spec = _wordpiece_spec(tokenizer)
    original = _plain_backend(spec)
    seen = {i for enc in original.encode_batch(list(texts), add_special_tokens=False) for i in enc.ids}
    chars = single_char_ids(spec["model"]["vocab"], spec["model"].get("continuing_subword_prefix", "##"))
    rows = model.get_input_embeddings().weight.shape[0]
    kept = sorted(seen | chars | _special_ids(tokenizer, spec) | _config_token_ids(model.config))
    if kept[-1] >= rows:
        raise DistillLabError(f"the tokenizer produces id {kept[-1]} but the model has only {rows} embedding rows: "
                              "they do not belong together", FIELD)

    bytes_before = embedding_bytes(model)
    new_spec = trimmed_spec(spec, kept)
    trimmed_backend = _plain_backend(new_spec)
    _check_same_tokens(original, trimmed_backend, texts[:CHECKED_TEXTS])
    trimmed = _fast_tokenizer(tokenizer, new_spec)
    select_embedding_rows(model, kept)
    record = TrimRecord(tokens_before=rows, tokens_after=len(kept), tokens_seen=len(seen),
                        tokens_single_char=len(chars), texts=len(texts), embedding_bytes_before=bytes_before,
                        embedding_bytes_after=embedding_bytes(model))
    if sample:
        _measure_sample(record, original, trimmed_backend, list(sample))
    return model, trimmed, record


def _wordpiece_spec(tokenizer) -> dict:
    """The tokenizer.json of a WordPiece fast tokenizer; DistillLabError naming what was found otherwise."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise DistillLabError(f"supports {SUPPORTED}; this student's tokenizer is {type(tokenizer).__name__}, which "
                              "has no tokenizers backend (a slow tokenizer)", FIELD)
    spec = json.loads(backend.to_str())
    kind = (spec.get("model") or {}).get("type") or type(backend.model).__name__
    if kind != "WordPiece":
        raise DistillLabError(f"supports {SUPPORTED}; this student's tokenizer {type(tokenizer).__name__} is a "
                              f"{kind} tokenizer", FIELD)
    return spec


def _plain_backend(spec: dict):
    """A tokenizers.Tokenizer from `spec` with no padding and no truncation (every token of every text counts)."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(json.dumps(spec))
    backend.no_padding()
    backend.no_truncation()
    return backend


def single_char_ids(vocab: dict[str, int], prefix: str = "##") -> set[int]:
    """Ids of the one-character pieces: `x` (a word start) and `##x` (a continuation)."""
    return {i for token, i in vocab.items()
            if len(token) == 1 or (token.startswith(prefix) and len(token) == len(prefix) + 1)}


def _special_ids(tokenizer, spec: dict) -> set[int]:
    return set(tokenizer.all_special_ids) | {t["id"] for t in spec.get("added_tokens") or []}


def _config_token_ids(config) -> set[int]:
    return {v for name in CONFIG_TOKEN_IDS if isinstance(v := getattr(config, name, None), int) and v >= 0}


def trimmed_spec(spec: dict, kept: list[int]) -> dict:
    """The tokenizer.json `spec` with a WordPiece vocabulary of the kept ids only, renumbered in their original
    order; the same normalizer, pre-tokenizer and decoder, the added tokens', padding's and post-processor's ids
    renumbered."""
    new_id = {old: new for new, old in enumerate(kept)}
    spec = copy.deepcopy(spec)
    model = spec["model"]
    model["vocab"] = {token: new_id[i] for token, i in sorted(model["vocab"].items(), key=lambda kv: kv[1])
                      if i in new_id}
    for added in spec.get("added_tokens") or []:
        added["id"] = new_id[added["id"]]
    if spec.get("padding"):
        spec["padding"]["pad_id"] = new_id[spec["padding"]["pad_id"]]
    spec["post_processor"] = _renumber_post_processor(spec.get("post_processor"), new_id)
    return spec


def _fast_tokenizer(tokenizer, spec: dict):
    """A transformers fast tokenizer over the tokenizer.json `spec`, with `tokenizer`'s special tokens and limits."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    special = {name: value for name, value in tokenizer.special_tokens_map.items() if isinstance(value, str)}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
                                   model_max_length=tokenizer.model_max_length, padding_side=tokenizer.padding_side,
                                   truncation_side=tokenizer.truncation_side,
                                   model_input_names=list(tokenizer.model_input_names), **special)


def _renumber_post_processor(processor: dict | None, new_id: dict[int, int]) -> dict | None:
    """The post-processor with its special tokens' ids renumbered (TemplateProcessing, BertProcessing,
    RobertaProcessing, Sequence; others carry no ids)."""
    if not processor:
        return processor
    kind = processor.get("type")
    if kind == "TemplateProcessing":
        for token in processor["special_tokens"].values():
            token["ids"] = [new_id[i] for i in token["ids"]]
    elif kind in ("BertProcessing", "RobertaProcessing"):
        for key in ("sep", "cls"):
            processor[key] = [processor[key][0], new_id[processor[key][1]]]
    elif kind == "Sequence":
        processor["processors"] = [_renumber_post_processor(p, new_id) for p in processor["processors"]]
    return processor


def _check_same_tokens(original, trimmed_backend, texts: list[str]) -> None:
    """Re-encode some kept texts (with special tokens): each new id must name the token the original id named."""
    before = original.encode_batch(list(texts))
    after = trimmed_backend.encode_batch(list(texts))
    for text, a, b in zip(texts, before, after):
        old, new = [original.id_to_token(i) for i in a.ids], [trimmed_backend.id_to_token(i) for i in b.ids]
        if old != new:
            raise DistillLabError(f"the trimmed tokenizer cuts {text[:60]!r} differently ({new[:8]} instead of "
                                  f"{old[:8]}); this tokenizer cannot be trimmed", FIELD)


def _distinct_embedding_weights(model) -> list[torch.Tensor]:
    weights = [model.get_input_embeddings().weight]
    out = model.get_output_embeddings()
    if out is not None and out.weight is not weights[0]:
        weights.append(out.weight)
    return weights


def embedding_bytes(model) -> int:
    """Bytes of the input embedding table plus an output one over the vocabulary that is not tied to it."""
    return sum(w.numel() * w.element_size() for w in _distinct_embedding_weights(model))


def select_embedding_rows(model: torch.nn.Module, kept: list[int]) -> None:
    """Keep only the embedding rows `kept` (old ids, sorted), in place: the input embedding, an output embedding over
    the vocabulary (tied stays tied), config.vocab_size and the config's token ids."""
    new_id = {old: new for new, old in enumerate(kept)}
    index = torch.tensor(kept, dtype=torch.long)
    old = model.get_input_embeddings()
    out = model.get_output_embeddings()
    tied = out is not None and out.weight is old.weight
    padding_idx = new_id.get(old.padding_idx) if old.padding_idx is not None else None
    new = torch.nn.Embedding(len(kept), old.embedding_dim, padding_idx=padding_idx,
                             device=old.weight.device, dtype=old.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(old.weight[index.to(old.weight.device)])
    new.weight.requires_grad_(old.weight.requires_grad)
    model.set_input_embeddings(new)
    if out is not None and out.weight.shape[0] == old.weight.shape[0]:
        head = torch.nn.Linear(out.in_features, len(kept), bias=out.bias is not None,
                               device=out.weight.device, dtype=out.weight.dtype)
        with torch.no_grad():
            if tied:
                head.weight = new.weight
            else:
                head.weight.copy_(out.weight[index.to(out.weight.device)])
            if out.bias is not None:
                head.bias.copy_(out.bias[index.to(out.bias.device)])
        model.set_output_embeddings(head)
    config = model.config
    config.vocab_size = len(kept)
    for name in CONFIG_TOKEN_IDS:
        value = getattr(config, name, None)
        if isinstance(value, int) and value >= 0:
            setattr(config, name, new_id[value])


def _measure_sample(record: TrimRecord, original, trimmed, sample: list[str]) -> None:
    """Tokens and unknown-token rate of `sample` under the original and the trimmed backend (no special tokens)."""
    counts = []
    for backend in (original, trimmed):
        unk = backend.token_to_id(backend.model.unk_token)
        ids = [enc.ids for enc in backend.encode_batch(sample, add_special_tokens=False)]
        counts.append((sum(map(len, ids)), sum(x.count(unk) for x in ids)))
    (n_before, unk_before), (n_after, unk_after) = counts
    record.sample_texts = len(sample)
    record.sample_tokens_before, record.sample_tokens_after = n_before, n_after
    record.sample_unknown_rate_before = unk_before / max(1, n_before)
    record.sample_unknown_rate = unk_after / max(1, n_after)
