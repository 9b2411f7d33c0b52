"""The numbers the Learn page explains, on a real teacher's logits: soft targets at a temperature, the dark
knowledge in them, and how KL to soft targets differs from cross-entropy on the hard label."""

from __future__ import annotations

import math
from dataclasses import dataclass


def soft_targets(logits: list[float], temperature: float) -> list[float]:
    """softmax(logits / T): T > 1 flattens the distribution, T < 1 sharpens it (Hinton et al., 2015)."""
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    scaled = [x / temperature for x in logits]
    top = max(scaled)
    exps = [math.exp(x - top) for x in scaled]
    total = sum(exps)
    return [e / total for e in exps]


def entropy_bits(probs: list[float]) -> float:
    """Shannon entropy in bits: 0 for a one-hot target, log2(classes) for a uniform one."""
    return -sum(p * math.log2(p) for p in probs if p > 0)


def dark_knowledge(labels: list[str], probs: list[float]) -> list[tuple[str, float]]:
    """The wrong-but-plausible labels: every label except the top one, by probability, highest first."""
    top = max(range(len(probs)), key=probs.__getitem__)
    return sorted(((labels[i], p) for i, p in enumerate(probs) if i != top), key=lambda x: -x[1])


def second_best(probs: list[float]) -> float:
    """The probability of the runner-up class: how much a soft target says besides its top answer."""
    return sorted(probs, reverse=True)[1] if len(probs) > 1 else 0.0


def most_ambiguous(logits_per_text: list[list[float]]) -> int:
    """Index of the text whose runner-up class gets the highest probability (logits: one list per text): the
    example where the teacher's dark knowledge shows most."""
    return max(range(len(logits_per_text)), key=lambda i: second_best(soft_targets(logits_per_text[i], 1.0)))


def dark_knowledge_note(dark: list[tuple[str, float]], temperature: float) -> str:
    """One sentence on what the wrong labels (`dark_knowledge`'s list, highest first) tell a student here."""
    if len(dark) == 1:
        name, p = dark[0]
        return (f"With two classes there is little of it: one wrong label, {name} at {p:.1%}, whose probability is "
                "just one minus the top one's. With many classes (topics, intents, next tokens) it is most of the "
                "signal: which wrong answers are nearly right.")
    (near, p_near), (far, p_far) = dark[0], dark[-1]
    return (f"With {len(dark) + 1} classes the wrong labels are ranked: at T = {temperature:g} the teacher gives "
            f"the nearest, {near}, {p_near:.1%} and the farthest, {far}, {p_far:.1%}. A hard label says only that "
            "both are wrong; the soft target also teaches the student which wrong answers are nearly right.")


@dataclass
class LossComparison:
    """For one student prediction: the two terms a distillation loss mixes (nats)."""

    cross_entropy: float  # -log q(label): only the probability of the true label counts
    kl_soft: float  # KL(p_T || q_T) * T^2: every class's probability counts, scaled as in training
    temperature: float


def compare_losses(teacher_logits: list[float], student_logits: list[float], label: int,
                   temperature: float) -> LossComparison:
    """Cross-entropy on the hard label vs the temperature-scaled KL to the teacher's soft targets."""
    q = soft_targets(student_logits, 1.0)
    p_t = soft_targets(teacher_logits, temperature)
    q_t = soft_targets(student_logits, temperature)
    kl = sum(p * (math.log(p) - math.log(max(qq, 1e-12))) for p, qq in zip(p_t, q_t) if p > 0)
    return LossComparison(-math.log(max(q[label], 1e-12)), kl * temperature ** 2, temperature)
