"""Distillation losses, each stated by its formula and source. Logits are (batch, classes)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(p_teacher^T || p_student^T) * T^2, mean over the batch (Hinton, Vinyals & Dean, 2015,
    "Distilling the Knowledge in a Neural Network"). p^T = softmax(logits / T); the T^2 factor keeps the gradient
    scale independent of T."""
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, -1), F.log_softmax(teacher_logits / t, -1),
                    log_target=True, reduction="batchmean") * t * t


def hard_label_loss(student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with the true labels, -log p_student(y), mean over the batch. labels: (batch,) int."""
    return F.cross_entropy(student_logits, labels)


def distillation_loss(student_logits, teacher_logits, labels, temperature: float, alpha: float,
                      labeled: torch.Tensor | None = None) -> torch.Tensor:
    """alpha * soft_target_loss + (1 - alpha) * hard_label_loss (Hinton et al., 2015).

    `labeled` (batch,) bool marks rows that have a true label; unlabeled transfer rows get only the soft term.
    alpha = 0 is plain cross-entropy (the control); alpha = 1 ignores the labels."""
    if labeled is None or bool(labeled.all()):
        soft = soft_target_loss(student_logits, teacher_logits, temperature) if alpha > 0 else 0.0
        hard = hard_label_loss(student_logits, labels) if alpha < 1 else 0.0
        return alpha * soft + (1 - alpha) * hard
    # Mixed batch: soft term on every row, hard term on labeled rows only, each a mean over its rows.
    soft = soft_target_loss(student_logits, teacher_logits, temperature)
    if not bool(labeled.any()):
        return soft
    hard = hard_label_loss(student_logits[labeled], labels[labeled])
    return alpha * soft + (1 - alpha) * hard


def hidden_mse_loss(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
    """Mean squared error between (projected) student and teacher hidden states (TinyBERT, Jiao et al., 2020).
    Shapes: (batch, width)."""
    return F.mse_loss(student_hidden, teacher_hidden)


def hidden_cosine_loss(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
    """1 - cos(student, teacher), mean over the batch (the cosine embedding loss of DistilBERT, Sanh et al., 2019).
    Shapes: (batch, width)."""
    return (1 - F.cosine_similarity(student_hidden, teacher_hidden, dim=-1)).mean()


HIDDEN_LOSSES = {"mse": hidden_mse_loss, "cosine": hidden_cosine_loss}


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real (unpadded) tokens. hidden: (batch, seq, width); mask: (batch, seq) -> (batch, width)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)
