"""The whole run on a tiny teacher: folders, results and the control's fairness."""

import json

import pytest
from transformers import AutoModelForSequenceClassification

from distill_core.core.errors import DistillLabError
from distill_core.runs.pipeline import run_experiment


def test_run_saves_student_control_and_results(tiny_config, tmp_path):
    events = []
    results = run_experiment(tiny_config, tmp_path / "run", on_progress=events.append)
    run = tmp_path / "run"
    for name in ("config.json", "preflight.json", "history.json", "results.json"):
        assert (run / name).exists(), name
    model = AutoModelForSequenceClassification.from_pretrained(run / "student")
    assert model.config.num_hidden_layers == 2
    assert (run / "student" / "model.safetensors").exists()
    assert set(results["quality"]["variants"]) == {"teacher", "student", "control"}
    assert results["training"]["control"]["steps"] == results["training"]["student"]["steps"] == 4
    assert json.loads((run / "results.json").read_text())["quality"]["split"] == "test"
    assert {e.phase for e in events} >= {"student", "control", "evaluate", "done"}


def test_max_length_above_the_models_limit_is_refused_before_training(tiny_config, tmp_path):
    with pytest.raises(DistillLabError) as info:  # the tiny teacher has 128 positions
        run_experiment(tiny_config.replace(max_length=512), tmp_path / "run")
    assert info.value.field == "max_length" and "above the model's limit of 128 tokens" in info.value.message
    assert not (tmp_path / "run" / "student").exists()


def test_fewer_training_rows_than_a_batch_is_refused_naming_batch_size(tiny_config, tmp_path):
    with pytest.raises(DistillLabError) as info:
        run_experiment(tiny_config.replace(batch_size=512), tmp_path / "run")
    assert info.value.field == "batch_size" and "is larger than the" in info.value.message
    assert "training rows; lower batch_size or add data" in info.value.message
