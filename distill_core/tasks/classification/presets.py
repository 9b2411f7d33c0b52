"""Classification presets: name -> (one-line description, RunConfig)."""

from __future__ import annotations

from distill_core.core.config import BudgetConfig, DataConfig, LossConfig, RunConfig, StudentConfig, TeacherConfig

PRESETS: dict[str, tuple[str, RunConfig]] = {
    "reviews-sentiment": (
        "Workshop preset: MiniLM (6 layers) fine-tuned on product reviews teaches a 2-layer student that keeps "
        "two of its layers, with augmented reviews as extra transfer text; the teacher is fine-tuned once and cached.",
        RunConfig(
            name="reviews-sentiment",
            teacher=TeacherConfig(model="minilm", finetune_epochs=1.5, finetune_lr=2e-4, finetune_layers=3),
            student=StudentConfig(kind="keep-layers", num_layers=2, init_from="teacher"),
            data=DataConfig(source="reviews", transfer="augment", transfer_copies=1),
            loss=LossConfig(temperature=2.0, alpha=0.5),
            # Three training seeds for a verdict. 90 steps each, not 120: 3 seeds x 120 steps took ~13 min on the
            # 2-core dev VM with the teacher cached, 90 steps 10.2 min, 60 steps 7.0 min but a student 3.5 points
            # worse than at 120 (below the control); see the issue 13 closing note.
            budget=BudgetConfig(unit="steps", value=90, eval_every=45),
            batch_size=32, learning_rate=1e-4, max_length=128, seeds=3,
        ),
    ),
    "reviews-tiny": (
        "Smoke test: 128 training reviews, a 1-layer student, a few steps; under a minute. Quality is not the point.",
        RunConfig(
            name="reviews-tiny",
            teacher=TeacherConfig(model="minilm", finetune_epochs=1.0, finetune_lr=2e-4),
            student=StudentConfig(kind="keep-layers", num_layers=1),
            data=DataConfig(source="reviews", max_train_examples=128, transfer="augment", transfer_limit=64),
            loss=LossConfig(temperature=2.0, alpha=0.5),
            budget=BudgetConfig(unit="steps", value=8, eval_every=4),
            measure=False,  # a smoke test; `distill-lab bench RUN` measures it on demand
            batch_size=16, learning_rate=2e-4, max_length=64, seeds=1,
        ),
    ),
}
