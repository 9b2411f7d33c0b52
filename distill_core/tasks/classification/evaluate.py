"""Quality of a variant on held-out data: one function per metric, reused by the loop, the CLI and the exports.

Logits are (examples, classes) float tensors; labels are (examples,) int tensors.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from distill_core.measure.quality import distillation_gain, retention
from distill_core.tasks.classification.data import pad_batch, sorted_batches


@torch.inference_mode()
def predict_logits(model, ids: list[list[int]], pad_id: int, batch_size: int = 64, device: str = "cpu",
                   hidden_layers: list[int] | None = None):
    """Logits (examples, classes) in input order; with `hidden_layers`, also each listed hidden state mean-pooled
    over real tokens, {layer: (examples, width)} (layer i is the output of transformer block i)."""
    from distill_core.tasks.classification.losses import masked_mean

    model.eval()
    logits = [None] * len(ids)
    hidden = {layer: [None] * len(ids) for layer in hidden_layers or []}
    for batch in sorted_batches([len(x) for x in ids], batch_size):
        input_ids, mask = pad_batch([ids[i] for i in batch], pad_id)
        out = model(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                    output_hidden_states=bool(hidden_layers))
        batch_logits = out.logits.float().cpu()
        for row, i in enumerate(batch):
            logits[i] = batch_logits[row]
        for layer in hidden:
            pooled = masked_mean(out.hidden_states[layer + 1].float(), mask.to(device)).cpu()
            for row, i in enumerate(batch):
                hidden[layer][i] = pooled[row]
    stacked = torch.stack(logits) if logits else torch.zeros(0, model.config.num_labels)
    if hidden_layers:
        return stacked, {layer: torch.stack(rows) for layer, rows in hidden.items()}
    return stacked


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of examples whose top-1 class is the label."""
    return float((logits.argmax(-1) == labels).float().mean()) if len(labels) else float("nan")


def macro_f1(logits: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None) -> float:
    """Unweighted mean over classes of F1 = 2 TP / (2 TP + FP + FN)."""
    preds = logits.argmax(-1)
    k = num_classes or logits.shape[-1]
    scores = []
    for c in range(k):
        tp = int(((preds == c) & (labels == c)).sum())
        fp = int(((preds == c) & (labels != c)).sum())
        fn = int(((preds != c) & (labels == c)).sum())
        scores.append(2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0)
    return float(np.mean(scores))


def agreement(teacher_logits: torch.Tensor, logits: torch.Tensor) -> float:
    """Share of inputs where the variant's top-1 equals the teacher's top-1."""
    return float((teacher_logits.argmax(-1) == logits.argmax(-1)).float().mean())


def mean_kl(teacher_logits: torch.Tensor, logits: torch.Tensor) -> float:
    """Mean over inputs of KL(p_teacher || p_variant) in nats, at temperature 1."""
    return float(F.kl_div(F.log_softmax(logits.float(), -1), F.log_softmax(teacher_logits.float(), -1),
                          log_target=True, reduction="batchmean"))


def expected_calibration_error(logits: torch.Tensor, labels: torch.Tensor, bins: int = 10) -> float:
    """ECE: sum over confidence bins of (bin share) * |accuracy - mean confidence| (Guo et al., 2017)."""
    probs = logits.float().softmax(-1)
    confidence, preds = probs.max(-1)
    correct = (preds == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            ece += float(in_bin.float().mean()) * abs(float(correct[in_bin].mean()) - float(confidence[in_bin].mean()))
    return ece


def quality_report(logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor | None) -> dict:
    """All quality metrics of one variant on one labeled set, "correct": 1/0 per example (the paired tests') and
    "logits": (examples, classes) as lists rounded to 4 decimals (where the teacher helped)."""
    report = {"accuracy": accuracy(logits, labels), "macro_f1": macro_f1(logits, labels),
              "ece": expected_calibration_error(logits, labels), "examples": int(len(labels)),
              "correct": (logits.argmax(-1) == labels).int().tolist(),
              "logits": torch.round(logits.float(), decimals=4).tolist()}
    if teacher_logits is not None:
        report["agreement"] = agreement(teacher_logits, logits)
        report["kl_from_teacher"] = mean_kl(teacher_logits, logits)
    return report


def quality_table(variant_logits: dict[str, torch.Tensor], labels: torch.Tensor, reference: str = "teacher",
                  metric: str = "accuracy", reference_metric: float | None = None) -> dict:
    """quality_report of every variant against the reference's (teacher's) logits, plus retention of `metric`;
    `reference_metric` stands in when the reference itself has no logits. Also distillation gain (student - control).
    Returns {"metric", "variants": {name: report}, "distillation_gain"}."""
    reference_logits = variant_logits.get(reference)
    variants = {name: quality_report(logits, labels, reference_logits) for name, logits in variant_logits.items()}
    for report in variants.values():
        report.pop("correct")  # per-example: the run's paired tests use them, a measurement does not
        report.pop("logits")
    base = variants[reference][metric] if reference in variants else reference_metric
    for report in variants.values():
        report["retention"] = retention(report[metric], base) if base is not None else None
    gain = None
    if "student" in variants and "control" in variants:
        gain = distillation_gain(variants["student"][metric], variants["control"][metric])
    return {"metric": metric, "variants": variants, "distillation_gain": gain}
