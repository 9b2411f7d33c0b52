"""Task-neutral quality arithmetic: how much of the teacher a variant keeps, and what the teacher added."""

from __future__ import annotations


def retention(variant_metric: float, teacher_metric: float, higher_is_better: bool = True) -> float:
    """A variant's quality as a fraction of the teacher's (1.0 = all kept). For a lower-is-better metric such as
    perplexity it is teacher / variant: a student at twice the teacher's perplexity retains 0.5."""
    if not higher_is_better:
        variant_metric, teacher_metric = teacher_metric, variant_metric
    return variant_metric / teacher_metric if teacher_metric else float("nan")


def distillation_gain(student_metric: float, control_metric: float, higher_is_better: bool = True) -> float:
    """Student quality minus control quality (same architecture, init, data and budget, no teacher); positive means
    the teacher helped. For a lower-is-better metric such as perplexity it is control - student."""
    return student_metric - control_metric if higher_is_better else control_metric - student_metric
