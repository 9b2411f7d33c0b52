"""Quality of a causal LM on held-out blocks: perplexity, next-token agreement with the teacher, mean KL.

Blocks are (blocks, L) token ids; position t predicts token t + 1, so a block scores L - 1 tokens. Agreement is the
share of positions where the variant's most likely next token is the teacher's; KL is KL(teacher || variant) in
nats per token on the teacher's top-k + tail buckets (lm_losses), a lower bound of the full-vocabulary KL.
Retention and distillation gain use evaluate's functions with perplexity as a lower-is-better metric:
retention = teacher ppl / variant ppl, gain = control ppl - student ppl (positive: the teacher helped).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from distill_core.measure import quality as evaluate
from distill_core.tasks.causal_lm.losses import forward_kl, student_buckets, teacher_buckets
from distill_core.tasks.causal_lm.teacher_cache import TopK


@torch.inference_mode()
def block_quality(model, blocks: torch.Tensor, teacher: TopK | None = None, batch_size: int = 8,
                  device: str = "cpu") -> dict:
    """{"perplexity", "nll", "tokens", "block_nll" (mean nats per token of each block: equal-length blocks, so
    perplexity = exp(mean block_nll))} and, with the teacher's TopK for the same blocks, "agreement" and
    "kl_from_teacher"."""
    model.eval()
    nll_sum, agree, kl_sum, tokens = 0.0, 0, 0.0, 0
    block_nll: list[float] = []
    for start in range(0, len(blocks), batch_size):
        batch = blocks[start:start + batch_size].to(device)
        logits = model(input_ids=batch).logits[:, :-1].float()
        targets = batch[:, 1:]
        logprobs = F.log_softmax(logits, dim=-1)
        token_nll = -logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        nll_sum += float(token_nll.sum())
        block_nll += token_nll.double().mean(-1).tolist()
        tokens += targets.numel()
        if teacher is not None:
            t = teacher.rows(slice(start, start + batch_size))
            agree += int((logits.argmax(-1).cpu() == t.indices[..., 0].long()).sum())
            s_logp = student_buckets(logits, t.indices.to(device).long())
            kl_sum += float(forward_kl(teacher_buckets(t.logprobs, t.tail).to(device), s_logp).sum())
    nll = nll_sum / max(1, tokens)
    report = {"perplexity": math.exp(min(nll, 700.0)), "nll": nll, "tokens": tokens, "block_nll": block_nll}
    if teacher is not None:
        report["agreement"] = agree / max(1, tokens)
        report["kl_from_teacher"] = kl_sum / max(1, tokens)
    return report


def teacher_quality(teacher: TopK) -> dict:
    """The teacher's own report, from its cached log-probabilities of the true next tokens."""
    nll = float(-teacher.target.double().mean())
    return {"perplexity": math.exp(nll), "nll": nll, "tokens": int(teacher.target.numel()), "agreement": 1.0,
            "kl_from_teacher": 0.0}


def add_retention(variants: dict[str, dict], teacher_perplexity: float | None) -> None:
    """Set "retention" (teacher ppl / variant ppl) on every report, in place."""
    for report in variants.values():
        report["retention"] = (evaluate.retention(report["perplexity"], teacher_perplexity, higher_is_better=False)
                               if teacher_perplexity else None)


def perplexity_gain(variants: dict[str, dict]) -> float | None:
    """control ppl - student ppl (positive: distillation helped), or None without both."""
    if "student" not in variants or "control" not in variants:
        return None
    return evaluate.distillation_gain(variants["student"]["perplexity"], variants["control"]["perplexity"],
                                      higher_is_better=False)
