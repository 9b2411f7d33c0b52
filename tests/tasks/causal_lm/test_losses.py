"""Causal-LM divergences on hand-made distributions, the top-k + tail buckets, and the combined loss."""

import math

import pytest
import torch
import torch.nn.functional as F

from distill_core.tasks.causal_lm import losses as lm_losses
from distill_core.tasks.causal_lm.teacher_cache import topk_of_logits

P = torch.tensor([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]]).log()
Q = torch.tensor([[0.5, 0.3, 0.2], [0.6, 0.3, 0.1]]).log()


def _kl_by_hand(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q))


def test_forward_kl_matches_the_hand_computed_sum():
    expected = _kl_by_hand([0.7, 0.2, 0.1], [0.5, 0.3, 0.2])
    assert float(lm_losses.forward_kl(P, Q)[0]) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", ["kl", "reverse-kl", "jsd"])
def test_every_divergence_is_zero_when_the_distributions_are_equal(name):
    assert torch.allclose(lm_losses.divergence(name, P, P, beta=0.3), torch.zeros(2), atol=1e-6)
    assert (lm_losses.divergence(name, P, Q, beta=0.3) > 0).all()


def test_reverse_kl_is_kl_with_the_arguments_swapped():
    assert torch.allclose(lm_losses.reverse_kl(P, Q), lm_losses.forward_kl(Q, P))
    assert float(lm_losses.reverse_kl(P, Q)[0]) == pytest.approx(_kl_by_hand([0.5, 0.3, 0.2], [0.7, 0.2, 0.1]),
                                                                rel=1e-5)


def test_jsd_is_symmetric_at_half_and_matches_its_definition():
    assert torch.allclose(lm_losses.generalized_jsd(P, Q, 0.5), lm_losses.generalized_jsd(Q, P, 0.5), atol=1e-7)
    p, q = [0.7, 0.2, 0.1], [0.5, 0.3, 0.2]
    m = [(a + b) / 2 for a, b in zip(p, q)]
    expected = 0.5 * _kl_by_hand(p, m) + 0.5 * _kl_by_hand(q, m)
    assert float(lm_losses.generalized_jsd(P, Q, 0.5)[0]) == pytest.approx(expected, rel=1e-5)
    assert expected <= math.log(2)  # JSD is bounded by log 2


def test_jsd_end_points_follow_trl_beta_zero_forward_one_reverse():
    assert torch.allclose(lm_losses.generalized_jsd(P, Q, 0.0), lm_losses.forward_kl(P, Q))
    assert torch.allclose(lm_losses.generalized_jsd(P, Q, 1.0), lm_losses.reverse_kl(P, Q))
    # Between them the mixture weighs the teacher by beta: beta=0.9 leans on KL(student || M), M ~ teacher.
    assert not torch.allclose(lm_losses.generalized_jsd(P, Q, 0.1), lm_losses.generalized_jsd(P, Q, 0.9))


def test_student_buckets_are_a_distribution_over_top_k_plus_tail():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 50)
    indices = torch.randn(3, 5, 50).topk(8, dim=-1).indices
    buckets = lm_losses.student_buckets(logits, indices)
    assert buckets.shape == (3, 5, 9)
    assert torch.allclose(buckets.exp().sum(-1), torch.ones(3, 5), atol=1e-5)
    full = F.log_softmax(logits, -1)
    assert torch.allclose(buckets[..., :8], full.gather(-1, indices), atol=1e-6)


def test_loss_is_zero_when_the_student_is_the_teacher_at_any_temperature():
    torch.manual_seed(1)
    logits = torch.randn(2, 6, 40)
    targets = torch.randint(0, 40, (2, 6))
    t = topk_of_logits(logits, targets, 10)
    for temperature in (1.0, 2.0):
        for name in ("kl", "reverse-kl", "jsd"):
            loss = lm_losses.lm_distillation_loss(logits, targets, t.logprobs.float(), t.indices, t.tail, alpha=1.0,
                                                  temperature=temperature, name=name)
            assert float(loss) == pytest.approx(0.0, abs=2e-3)  # fp16 storage of the teacher's log-probs


def test_alpha_zero_is_next_token_cross_entropy_and_needs_no_teacher():
    torch.manual_seed(2)
    logits, targets = torch.randn(2, 4, 30), torch.randint(0, 30, (2, 4))
    loss = lm_losses.lm_distillation_loss(logits, targets, None, None, None, alpha=0.0)
    assert float(loss) == pytest.approx(float(F.cross_entropy(logits.reshape(-1, 30), targets.reshape(-1))))


def test_log1mexp_is_stable_at_both_ends():
    x = torch.tensor([-1e-6, -0.5, -5.0, -50.0])
    expected = torch.log(1 - torch.exp(x.double())).float()
    assert torch.allclose(lm_losses.log1mexp(x)[1:], expected[1:], atol=1e-6)
    assert torch.isfinite(lm_losses.log1mexp(torch.tensor([0.0]))).all()


def test_unlikelihood_penalises_tokens_already_in_the_context_by_hand():
    logp = torch.tensor([[[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]]]).log()
    inputs, targets = torch.tensor([[0, 1, 1]]), torch.tensor([[1, 1, 2]])
    # t=0: seen {0}, next 1 -> candidates {0}; t=1: seen {0, 1}, next 1 -> {0}; t=2: seen {0, 1}, next 2 -> {0, 1}
    expected = (-math.log(1 - 0.5) - math.log(1 - 0.1) - math.log(1 - 0.2) - math.log(1 - 0.2)) / 3
    assert float(lm_losses.unlikelihood_loss(logp, inputs, targets)) == pytest.approx(expected, rel=1e-6)
    # a token repeated in the context counts once; nothing seen but the next token: no penalty
    assert float(lm_losses.unlikelihood_loss(logp[:, :1], torch.tensor([[1]]), torch.tensor([[1]]))) == 0.0


def test_unlikelihood_equals_the_dense_definition_on_random_blocks():
    torch.manual_seed(0)
    logp = F.log_softmax(torch.randn(2, 12, 20), dim=-1)
    ids = torch.randint(0, 6, (2, 13))  # a small alphabet: many repeats
    inputs, targets = ids[:, :-1], ids[:, 1:]
    seen = torch.zeros(logp.shape, dtype=torch.bool)
    for b in range(2):
        for t in range(12):
            seen[b, t, inputs[b, :t + 1]] = True
            seen[b, t, targets[b, t]] = False
    dense = -(lm_losses.log1mexp(logp) * seen).sum(-1).mean()
    assert float(lm_losses.unlikelihood_loss(logp, inputs, targets)) == pytest.approx(float(dense), rel=1e-5)


def test_the_unlikelihood_weight_adds_its_term_to_either_loss():
    torch.manual_seed(1)
    logits, ids = torch.randn(1, 5, 7), torch.randint(0, 7, (1, 6))
    plain = lm_losses.lm_distillation_loss(logits, ids[:, 1:], None, None, None, alpha=0.0)
    term = lm_losses.unlikelihood_loss(F.log_softmax(logits, -1), ids[:, :-1], ids[:, 1:])
    both = lm_losses.lm_distillation_loss(logits, ids[:, 1:], None, None, None, alpha=0.0, unlikelihood=0.5,
                                          inputs=ids[:, :-1])
    assert float(both) == pytest.approx(float(plain + 0.5 * term), rel=1e-6) and float(term) > 0
