"""Causal-LM presets: name -> (one-line description, RunConfig)."""

from __future__ import annotations

from distill_core.core.config import BudgetConfig, DataConfig, LossConfig, RunConfig, StudentConfig, TeacherConfig
from distill_core.tasks.causal_lm import NAME as TASK
from distill_core.tasks.causal_lm.config import LMConfig

PRESETS: dict[str, tuple[str, RunConfig]] = {
    "smollm2-reviews": (
        "Language model: SmolLM2-135M-Instruct (30 layers) teaches a student that keeps the 10 layers the "
        "layer-importance scan ranks highest to continue review text, from its cached top-64 next-token "
        "distributions and an unlikelihood term against loops; ~9 min on 2 CPU cores.",
        RunConfig(
            name="smollm2-reviews", task=TASK,
            teacher=TeacherConfig(model="smollm2"),
            # The 10 layers with the highest block influence (`distill-lab scan --preset smollm2-reviews`, 16 of
            # the run's blocks): held-out perplexity 92.9 after 200 steps against 104.6 for the first 4 + last 6
            # layers (benchmarks/bench_lm_levers.py; README "Language models").
            student=StudentConfig(kind="keep-layers", layers=[0, 1, 20, 21, 22, 23, 24, 27, 28, 29], num_layers=10),
            data=DataConfig(source="reviews"),
            loss=LossConfig(temperature=1.0, alpha=0.5),
            # Minutes, not steps: on a shared 2-core CPU a step takes 4-20 s, so a time budget keeps the run near
            # 10 minutes; the control trains the same number of steps the student reached.
            budget=BudgetConfig(unit="minutes", value=2.0, eval_every=20),
            # 400 training blocks, each seen about once in 2 minutes of bf16 training: student perplexity 104.7
            # against 123.8 with 160 blocks, which it saw 2.5 times (the teacher's top-k: +45 s; README).
            # Token-level unlikelihood 1.0 (student and control alike): without it the student's greedy
            # continuations of 16 held-out starts repeated 39% of their 4-grams (the teacher's 7%), with it 13%, at
            # held-out perplexity 92.9 instead of 91.6 (200 steps); weight 3.0: 8%, but perplexity 104.2.
            sections={"lm": LMConfig(top_k=64, divergence="kl", train_blocks=400, validation_blocks=8, eval_blocks=16,
                                     unlikelihood=1.0, prompt="I bought this for my kitchen and",
                                     max_new_tokens=32)},
            # Batch 2 at lr 1e-3 beat batch 4 at 3e-4, 1e-3 or 2e-3 for the same tokens (16-step trials).
            # One training seed: each seed costs ~4 more minutes here (student and control), so the verdict covers
            # the held-out blocks' noise only, and says so; `--seeds 3` buys the seed-to-seed interval.
            batch_size=2, learning_rate=1e-3, max_length=128, seeds=1,
        ),
    ),
    "smollm2-tiny": (
        "Language-model smoke test: SmolLM2 teaches a 2-layer student on 16 blocks of review text for 4 steps; "
        "a minute or two once the teacher is converted. Quality is not the point.",
        RunConfig(
            name="smollm2-tiny", task=TASK,
            teacher=TeacherConfig(model="smollm2"),
            student=StudentConfig(kind="keep-layers", layers=[0, 29], num_layers=2),
            data=DataConfig(source="reviews"),
            loss=LossConfig(temperature=1.0, alpha=0.5),
            budget=BudgetConfig(unit="steps", value=4, eval_every=2),
            sections={"lm": LMConfig(top_k=32, train_blocks=16, validation_blocks=2, eval_blocks=4, max_new_tokens=8)},
            measure=False,  # `distill-lab bench RUN` measures it on demand
            batch_size=4, learning_rate=1e-3, max_length=64, seeds=1,
        ),
    ),
}
