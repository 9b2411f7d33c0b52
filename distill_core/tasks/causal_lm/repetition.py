"""Does a variant loop? Greedy continuations of several held-out starts, their repeated 4-grams, and the difference
from the teacher's, prompt by prompt.

A single prompt's continuation says little: SmolLM2-135M itself repeats a third of its 4-grams on the preset's
prompt. So each variant continues the first `prompt_tokens` tokens of `prompts` held-out blocks (text the run never
trained on) greedily; a continuation's score is its share of repeated 4-grams (generate.repeated_ngram_share, 0 =
none, towards 1 = a loop). The variant's mean is compared with the teacher's on the same prompts: the mean paired
difference with Student's t interval (measure.stats.t_interval). "loops more than the teacher" when the whole
interval is above 0, "loops less than the teacher" when below, else "no measurable difference".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from distill_core.core.errors import DistillLabError
from distill_core.measure.stats import t_interval
from distill_core.tasks.causal_lm.generate import continue_ids, repeated_ngram_share

MORE, LESS, SAME = "loops more than the teacher", "loops less than the teacher", "no measurable difference"


@dataclass
class HeldOutRepetition:
    """Greedy continuations of the first `prompt_tokens` tokens of `prompts` held-out blocks (text the run never
    trained on), `new_tokens` each: the share of repeated 4-grams of each (repeated_ngram_share) and their mean.
    One prompt says little about looping; a mean over several, compared prompt by prompt with the teacher's, does."""

    prompts: int
    prompt_tokens: int
    new_tokens: int
    per_prompt: list[float]
    mean: float
    texts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def heldout_repetition(model, tokenizer, blocks: torch.Tensor, prompts: int = 16, prompt_tokens: int = 8,
                       new_tokens: int = 32) -> HeldOutRepetition:
    """HeldOutRepetition of `model` on the first `prompts` of `blocks` (n, L) token ids."""
    if blocks.ndim != 2 or len(blocks) == 0 or blocks.shape[1] < prompt_tokens:
        raise DistillLabError(f"needs at least one block of {prompt_tokens} tokens", "heldout")
    starts = blocks[:prompts, :prompt_tokens].long()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    new = continue_ids(model, starts, new_tokens, pad)
    shares = [repeated_ngram_share(ids) for ids in new]
    return HeldOutRepetition(prompts=len(new), prompt_tokens=prompt_tokens, new_tokens=new_tokens,
                             per_prompt=shares, mean=sum(shares) / len(shares),
                             texts=[tokenizer.decode(ids, skip_special_tokens=True) for ids in new])


def compare_with_teacher(variants: dict[str, dict]) -> dict[str, dict]:
    """variant -> {"mean", "teacher_mean", "difference", "low", "high", "verdict"} for each variant with held-out
    repetition (dicts of HeldOutRepetition) on the same prompts as the teacher's; {} without the teacher's."""
    teacher = variants.get("teacher")
    if not teacher:
        return {}
    out = {}
    for name, rep in variants.items():
        if name == "teacher" or not rep or len(rep["per_prompt"]) != len(teacher["per_prompt"]):
            continue
        diffs = [a - b for a, b in zip(rep["per_prompt"], teacher["per_prompt"])]
        interval = t_interval(diffs)
        mean = sum(diffs) / len(diffs)
        low, high = (interval[1], interval[2]) if interval else (mean, mean)
        verdict = MORE if low > 0 else LESS if high < 0 else SAME
        out[name] = {"mean": rep["mean"], "teacher_mean": teacher["mean"], "difference": mean, "low": low,
                     "high": high, "verdict": verdict}
    return out
