"""Causal-LM distillation losses on the teacher's top-k support plus one tail bucket.

The teacher cache keeps, per token, the teacher's k most likely tokens (log-probabilities at T = 1) and the log of
the probability left over (the tail). Both teacher and student are compared as distributions over the same k + 1
categories: the teacher's top-k tokens, plus "everything else". For the student, the tail is
log(1 - sum of its probabilities on those k tokens), computed from its full log-softmax. Merging categories never
increases a KL divergence, so these are lower bounds of the full-vocabulary divergences, exact when the tail is 0.

Temperature T is applied to the (k + 1)-category distributions, p_T = softmax(log p / T), the same way for both, so
the loss is 0 when the student equals the teacher at any T. Shapes: (..., k) for top-k tensors, (...) for tails.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x <= 0, stable at both ends (Maechler, 2012)."""
    x = x.clamp(max=-1e-7)
    return torch.where(x > -0.6931, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def teacher_buckets(topk_logprobs: torch.Tensor, tail_logmass: torch.Tensor) -> torch.Tensor:
    """The teacher's (k + 1)-category log-distribution: its top-k log-probs and the tail's log-mass. (..., k+1)"""
    return torch.cat([topk_logprobs.float(), tail_logmass.float().unsqueeze(-1)], dim=-1)


def student_buckets(student_logits: torch.Tensor, topk_indices: torch.Tensor) -> torch.Tensor:
    """The student's log-probs on the teacher's top-k tokens plus its log-mass elsewhere. logits: (..., vocab);
    indices: (..., k) int -> (..., k+1)."""
    return buckets_of_logprobs(F.log_softmax(student_logits.float(), dim=-1), topk_indices)


def buckets_of_logprobs(logprobs: torch.Tensor, topk_indices: torch.Tensor) -> torch.Tensor:
    """student_buckets from full log-probabilities (..., vocab) already computed."""
    picked = logprobs.gather(-1, topk_indices.long())
    tail = log1mexp(torch.logsumexp(picked, dim=-1))
    return torch.cat([picked, tail.unsqueeze(-1)], dim=-1)


def tempered(log_p: torch.Tensor, temperature: float) -> torch.Tensor:
    """log softmax(log p / T): the distribution flattened (T > 1) or sharpened (T < 1)."""
    return log_p if temperature == 1 else F.log_softmax(log_p / temperature, dim=-1)


def kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) = sum_i p_i (log p_i - log q_i) per row, in nats. (..., n) -> (...)"""
    return F.kl_div(log_q, log_p, log_target=True, reduction="none").sum(-1)


def forward_kl(teacher_logp: torch.Tensor, student_logp: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student): mass-covering; the usual distillation term (Hinton et al., 2015). Per row."""
    return kl(teacher_logp, student_logp)


def reverse_kl(teacher_logp: torch.Tensor, student_logp: torch.Tensor) -> torch.Tensor:
    """KL(student || teacher): mode-seeking (MiniLLM, Gu et al., 2024). Per row."""
    return kl(student_logp, teacher_logp)


