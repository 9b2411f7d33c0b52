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


def test_several_seeds_share_one_teacher_and_report_each_seed_and_the_verdict(tiny_config, tmp_path, monkeypatch):
    from distill_core.tasks.classification import run as steps
    from distill_core.tasks.classification import teacher as teacher_mod

    calls = {"prepare_teacher": 0, "teacher_targets": 0}

    def counting(name, fn):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(steps, "prepare_teacher", counting("prepare_teacher", teacher_mod.prepare_teacher))
    monkeypatch.setattr(steps, "teacher_targets", counting("teacher_targets", steps.teacher_targets))
    results = run_experiment(tiny_config.replace(seeds=3, seed=5), tmp_path / "run")
    assert calls == {"prepare_teacher": 1, "teacher_targets": 1}
    gain = results["quality"]["gain"]
    assert gain["seeds"] == [5, 6, 7] and len(gain["per_seed"]) == 3
    assert gain["interval_method"] == "t over 3 seeds"
    assert gain["verdict"] in ("helped", "no-effect", "hurt")
    per_seed = results["training"]["seeds"]
    assert [r["seed"] for r in per_seed] == [5, 6, 7]
    assert all(r["student_steps"] == r["control_steps"] == 4 for r in per_seed)
    # The first seed's models are the saved ones, and its numbers are the variants' numbers.
    q = results["quality"]["variants"]
    assert per_seed[0]["student"] == q["student"]["accuracy"] and per_seed[0]["control"] == q["control"]["accuracy"]
    assert gain["per_seed"][0]["gain"] == pytest.approx(q["student"]["accuracy"] - q["control"]["accuracy"])
    assert results["quality"]["distillation_gain"] == pytest.approx(sum(g["gain"] for g in gain["per_seed"]) / 3)
    assert "correct" not in q["student"]  # per-example scores live in example_scores.json
    scores = json.loads((tmp_path / "run" / "example_scores.json").read_text())
    assert scores["seeds"] == [5, 6, 7] and len(scores["student"]) == 3
    assert sum(scores["student"][0]) / len(scores["student"][0]) == pytest.approx(q["student"]["accuracy"])
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert {"student", "control", "student-seed-6", "control-seed-7"} <= set(history)
    # The first seed's per-example logits, with the examples, for "where the teacher helped"; none in results.
    assert not any("logits" in r for r in q.values()) and "logits" not in json.dumps(results["training"])
    outputs = json.loads((tmp_path / "run" / "test_outputs.json").read_text())
    assert outputs["seed"] == 5 and set(outputs["outputs"]) == {"teacher", "student", "control"}
    n = len(outputs["labels"])
    assert n == len(outputs["texts"]) == q["student"]["examples"]
    for variant, logits in outputs["outputs"].items():
        assert len(logits) == n and len(logits[0]) == len(outputs["label_names"])
        right = [int(max(range(len(row)), key=row.__getitem__) == label) for row, label in zip(logits, outputs["labels"])]
        assert sum(right) / n == pytest.approx(q[variant]["accuracy"], abs=1.5 / n)  # ties aside, the same answers


def test_seeds_draw_different_training_but_the_same_split(tiny_config, tmp_path):
    a = run_experiment(tiny_config.replace(seed=1), tmp_path / "a")
    b = run_experiment(tiny_config.replace(seed=2), tmp_path / "b")
    assert a["data"]["fingerprint"] == b["data"]["fingerprint"]
    assert a["teacher"]["fingerprint"] == b["teacher"]["fingerprint"]
    from safetensors.torch import load_file

    wa, wb = (load_file(str(tmp_path / r / "student" / "model.safetensors")) for r in ("a", "b"))
    assert any(not (wa[k] == wb[k]).all() for k in wa)  # another data order: other weights


def test_a_control_given_the_teachers_compute_trains_longer(tiny_config, tmp_path):
    from distill_core.runs.pipeline import teacher_compute_steps

    # 1000 labeled inputs at 6 GFLOPs each = 6 TFLOPs; a control step: 3 x 2 GFLOPs x 32 inputs = 192 GFLOPs.
    preflight = {"teacher": {"flops_per_input": 6e9}, "student": {"flops_per_input": 2e9}}
    assert teacher_compute_steps(preflight, 1000, 32) == 32  # ceil(6000 / 192) = 31.25 -> 32
    results = run_experiment(tiny_config.replace(control_budget="teacher-compute"), tmp_path / "run")
    training = results["training"]
    extra = training["control_extra_steps"]
    assert extra == teacher_compute_steps(results["preflight"], results["data"]["train"] + results["data"]["transfer"],
                                          tiny_config.batch_size) > 0
    assert training["control"]["steps"] == training["student"]["steps"] + extra
