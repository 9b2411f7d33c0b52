"""The sweep's time estimate, on hand-computed cases: throughput from past runs, and a trial's seconds."""

from __future__ import annotations

import json
import os

import pytest

from distill_core.runs import store
from distill_core.sweeps import estimate
from distill_core.sweeps.spec import spec_from_dict
from tests.support.runs import tiny_run_config


def _past_run(examples_per_s: float, flops_per_input: float, total_s: float, measure_s: float | None,
              teacher_cached: bool, task: str = "classification", at_once: int | None = None) -> None:
    record = store.create_run({"name": "past"}, pid=os.getpid())
    timings = {"teacher_prepare_s": 20.0, "teacher_outputs_s": 5.0, "student_train_s": 30.0,
               "control_train_s": 30.0, "total_s": total_s}
    if measure_s is not None:
        timings["measure_s"] = measure_s
    results = {"task": task, "timings": timings, "teacher": {"cached": teacher_cached},
               "training": {"student": {"examples_per_s": examples_per_s}} | (
                   {"trainings_at_once": at_once} if at_once else {}),
               "preflight": {"student": {"flops_per_input": flops_per_input}},
               "config": {"data": {"source": "reviews"}}, "data": {"train": 3000}}
    (record.folder / "results.json").write_text(json.dumps(results))
    store.finish(record.id, "done")


def test_throughput_is_the_median_of_past_runs_of_the_task():
    _past_run(10.0, 1e9, total_s=100.0, measure_s=None, teacher_cached=False)  # 3e10 FLOP/s; 100 - 85 = 15 s around
    _past_run(20.0, 1e9, total_s=200.0, measure_s=40.0, teacher_cached=True)  # 6e10; 200 - 85 - 40 = 75 s around
    # Two trainings at once, 20 examples/s each: the machine trained 40 a second, 1.2e11 FLOP/s; 150 - 85 - 60 = 5 s.
    _past_run(20.0, 1e9, total_s=150.0, measure_s=60.0, teacher_cached=True, at_once=2)
    _past_run(1.0, 1e9, total_s=999.0, measure_s=999.0, teacher_cached=False, task="causal_lm")  # another task
    machine = estimate.throughput("classification")
    assert machine.runs == 3
    assert machine.train_flops_per_s == pytest.approx(6e10)
    assert machine.overhead_s == pytest.approx(15.0)
    assert machine.measure_s == pytest.approx(50.0)
    assert machine.teacher_s == pytest.approx(25.0)  # the one run whose teacher was not cached: 20 + 5
    assert machine.train_rows == {"reviews": 3000}


def test_no_past_runs_falls_back_and_says_so():
    machine = estimate.throughput("classification")
    assert machine.runs == 0 and machine.train_flops_per_s == estimate.FALLBACK_TRAIN_FLOPS_PER_S


def test_trial_seconds_on_a_hand_computed_case():
    machine = estimate.Throughput(train_flops_per_s=1e11, overhead_s=10.0, measure_s=50.0, teacher_s=0.0, runs=1,
                                  train_rows={"reviews": 500})
    config = tiny_run_config("/t", seeds=2, batch_size=4, learning_rate_candidates=[1e-3, 1e-4, 1e-5],
                             measure=True).replace()
    config.budget.unit, config.budget.value = "steps", 10
    # one training: 10 steps x 4 examples x 3 x 1e9 FLOPs / 1e11 FLOP/s = 1.2 s; trainings: (2 seeds + 2 extra
    # candidates) x (student + control) = 8
    assert estimate.trainings(config) == 8
    assert estimate.trial_seconds(config, 1e9, machine) == pytest.approx(1.2 * 8 + 10.0 + 50.0)
    config.budget.unit, config.budget.value = "epochs", 2
    config.data.max_train_examples = None
    config.data.source = "reviews"
    assert estimate.train_seconds(config, 1e9, machine) == pytest.approx(2 * 500 * 3 * 1e9 / 1e11)
    config.data.source = "unknown.csv"
    assert estimate.trial_seconds(config, 1e9, machine) is None
    config.budget.unit, config.budget.value = "minutes", 1.5
    assert estimate.train_seconds(config, 1e9, machine) == 90.0


def test_estimate_sweep_gives_every_trial_its_flops_ratio(tiny_teacher_dir):
    base = tiny_run_config(tiny_teacher_dir).to_dict()
    spec = spec_from_dict({"axes": {"student.num_layers": [1, 2]}}, base=base)
    result = estimate.estimate_sweep(spec)
    one, two = result.trials
    assert one.flops_ratio > two.flops_ratio > 1.0  # the 4-layer teacher over 1 and 2 kept layers
    assert one.student_parameters < two.student_parameters
    assert result.total_seconds == pytest.approx(result.teacher_seconds + one.seconds + two.seconds)
    assert "no past classification runs" in result.basis
