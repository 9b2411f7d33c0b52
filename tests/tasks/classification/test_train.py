"""The training loop: NaN guard, cancellation, reproducibility, budget; and a cancelled run keeps its student."""

import copy
import math

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification

from distill_core.core.errors import RunCancelled, TrainingDiverged
from distill_core.models import loading as models
from distill_core.models.students import keep_layers
from distill_core.runs.pipeline import run_experiment
from distill_core.tasks.classification.train import TrainSpec, train
from distill_core.training.loop import _lr_factor, steps_for_epochs

PAD = 0


@pytest.fixture(scope="module")
def base_student(tiny_teacher_dir):
    """A 2-layer student cut from the tiny teacher; tests train deep copies of it."""
    teacher = models.load_classifier(str(tiny_teacher_dir), ["great", "other"])
    return keep_layers(teacher, [1, 3])


@pytest.fixture(scope="module")
def toy_data():
    """32 training and 8 validation inputs of 4..12 token ids; labels 0/1."""
    rng = np.random.default_rng(0)
    ids = [[101] + rng.integers(1000, 5000, size=int(n)).tolist() + [102] for n in rng.integers(2, 11, size=40)]
    labels = rng.integers(0, 2, size=40)
    return ids[:32], labels[:32], ids[32:], labels[32:]


def _train(model, toy_data, spec=None, **kwargs):
    ids, labels, val_ids, val_labels = toy_data
    spec = spec or TrainSpec(steps=4, minutes=None, batch_size=8, learning_rate=1e-3, eval_every=2)
    return train(model, "student", ids, labels, PAD, spec, val_ids, val_labels, **kwargs)


def test_nan_weight_stops_training_with_a_clear_error(base_student, toy_data):
    model = copy.deepcopy(base_student)
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged) as info:
        _train(model, toy_data)
    message = str(info.value)
    assert info.value.field == "learning_rate"
    assert "nan" in message and "step 1" in message and "lower the learning rate" in message


def test_huge_learning_rate_diverges_with_a_clear_error(base_student, toy_data):
    spec = TrainSpec(steps=20, minutes=None, batch_size=8, learning_rate=1e30, warmup=0.0, eval_every=100)
    with pytest.raises(TrainingDiverged, match=r"the loss became (nan|inf)"):
        _train(copy.deepcopy(base_student), toy_data, spec)


def test_infinite_teacher_logits_stop_distillation(base_student, toy_data):
    teacher_logits = torch.zeros(32, 2)
    teacher_logits[:, 0] = float("inf")
    spec = TrainSpec(steps=4, minutes=None, batch_size=8, learning_rate=1e-3, alpha=0.5, eval_every=2)
    with pytest.raises(TrainingDiverged):
        _train(copy.deepcopy(base_student), toy_data, spec, teacher_logits=teacher_logits)


def test_should_stop_after_two_steps_cancels_with_two_steps_done(base_student, toy_data):
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 2

    spec = TrainSpec(steps=10, minutes=None, batch_size=8, learning_rate=1e-3, eval_every=100)
    result = _train(copy.deepcopy(base_student), toy_data, spec, should_stop=should_stop)
    assert result.stopped == "cancelled"
    assert result.steps == 2 and result.examples == 16


def test_budget_in_steps_runs_exactly_that_many_steps_and_reports_progress(base_student, toy_data):
    events = []
    spec = TrainSpec(steps=6, minutes=None, batch_size=8, learning_rate=1e-3, eval_every=3)
    result = _train(copy.deepcopy(base_student), toy_data, spec, on_progress=events.append)
    assert result.stopped == "budget" and result.steps == 6  # more than one epoch of 4 batches
    assert [e.step for e in events] == [1, 2, 3, 4, 5, 6]
    assert all(e.total == 6 and e.phase == "student" for e in events)
    assert events[-1].fraction == pytest.approx(1.0)
    val_steps = [h["step"] for h in result.history if "val_accuracy" in h]
    assert val_steps == [3, 6]
    assert result.best_step in val_steps and 0.0 <= result.best_val_accuracy <= 1.0