def generalized_jsd(teacher_logp: torch.Tensor, student_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """The generalized Jensen-Shannon divergence of GKD (Agarwal et al., 2024, "On-Policy Distillation of Language
    Models", Eq. 1), with TRL's GKDTrainer.generalized_jsd_loss convention for beta. Per row:

        M = beta * p_teacher + (1 - beta) * p_student
        JSD_beta = beta * KL(p_teacher || M) + (1 - beta) * KL(p_student || M)

    and, as in TRL, the end points are the two KLs themselves: beta = 0 gives forward KL(teacher || student),
    beta = 1 reverse KL(student || teacher). Between them it interpolates; beta = 0.5 is the symmetric JSD."""
    if beta == 0:
        return forward_kl(teacher_logp, student_logp)
    if beta == 1:
        return reverse_kl(teacher_logp, student_logp)
    b = torch.tensor(beta, dtype=student_logp.dtype, device=student_logp.device)
    mixture = torch.logsumexp(torch.stack([teacher_logp + torch.log(b), student_logp + torch.log1p(-b)]), dim=0)
    return beta * kl(teacher_logp, mixture) + (1 - beta) * kl(student_logp, mixture)


def divergence(name: str, teacher_logp: torch.Tensor, student_logp: torch.Tensor, beta: float = 0.5) -> torch.Tensor:
    """One of DIVERGENCES by name ("kl" | "reverse-kl" | "jsd"), per row."""
    if name == "kl":
        return forward_kl(teacher_logp, student_logp)
    if name == "reverse-kl":
        return reverse_kl(teacher_logp, student_logp)
    if name == "jsd":
        return generalized_jsd(teacher_logp, student_logp, beta)
    raise ValueError(f"unknown divergence {name!r}")


def next_token_loss(student_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the next token, -log q(x_{t+1} | x_<=t), mean over tokens. logits (..., vocab),
    targets (...) int."""
    return F.cross_entropy(student_logits.float().reshape(-1, student_logits.shape[-1]), targets.reshape(-1))


def unlikelihood_loss(logprobs: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Token-level unlikelihood (Welleck et al., 2019, "Neural Text Generation with Unlikelihood Training", Eq. 4):
    at each position, -sum over the candidates c of log(1 - q(c | x_<=t)), mean over positions. The candidates are
    the tokens already in the context (inputs up to and including t) other than the true next token: the model
    learns to put less mass on repeating what it has just seen, the habit behind greedy loops.

    logprobs: the student's (batch, seq, vocab) log-probabilities of the next token; inputs: (batch, seq) token ids
    of the context (position t's own token at t); targets: (batch, seq) the next tokens."""
    inputs, targets = inputs.long(), targets.long()
    n = inputs.shape[-1]
    # (batch, t, j): the log-prob at position t of the token at position j; a candidate when j <= t, j is that
    # token's first place in the block (each distinct token counts once) and it is not the true next token.
    picked = logprobs.gather(-1, inputs.unsqueeze(-2).expand(*inputs.shape[:-1], n, n))
    earlier = torch.ones(n, n, dtype=torch.bool, device=inputs.device).tril()
    same = inputs.unsqueeze(-1) == inputs.unsqueeze(-2)  # (batch, j, k): tokens j and k are equal
    first = ~(same & earlier.tril(-1)).any(-1)  # (batch, j): no equal token before j
    candidate = earlier & first.unsqueeze(-2) & (inputs.unsqueeze(-2) != targets.unsqueeze(-1))
    return -(log1mexp(picked) * candidate).sum(-1).mean()


def lm_distillation_loss(student_logits: torch.Tensor, targets: torch.Tensor, topk_logprobs: torch.Tensor | None,
                         topk_indices: torch.Tensor | None, tail_logmass: torch.Tensor | None, alpha: float,
                         temperature: float = 1.0, name: str = "kl", beta: float = 0.5,
                         unlikelihood: float = 0.0, inputs: torch.Tensor | None = None) -> torch.Tensor:
    """alpha * T^2 * divergence(teacher_T, student_T) + (1 - alpha) * next-token cross-entropy, mean over tokens,
    plus `unlikelihood` times unlikelihood_loss on `inputs` (the context tokens, (batch, seq)) when it is > 0.

    student_logits: (batch, seq, vocab); targets: (batch, seq); teacher top-k tensors: (batch, seq, k), tail
    (batch, seq). alpha = 0 (the control) needs no teacher tensors. T^2 keeps the gradient scale independent of T
    (Hinton et al., 2015)."""
    # One log-softmax over the vocabulary serves both terms (it is the costly part next to the LM head).
    logprobs = F.log_softmax(student_logits.float(), dim=-1)
    hard = -logprobs.gather(-1, targets.long().unsqueeze(-1)).mean() if alpha < 1 else 0.0
    extra = unlikelihood * unlikelihood_loss(logprobs, inputs, targets) if unlikelihood > 0 else 0.0
    if alpha == 0:
        return hard + extra
    t_logp = tempered(teacher_buckets(topk_logprobs, tail_logmass), temperature)
    s_logp = tempered(buckets_of_logprobs(logprobs, topk_indices), temperature)
    soft = divergence(name, t_logp, s_logp, beta).mean() * temperature * temperature
    return alpha * soft + (1 - alpha) * hard + extra
