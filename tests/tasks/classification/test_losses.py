"""Distillation losses against their formulas."""

import pytest
import torch
import torch.nn.functional as F

from distill_core.tasks.classification.losses import (
    distillation_loss,
    hard_label_loss,
    hidden_cosine_loss,
    hidden_mse_loss,
    masked_mean,
    soft_target_loss,
)


def _logits(seed: int, batch: int = 5, classes: int = 3) -> torch.Tensor:
    return torch.randn(batch, classes, generator=torch.Generator().manual_seed(seed)) * 3


def _manual_kl_times_t2(student, teacher, t):
    """sum_c p_t^T (log p_t^T - log p_s^T), mean over rows, times T^2, written out by hand."""
    p_t = torch.softmax(teacher / t, -1)
    p_s = torch.softmax(student / t, -1)
    return (p_t * (p_t.log() - p_s.log())).sum(-1).mean() * t * t


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 5.0])
def test_soft_target_loss_is_zero_for_equal_logits(temperature):
    logits = _logits(0)
    assert float(soft_target_loss(logits, logits.clone(), temperature)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_soft_target_loss_is_kl_of_softened_distributions_times_t_squared(temperature):
    student, teacher = _logits(1), _logits(2)
    expected = _manual_kl_times_t2(student, teacher, temperature)
    assert float(soft_target_loss(student, teacher, temperature)) == pytest.approx(float(expected), rel=1e-5)


def test_soft_target_loss_scales_with_t_squared_between_temperatures():
    student, teacher = _logits(3), _logits(4)
    kl = lambda t: float(_manual_kl_times_t2(student, teacher, t)) / (t * t)  # noqa: E731 - the bare KL
    for t in (2.0, 4.0):
        assert float(soft_target_loss(student, teacher, t)) == pytest.approx(kl(t) * t * t, rel=1e-5)
    # Without the T^2 factor the loss would be the bare KL, which differs by a factor of 16 at T=4.
    assert float(soft_target_loss(student, teacher, 4.0)) != pytest.approx(kl(4.0), rel=1e-2)


def test_soft_target_loss_is_positive_for_different_logits():
    assert float(soft_target_loss(_logits(5), _logits(6), 2.0)) > 0


def test_alpha_zero_equals_plain_cross_entropy():
    student, teacher = _logits(7), _logits(8)
    labels = torch.tensor([0, 1, 2, 1, 0])
    loss = distillation_loss(student, teacher, labels, temperature=2.0, alpha=0.0)
    assert float(loss) == pytest.approx(float(F.cross_entropy(student, labels)), rel=1e-6)


def test_alpha_one_ignores_labels():
    student, teacher = _logits(9), _logits(10)
    a = distillation_loss(student, teacher, torch.tensor([0, 0, 0, 0, 0]), temperature=2.0, alpha=1.0)
    b = distillation_loss(student, teacher, torch.tensor([2, 1, 2, 1, 2]), temperature=2.0, alpha=1.0)
    assert float(a) == float(b) == pytest.approx(float(soft_target_loss(student, teacher, 2.0)), rel=1e-6)


def test_alpha_weights_soft_and_hard_terms():
    student, teacher, labels = _logits(11), _logits(12), torch.tensor([0, 1, 2, 1, 0])
    expected = 0.3 * soft_target_loss(student, teacher, 3.0) + 0.7 * hard_label_loss(student, labels)
    loss = distillation_loss(student, teacher, labels, temperature=3.0, alpha=0.3)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)


def test_mixed_batch_uses_the_hard_term_only_on_labeled_rows():
    student, teacher = _logits(13), _logits(14)
    labeled = torch.tensor([True, False, True, False, True])
    labels = torch.tensor([0, 0, 2, 0, 1])  # rows 1 and 3 are unlabeled (placeholder 0)
    expected = (0.5 * soft_target_loss(student, teacher, 2.0)
                + 0.5 * F.cross_entropy(student[labeled], labels[labeled]))
    loss = distillation_loss(student, teacher, labels, 2.0, 0.5, labeled)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    # The placeholder labels of unlabeled rows do not matter.
    other = labels.clone()
    other[~labeled] = 2
    assert float(distillation_loss(student, teacher, other, 2.0, 0.5, labeled)) == pytest.approx(float(loss), rel=1e-6)


def test_fully_unlabeled_batch_gets_only_the_soft_term():
    student, teacher = _logits(15), _logits(16)
    labeled = torch.zeros(5, dtype=torch.bool)
    loss = distillation_loss(student, teacher, torch.zeros(5, dtype=torch.long), 2.0, 0.5, labeled)
    assert float(loss) == pytest.approx(float(soft_target_loss(student, teacher, 2.0)), rel=1e-6)


def test_hidden_losses_are_zero_for_equal_inputs():
    h = torch.randn(4, 16, generator=torch.Generator().manual_seed(17))
    assert float(hidden_mse_loss(h, h.clone())) == pytest.approx(0.0, abs=1e-7)
    assert float(hidden_cosine_loss(h, h.clone())) == pytest.approx(0.0, abs=1e-6)


def test_hidden_cosine_loss_ignores_scale_but_mse_does_not():
    h = torch.randn(4, 16, generator=torch.Generator().manual_seed(18))
    assert float(hidden_cosine_loss(h * 3, h)) == pytest.approx(0.0, abs=1e-6)
    assert float(hidden_mse_loss(h * 3, h)) > 0.1
    assert float(hidden_cosine_loss(-h, h)) == pytest.approx(2.0, abs=1e-6)


def test_masked_mean_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, -100.0]],
                           [[5.0, 6.0], [-50.0, 50.0], [7.0, 7.0]]])  # (batch 2, seq 3, width 2)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    out = masked_mean(hidden, mask)
    assert out.shape == (2, 2)
    assert torch.allclose(out, torch.tensor([[2.0, 3.0], [5.0, 6.0]]))


def test_masked_mean_of_all_padding_row_is_finite():
    out = masked_mean(torch.ones(1, 3, 2), torch.zeros(1, 3, dtype=torch.long))
    assert torch.isfinite(out).all()
