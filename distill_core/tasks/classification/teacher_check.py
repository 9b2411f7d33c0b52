"""Is the teacher worth distilling from? Checked before the student trains, on the validation split: a teacher that
answers one class for almost everything, or that is no better than always answering the majority class, passes
little knowledge on (the student and control then copy the labels' majority). Afterwards the control's quality tells
whether the teacher beats what a student reaches alone.

All accuracies are fractions (0.658 = 65.8%)."""

from __future__ import annotations

from collections import Counter

import torch

STUCK_SHARE = 0.95  # one predicted class for at least this share of the validation texts: stuck
MAJORITY_MARGIN = 0.01  # a teacher within 1 point of the majority-class baseline has learned next to nothing
CONTROL_MARGIN = 0.005  # a control within half a point of the teacher (or above it) leaves the teacher nothing to add


def check_teacher(val_logits: torch.Tensor, val_labels: list[int], train_labels: list[int],
                  label_names: list[str]) -> dict:
    """The teacher's validation accuracy next to the majority-class baseline (the most common train label), the
    share of its most predicted class, and the warnings they call for (a list of sentences; empty when fine)."""
    labels = torch.as_tensor(val_labels)
    preds = val_logits.argmax(-1)
    n = len(labels)
    accuracy = int((preds == labels).sum()) / n if n else float("nan")
    majority = Counter(train_labels).most_common(1)[0][0]
    majority_accuracy = int((labels == majority).sum()) / n if n else float("nan")
    top_class, top_count = Counter(preds.tolist()).most_common(1)[0] if len(preds) else (majority, 0)
    predicted_share = top_count / len(preds) if len(preds) else 0.0
    warnings = []
    if predicted_share >= STUCK_SHARE and len(set(val_labels)) > 1:
        warnings.append(f"the teacher answers {label_names[top_class]!r} for {predicted_share:.0%} of the validation "
                        "texts: it is stuck on one class, so its soft targets carry little; fine-tune it longer "
                        "(teacher.finetune_epochs), with more layers (teacher.finetune_layers) or another learning "
                        "rate (teacher.finetune_lr)")
    if round(accuracy - majority_accuracy, 9) <= MAJORITY_MARGIN:
        warnings.append(f"the teacher's validation accuracy ({accuracy:.1%}) is no better than always answering the "
                        f"majority class {label_names[majority]!r} ({majority_accuracy:.1%}): distilling it teaches "
                        "the student little beyond the labels")
    return {"validation_accuracy": accuracy, "majority_class": label_names[majority],
            "majority_accuracy": majority_accuracy, "predicted_class": label_names[top_class],
            "predicted_share": predicted_share, "warnings": warnings}


def control_warning(teacher_accuracy: float, control_accuracy: float, split: str = "test") -> str | None:
    """A sentence when the control (no teacher) comes within CONTROL_MARGIN of the teacher or above it, else None."""
    if round(teacher_accuracy - control_accuracy, 9) > CONTROL_MARGIN:
        return None
    return (f"the control alone reaches {control_accuracy:.1%} on the {split} split against the teacher's "
            f"{teacher_accuracy:.1%}: a teacher no better than a student trained without it has nothing to add; "
            "prepare a stronger teacher (more fine-tuning, a larger model) before reading the gain")
