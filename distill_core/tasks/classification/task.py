"""Text classification: a teacher classifier's soft labels teach a smaller classifier (Hinton et al., 2015)."""

from __future__ import annotations

from pathlib import Path

from distill_core.tasks.base import QualitySpec, Task
from distill_core.tasks.classification import NAME


class ClassificationTask(Task):
    name = NAME
    title = "Text classification"
    quality = QualitySpec("accuracy", True,
                          ("accuracy", "macro_f1", "ece", "agreement", "kl_from_teacher", "retention",
                           "distillation_gain"), split="test", example_scores="correct", binary=True,
                          example_outputs="logits")
    class_distributions = True
    playground = "classes"
    runtimes = ("pytorch", "onnxruntime")
    steps_module = "distill_core.tasks.classification.run"
    bench_module = "distill_core.tasks.classification.bench"
    offline_data = ("reviews", "courses", "augment", "tweets")  # data.BUILTIN_SOURCES and load_transfer's names

    def scan_layers(self, config, device: str = "cpu"):
        from distill_core.tasks.classification.scan import scan_teacher

        return scan_teacher(config, device=device)

    def quality_warnings(self, variants: dict[str, dict]) -> list[str]:
        from distill_core.tasks.classification.teacher_check import control_warning

        if "control" not in variants:
            return []
        line = control_warning(variants["teacher"]["accuracy"], variants["control"]["accuracy"])
        return [line] if line else []

    def presets(self) -> dict:
        from distill_core.tasks.classification.presets import PRESETS

        return PRESETS

    # --- pre-flight
    def teacher_config(self, config):
        from distill_core.models import loading

        return loading.load_config(config.teacher.model, config.teacher.trust_remote_code)

    def model_from_config(self, hf_config):
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_config(hf_config)

    def compatibility(self, config, teacher_config, student_config):
        """A student with a trained head must predict the teacher's labels."""
        from distill_core.models import loading

        if config.student.kind != "model":
            return None, None
        student_labels = loading.trained_labels(student_config)
        teacher_labels = None if config.teacher.finetune_epochs > 0 else loading.trained_labels(teacher_config)
        if student_labels and teacher_labels and sorted(student_labels) != sorted(teacher_labels):
            return (f"student predicts labels {student_labels} but the teacher predicts {teacher_labels}: soft "
                    "targets need the same label space", "student.model")
        return None, None

    def preflight_notes(self, config, teacher_config, student_config) -> list[str]:
        notes = []
        if config.student.trim_vocab:
            notes.append("the student's vocabulary is trimmed when the run starts, to the tokens of the training and "
                         "transfer texts (plus special and single-character tokens): its size here still counts "
                         "every token; the run's pre-flight record gives the trimmed size")
        if config.student.kind != "model":
            return notes
        t_vocab, s_vocab = getattr(teacher_config, "vocab_size", None), getattr(student_config, "vocab_size", None)
        if t_vocab == s_vocab:
            return notes
        return notes + [f"student vocab ({s_vocab}) differs from the teacher's ({t_vocab}): fine for a classifier (it "
                        "tokenizes the texts itself), but its inputs are not the teacher's tokens"]


    # --- the Playground
    def load_variant(self, run_dir: Path, ref: str, trust_remote_code: bool):
        from distill_core.tasks.classification import playground

        return playground.load_variant(run_dir, ref, trust_remote_code)

    def classify(self, model, tokenizer, text: str, max_length: int) -> tuple[list[float], float]:
        from distill_core.tasks.classification import playground

        return playground.classify(model, tokenizer, text, max_length)

    def example_inputs(self, config: dict, n: int = 6) -> list[str]:
        from distill_core.tasks.classification import playground

        return playground.example_inputs(config, n)
