"""Classification presets: name -> (one-line description, RunConfig)."""

from __future__ import annotations

from distill_core.core.config import BudgetConfig, DataConfig, LossConfig, RunConfig, StudentConfig, TeacherConfig

PRESETS: dict[str, tuple[str, RunConfig]] = {
    "reviews-sentiment": (
        "Workshop preset: MiniLM (6 layers), fine-tuned on all 3,600 labeled product reviews, teaches a 2-layer "
        "student that sees only 300 of the labels and learns the rest from the teacher's soft targets on the other "
        "3,300 reviews. The control gets the same 300 labels and steps without the teacher; both pick their learning "
        "rate on validation. The teacher is fine-tuned once and cached.",
        RunConfig(
            name="reviews-sentiment",
            teacher=TeacherConfig(model="minilm", finetune_epochs=1.5, finetune_lr=2e-4, finetune_layers=3),
            # Few labels, plenty of text only the teacher labels: where soft targets carry what labels alone do not
            # (Hinton et al. 2015). Measured on the 2-core dev VM (issue 14 closing note): student 79.8% (95.9% of
            # the teacher on seed 0) vs control 74.9%, +4.9 points (95% CI +1.7 to +8.1) over 3 seeds; with all
            # 3,600 labels for both (the previous preset: augmented transfer text, alpha 0.5, one learning rate) the
            # gain was within noise (+0.9, CI -3.1 to +4.8).
            student=StudentConfig(kind="keep-layers", num_layers=2, init_from="teacher", trim_vocab=True),
            data=DataConfig(source="reviews", student_labels=300),
            loss=LossConfig(temperature=2.0, alpha=0.9),
            budget=BudgetConfig(unit="steps", value=120, eval_every=45),
            batch_size=32, learning_rate=1e-4, learning_rate_candidates=[1e-4, 5e-4], max_length=128, seeds=3,
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
