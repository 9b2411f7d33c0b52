"""Where the teacher helped: the held-out examples on which the distilled student and the control (same
architecture, data and budget, no teacher) disagree about being right, with the teacher's soft targets next to
each. Read from a run's test_outputs.json (the first training seed's logits on the test split)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import softmax

from distill_core.core.errors import DistillLabError
from distill_core.core.run_files import read_json_or_none
from distill_core.runs.folders import resolve_run_dir

GROUPS = {"student_only": "student right, control wrong", "control_only": "control right, student wrong"}
TEXT_CHARS = 400  # longer texts are cut in tables


@dataclass
class Disagreements:
    """One run's test examples split by who got them right; tables hold one row per example, the most telling
    first (the largest gap between the student's and the control's probability of the right class)."""

    label_names: list[str]
    temperature: float  # the run's distillation temperature T, at which the soft targets are shown
    seed: int  # the training seed whose student and control answered
    label: str | None  # the class the examples were filtered to (their true class), or None for all
    counts: dict[str, int]  # student_only, control_only, both (right), neither
    tables: dict[str, pd.DataFrame]  # student_only, control_only

    @property
    def examples(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        """One sentence: how many examples each side won, and the net."""
        c = self.counts
        where = f" of class {self.label!r}" if self.label else ""
        net = c["student_only"] - c["control_only"]
        return (f"Of {self.examples} test examples{where}, the student got {c['student_only']} right that the "
                f"control got wrong, and the control {c['control_only']} that the student got wrong (net "
                f"{net:+d}, {net / self.examples:+.1%} of the examples); both right on {c['both']}, both wrong on "
                f"{c['neither']}." if self.examples else f"No test examples{where}.")


def _answer(probs: np.ndarray, names: list[str]) -> str:
    top = int(probs.argmax())
    return f"{names[top]} {probs[top]:.0%}"


def _soft_targets(probs: np.ndarray, names: list[str], shown: int = 3) -> str:
    """The teacher's top classes with their probabilities, e.g. "great 71% · other 29%"."""
    order = np.argsort(-probs)[:shown]
    return " · ".join(f"{names[i]} {probs[i]:.0%}" for i in order)


def disagreements(run_ref: str, label: str | None = None) -> Disagreements | None:
    """The run's disagreements, optionally only examples whose true class is `label`; None when the run kept no
    per-example outputs (runs of tasks without classes, or from before this was saved)."""
    folder = resolve_run_dir(run_ref)
    data = read_json_or_none(folder, "test_outputs.json")
    outputs = (data or {}).get("outputs") or {}
    if not data or not {"teacher", "student", "control"} <= set(outputs):
        return None
    config = (read_json_or_none(folder, "results.json") or {}).get("config") or \
        read_json_or_none(folder, "config.json") or {}
    temperature = float((config.get("loss") or {}).get("temperature", 1.0))
    return disagreements_of(data, temperature, label)


def disagreements_of(data: dict, temperature: float, label: str | None = None) -> Disagreements:
    """disagreements() on a test_outputs.json dict: {"texts", "labels", "label_names", "seed", "outputs":
    {"teacher", "student", "control": (examples, classes) logits}}."""
    names = list(data["label_names"])
    labels = np.asarray(data["labels"], dtype=int)
    texts = list(data["texts"])
    student = softmax(np.asarray(data["outputs"]["student"], dtype=float), axis=-1)
    control = softmax(np.asarray(data["outputs"]["control"], dtype=float), axis=-1)
    teacher_logits = np.asarray(data["outputs"]["teacher"], dtype=float)
    soft = softmax(teacher_logits / temperature, axis=-1)
    teacher = softmax(teacher_logits, axis=-1)
    if label is not None and label not in names:
        raise DistillLabError(f"class {label!r} is not one of the run's classes ({', '.join(names)})", "class")
    keep = np.ones(len(labels), bool) if label is None else labels == names.index(label)
    s_right = student.argmax(-1) == labels
    c_right = control.argmax(-1) == labels
    masks = {"student_only": s_right & ~c_right & keep, "control_only": c_right & ~s_right & keep,
             "both": s_right & c_right & keep, "neither": ~s_right & ~c_right & keep}
    rows = np.arange(len(labels))
    gap = student[rows, labels] - control[rows, labels]  # how much surer of the right class the student is

    def table(mask: np.ndarray, descending: bool) -> pd.DataFrame:
        picked = sorted(np.flatnonzero(mask), key=lambda i: -gap[i] if descending else gap[i])
        return pd.DataFrame({
            "text": [texts[i][:TEXT_CHARS] + ("…" if len(texts[i]) > TEXT_CHARS else "") for i in picked],
            "true class": [names[labels[i]] for i in picked],
            "student": [_answer(student[i], names) for i in picked],
            "control": [_answer(control[i], names) for i in picked],
            "teacher": [_answer(teacher[i], names) for i in picked],
            f"teacher's soft targets (T={temperature:g})": [_soft_targets(soft[i], names) for i in picked]},
            columns=["text", "true class", "student", "control", "teacher",
                     f"teacher's soft targets (T={temperature:g})"])

    return Disagreements(names, temperature, int(data.get("seed", 0)), label,
                         {k: int(m.sum()) for k, m in masks.items()},
                         {"student_only": table(masks["student_only"], True),
                          "control_only": table(masks["control_only"], False)})
