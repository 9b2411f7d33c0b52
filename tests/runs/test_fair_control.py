"""A fair control: the learning rate is tuned alike for student and control, and the student can learn from fewer
labels than the teacher (the rest of the train split becomes transfer text only the teacher labels)."""

import json

import numpy as np
import pytest
from safetensors.torch import load_file

from distill_core.core.config import ConfigError, validate
from distill_core.core.errors import DistillLabError
from distill_core.runs.pipeline import run_experiment


def _scripted_validation(monkeypatch, prefer: dict[str, float]):
    """Wrap the classification task's train: record each call (phase, learning rate, seed) with the weights it left,
    and replace its validation score so that `prefer[phase]` scores best (0.9) and other rates 0.1."""
    from distill_core.tasks.classification import run as steps

    calls = []
    real_train = steps.train

    def train(ctx, prepared, targets, phase, steps_):
        trained = real_train(ctx, prepared, targets, phase, steps_)
        lr = ctx.config.learning_rate
        trained.validation = 0.9 if lr == prefer[phase] else 0.1
        calls.append((phase, lr, ctx.config.seed,
                      {k: v.clone() for k, v in prepared.student.state_dict().items()}))
        return trained

    monkeypatch.setattr(steps, "train", train)
    return calls


def test_student_and_control_each_get_the_best_candidate_on_validation(tiny_config, tmp_path, monkeypatch):
    calls = _scripted_validation(monkeypatch, {"student": 5e-3, "control": 1e-5})
    config = tiny_config.replace(learning_rate_candidates=[1e-5, 5e-3], seeds=2, seed=3)
    results = run_experiment(config, tmp_path / "run")

    # Every student, then every control. First seed: every candidate; second seed: the phase's chosen rate only.
    assert [(phase, lr, seed) for phase, lr, seed, _ in calls] == [
        ("student", 1e-5, 3), ("student", 5e-3, 3), ("student", 5e-3, 4),
        ("control", 1e-5, 3), ("control", 5e-3, 3), ("control", 1e-5, 4)]
    rates = results["training"]["learning_rates"]
    assert rates["student"]["chosen"] == 5e-3 and rates["control"]["chosen"] == 1e-5
    assert [(t["learning_rate"], t["validation"]) for t in rates["student"]["trials"]] == [(1e-5, 0.1), (5e-3, 0.9)]
    assert [t["learning_rate"] for t in rates["control"]["trials"]] == [1e-5, 5e-3]  # the same candidates

    # The saved first-seed models are the chosen trials' weights, not the last trial's.
    run = tmp_path / "run"
    for phase, chosen_call in (("student", 1), ("control", 3)):
        saved = load_file(str(run / phase / "model.safetensors"))
        chosen = calls[chosen_call][3]
        assert all(np.array_equal(saved[k].numpy(), chosen[k].numpy()) for k in saved)
    other = calls[4][3]  # the control's 5e-3 trial, trained last on the first seed
    saved = load_file(str(run / "control" / "model.safetensors"))
    assert any(not np.array_equal(saved[k].numpy(), other[k].numpy()) for k in saved)
    history = json.loads((run / "history.json").read_text())
    assert {"student-lr-1e-05", "student-lr-0.005", "control-lr-1e-05", "control-lr-0.005", "student",
            "student-seed-4"} <= set(history)


def test_a_tie_on_validation_goes_to_the_lower_validation_loss(tiny_config, tmp_path, monkeypatch):
    from distill_core.tasks.classification import run as steps

    real_train = steps.train
    losses = {1e-5: 0.70, 5e-3: 0.40}  # the later candidate has the lower loss: list order must not decide

    def train(ctx, prepared, targets, phase, steps_):
        trained = real_train(ctx, prepared, targets, phase, steps_)
        assert trained.validation_loss is not None and trained.validation_loss > 0  # the real trainer reports it
        lr = ctx.config.learning_rate
        trained.validation = 0.75
        trained.validation_loss = losses[lr] if phase == "student" else 1.0 - losses[lr]
        return trained

    monkeypatch.setattr(steps, "train", train)
    results = run_experiment(tiny_config.replace(learning_rate_candidates=[1e-5, 5e-3], measure=False),
                             tmp_path / "run")
    rates = results["training"]["learning_rates"]
    assert rates["student"]["chosen"] == 5e-3 and rates["control"]["chosen"] == 1e-5
    assert [t["validation_loss"] for t in rates["student"]["trials"]] == [0.70, 0.40]


def test_without_candidates_both_use_the_learning_rate(tiny_config, tmp_path):
    results = run_experiment(tiny_config, tmp_path / "run")
    rates = results["training"]["learning_rates"]
    assert rates == {"student": {"chosen": tiny_config.learning_rate, "trials": []},
                     "control": {"chosen": tiny_config.learning_rate, "trials": []}}


@pytest.mark.parametrize("value", [[0.0], [1e-4, 1e-4], [2.0], [1e-4] * 9])
def test_bad_candidates_name_the_field(tiny_config, value):
    with pytest.raises(ConfigError) as info:
        validate(tiny_config.replace(learning_rate_candidates=value))
    assert info.value.field == "learning_rate_candidates" and "distinct rates" in info.value.message


def _capture_training_rows(monkeypatch):
    """Record, per phase, the labels of the rows the classification trainer is given."""
    from distill_core.tasks.classification import run as steps

    seen = {}
    real = steps.distill.train

    def train(model, phase, ids, labels, *args, **kwargs):
        seen[phase] = np.asarray(labels).copy()
        return real(model, phase, ids, labels, *args, **kwargs)

    monkeypatch.setattr(steps.distill, "train", train)
    return seen


def test_student_labels_leave_the_rest_of_the_train_split_to_the_teacher(tiny_config, tmp_path, monkeypatch):
    seen = _capture_training_rows(monkeypatch)
    tiny_config = tiny_config.replace(teacher=tiny_config.teacher.__class__(
        **{**tiny_config.teacher.__dict__, "finetune_epochs": 1.0}))  # the fingerprint then covers its data
    full = run_experiment(tiny_config, tmp_path / "full")
    seen_full = dict(seen)
    few = run_experiment(tiny_config.replace(data=tiny_config.data.__class__(
        **{**tiny_config.data.__dict__, "student_labels": 20})), tmp_path / "few")
    train, transfer = full["data"]["train"], full["data"]["transfer"]
    assert train == 64 and transfer == 32 and few["data"]["student_labels"] == 20
    # The control learns from the 20 labeled rows alone; the student sees every train row and the transfer text,
    # with labels on the first 20 only (the teacher labels the rest).
    assert len(seen["control"]) == 20 and (seen["control"] >= 0).all()
    assert len(seen["student"]) == train + transfer
    assert (seen["student"][:20] >= 0).all() and (seen["student"][20:] == -1).all()
    assert list(seen["student"][:20]) == list(seen_full["control"][:20])  # the same first rows, same labels
    # The teacher still learned from all the labels: the same teacher as the full run.
    assert few["teacher"]["fingerprint"] == full["teacher"]["fingerprint"]


def test_student_labels_below_a_batch_is_refused_naming_the_field(tiny_config, tmp_path):
    config = tiny_config.replace(data=tiny_config.data.__class__(**{**tiny_config.data.__dict__,
                                                                   "student_labels": 8}))
    with pytest.raises(DistillLabError) as info:
        run_experiment(config, tmp_path / "run")
    assert info.value.field == "data.student_labels" and "fewer than one batch of 16" in info.value.message
    assert not (tmp_path / "run" / "student").exists()
