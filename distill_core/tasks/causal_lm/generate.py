"""Greedy continuation of a prompt, batch 1, timed: the Playground's causal-LM engine and the decode measurement.

Generation is transformers' `generate` (greedy, KV cache) with a streamer that timestamps each new token: prefill is
the time from the call to the first new token (the prompt's forward pass and the first pick), decode speed is the
tokens after the first over the time they took.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from distill_core.core.errors import DistillLabError
from distill_core.core.run_files import read_json
from distill_core.core.variants import VARIANTS as LM_VARIANTS  # noqa: F401
from distill_core.core.variants import variant_refs


@dataclass
class Continuation:
    """A greedy continuation. `text` excludes the prompt; times in ms and tokens per second."""

    text: str
    new_tokens: int
    prefill_ms: float  # call to first new token: the prompt's forward pass (+ picking the first token)
    decode_tokens_per_s: float  # (new_tokens - 1) / seconds after the first token; nan with fewer than 2 tokens
    prompt_tokens: int = 0
    tokens: list[str] = field(default_factory=list)  # each new token as text
    token_probs: list[float] = field(default_factory=list)  # the probability the model gave each chosen token
    token_ms: list[float] = field(default_factory=list)  # gap before each token after the first (ms)
    total_ms: float = 0.0
    repetition: float = 0.0  # repeated_ngram_share of the new tokens: 0 none repeated, near 1 a loop


def repeated_ngram_share(ids: list[int], n: int = 4) -> float:
    """The share of the n-grams of `ids` that already occurred earlier in it: 1 - unique / all (the seq-rep-n of
    Welleck et al., 2019). 0.0 means no n-gram repeats; a text stuck in a loop goes towards 1. 0.0 with fewer than
    two n-grams."""
    grams = [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if len(grams) > 1 else 0.0


@torch.inference_mode()
def continue_ids(model, prompts: torch.Tensor, new_tokens: int, pad_id: int | None) -> list[list[int]]:
    """Greedy continuations of equal-length prompts (n, p) token ids, batched in one generate call: exactly
    `new_tokens` new ids per prompt (the end-of-text token does not stop them)."""
    model.eval()
    device = next(model.parameters()).device
    ids = prompts.to(device)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                         max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=pad_id,
                         temperature=None, top_p=None, top_k=None)
    return out[:, ids.shape[1]:].tolist()


class _TokenClock:
    """A generate() streamer that records when each batch of new tokens arrives (the first put is the prompt)."""

    def __init__(self):
        self.times: list[float] = []
        self.puts = 0

    def put(self, value) -> None:
        self.puts += 1
        if self.puts > 1:
            self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


def encode_prompt(tokenizer, prompt: str) -> torch.Tensor:
    """(1, prompt tokens) ids, with the tokenizer's usual special tokens."""
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    if ids.shape[1] == 0:
        raise DistillLabError("is empty after tokenizing; type some text", "prompt")
    return ids


@torch.inference_mode()
def continue_text(model, tokenizer, prompt: str, max_new_tokens: int, stop_at_eos: bool = True) -> Continuation:
    """Greedy continuation of `prompt` by `model`, batch 1, up to `max_new_tokens` tokens (exactly that many when
    `stop_at_eos` is False, as the decode measurement needs)."""
    if not prompt.strip():
        raise DistillLabError("is empty; type the start of a text", "prompt")
    if max_new_tokens < 1:
        raise DistillLabError(f"{max_new_tokens} is not allowed; allowed: >= 1", "max_new_tokens")
    model.eval()
    device = next(model.parameters()).device
    ids = encode_prompt(tokenizer, prompt).to(device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    clock = _TokenClock()
    started = time.perf_counter()
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                         max_new_tokens=max_new_tokens, min_new_tokens=None if stop_at_eos else max_new_tokens,
                         pad_token_id=pad, output_scores=True, return_dict_in_generate=True, streamer=clock,
                         temperature=None, top_p=None, top_k=None)
    total_ms = (time.perf_counter() - started) * 1e3
    new = out.sequences[0, ids.shape[1]:].tolist()
    probs = [float(torch.softmax(s[0].float(), -1)[t]) for s, t in zip(out.scores, new)]
    gaps = [(b - a) * 1e3 for a, b in zip(clock.times, clock.times[1:])]
    prefill_ms = (clock.times[0] - started) * 1e3 if clock.times else total_ms
    decode_s = clock.times[-1] - clock.times[0] if len(clock.times) > 1 else 0.0
    return Continuation(
        text=tokenizer.decode(new, skip_special_tokens=True), new_tokens=len(new), prefill_ms=prefill_ms,
        decode_tokens_per_s=(len(new) - 1) / decode_s if decode_s > 0 else math.nan, prompt_tokens=ids.shape[1],
        tokens=[tokenizer.decode([t]) for t in new], token_probs=probs, token_ms=gaps, total_ms=total_ms,
        repetition=repeated_ngram_share(new))


def load_variant_model(ref: str, trust_remote_code: bool = False):
    """(fp32 causal LM in eval mode, tokenizer) from a model folder, preset key or hub id."""
    from distill_core.tasks.causal_lm import teacher as lm_teacher

    return (lm_teacher.load_causal_lm(ref, trust_remote_code),
            lm_teacher.load_tokenizer(ref, trust_remote_code))


def load_run_variant(run_dir: str | Path, variant: str, device: str = "cpu"):
    """(model, tokenizer) of one variant of a finished causal-LM run: teacher / teacher-int8 / student /
    student-int8 / control. int8 variants are made now with quantize.quantize_int8 (nothing int8 is stored)."""
    refs = variant_refs(run_dir)
    if variant not in refs:
        raise DistillLabError(f"the run has no {variant!r}; it has: {', '.join(refs)}", "variant")
    ref, int8 = refs[variant]
    config = read_json(run_dir, "config.json")
    trust = bool(config.get("teacher", {}).get("trust_remote_code")) and variant.startswith("teacher")
    model, tokenizer = load_variant_model(ref, trust)
    model.to(device)
    if int8:
        from distill_core.models.quantize import quantize_int8

        model, _ = quantize_int8(model, device=device)
    return model.eval(), tokenizer