def test_best_val_loss_is_the_kept_checkpoints_cross_entropy_on_the_validation_labels(base_student, toy_data):
    from distill_core.tasks.classification import evaluate

    model = copy.deepcopy(base_student)
    result = _train(model, toy_data)
    _, _, val_ids, val_labels = toy_data
    logits = evaluate.predict_logits(model, val_ids, PAD)  # the kept (best-accuracy) weights
    probs = torch.softmax(logits.double(), -1)[torch.arange(len(val_labels)), torch.as_tensor(val_labels)]
    expected = float(-torch.log(probs).mean())  # by hand: mean minus log-probability of the right label
    assert result.best_val_loss == pytest.approx(expected, rel=1e-4)
    kept = next(h for h in result.history if h.get("step") == result.best_step and "val_loss" in h)
    assert kept["val_loss"] == pytest.approx(expected, rel=1e-4)


def test_same_seed_gives_identical_weights(base_student, toy_data):
    a, b = copy.deepcopy(base_student), copy.deepcopy(base_student)
    _train(a, toy_data)
    _train(b, toy_data)
    changed = False
    for (name, pa), pb, p0 in zip(a.state_dict().items(), b.state_dict().values(), base_student.state_dict().values()):
        assert torch.equal(pa, pb), name
        changed |= not torch.equal(pa, p0)
    assert changed, "training must change the weights"


def test_different_seed_gives_different_weights(base_student, toy_data):
    a, b = copy.deepcopy(base_student), copy.deepcopy(base_student)
    _train(a, toy_data)
    _train(b, toy_data, TrainSpec(steps=4, minutes=None, batch_size=8, learning_rate=1e-3, eval_every=2, seed=1))
    assert not all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_distillation_with_unlabeled_transfer_rows_trains(base_student, toy_data):
    ids, labels, val_ids, val_labels = toy_data
    labels = labels.copy()
    labels[::2] = -1  # half the rows are transfer text only the teacher labels
    spec = TrainSpec(steps=4, minutes=None, batch_size=8, learning_rate=1e-3, alpha=0.5, eval_every=2)
    teacher_logits = torch.randn(32, 2, generator=torch.Generator().manual_seed(0))
    result = train(copy.deepcopy(base_student), "student", ids, labels, PAD, spec, val_ids, val_labels,
                   teacher_logits=teacher_logits)
    assert result.steps == 4 and all(math.isfinite(h["loss"]) for h in result.history if "loss" in h)


def test_lr_schedule_warms_up_then_decays_to_zero():
    assert _lr_factor(0.0, 0.1) == pytest.approx(0.02)
    assert _lr_factor(0.05, 0.1) == pytest.approx(0.5)
    assert _lr_factor(0.1, 0.1) == pytest.approx(1.0)
    assert _lr_factor(0.55, 0.1) == pytest.approx(0.5)
    assert _lr_factor(1.0, 0.1) == 0.0


def test_steps_for_epochs_rounds_up():
    assert steps_for_epochs(100, 32, 1) == 4
    assert steps_for_epochs(100, 32, 0.5) == 2
    assert steps_for_epochs(1, 32, 0.01) == 1


def test_cancelled_run_raises_run_cancelled_and_keeps_the_student(tiny_config, tmp_path):
    events = []

    def should_stop():  # the user presses cancel once the student has reported two steps
        return any(e.phase == "student" and e.step >= 2 for e in events)

    run = tmp_path / "run"
    with pytest.raises(RunCancelled, match="step 2"):
        run_experiment(tiny_config, run, on_progress=events.append, should_stop=should_stop)
    assert max(e.step for e in events if e.phase == "student") == 2
    assert (run / "student" / "model.safetensors").exists()
    assert AutoModelForSequenceClassification.from_pretrained(run / "student").config.num_hidden_layers == 2
    assert (run / "history.json").exists()
    assert not (run / "control").exists() and not (run / "results.json").exists()
