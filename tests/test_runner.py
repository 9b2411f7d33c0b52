"""The whole run on a tiny teacher: folders, results and the control's fairness."""

import json

from transformers import AutoModelForSequenceClassification

from distill_core.runner import run_experiment


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
