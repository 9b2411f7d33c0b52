"""Sweep specs: axis forms, expansion into trials, refusals that name the field, teacher groups."""

from __future__ import annotations

import pytest

from distill_core.core.errors import ConfigError
from distill_core.sweeps.spec import (MAX_TRIALS, axis_from_cli, expand, spec_from_dict, spec_from_json,
                                      spec_to_file, teacher_groups, trial_count)
from tests.support.runs import tiny_run_config


@pytest.fixture
def base():
    return tiny_run_config("/nowhere/teacher").to_dict()


def test_cli_axes_values_ranges_and_random_kinds():
    assert axis_from_cli("loss.temperature=1,2,4").values == [1, 2, 4]
    assert axis_from_cli("student.kind=keep-layers,shrink").values == ["keep-layers", "shrink"]
    assert axis_from_cli("student.num_layers=range(1,3,1)").values == [1, 2, 3]
    assert axis_from_cli("loss.alpha=range(0.1,0.5,0.2)").values == [0.1, 0.3, 0.5]
    alpha = axis_from_cli("loss.alpha=uniform(0.3,0.9)")
    assert (alpha.kind, alpha.low, alpha.high, alpha.random) == ("uniform", 0.3, 0.9, True)
    assert axis_from_cli("learning_rate=loguniform(1e-5,1e-3)").kind == "loguniform"


@pytest.mark.parametrize("item, field", [
    ("loss.temperature", "--axis"),
    ("loss.temperature=range(3,1,1)", "axes.loss.temperature"),
    ("loss.alpha=uniform(0.9,0.3)", "axes.loss.alpha"),
    ("learning_rate=loguniform(0,1)", "axes.learning_rate"),
    ("seeds=randint(1.5,3)", "axes.seeds"),
    ("name=a,b", "axes.name"),
    ("Loss.T=1", "axes.Loss.T"),
])
def test_bad_cli_axes_name_the_field(item, field):
    with pytest.raises(ConfigError) as err:
        axis_from_cli(item)
    assert err.value.field == field


def test_grid_expansion_sets_each_field_and_names_the_trials(base):
    spec = spec_from_dict({"name": "grid", "axes": {"loss.temperature": [1.0, 4.0],
                                                    "student.num_layers": {"range": [1, 3, 1]}}}, base=base)
    trials = expand(spec)
    assert trial_count(spec) == len(trials) == 6
    assert [(t.config.loss.temperature, t.config.student.num_layers) for t in trials] == [
        (1.0, 1), (1.0, 2), (1.0, 3), (4.0, 1), (4.0, 2), (4.0, 3)]
    assert trials[4].config.name == "grid #5: temperature=4, num_layers=2"
    assert trials[4].config.budget.value == base["budget"]["value"]  # the rest is the base's


def test_random_axes_are_drawn_per_trial_reproducibly_within_bounds(base):
    data = {"axes": {"loss.temperature": [1.0, 2.0], "loss.alpha": {"uniform": [0.3, 0.9]},
                     "batch_size": {"randint": [4, 8]}}, "samples": 3, "draw_seed": 7}
    trials = expand(spec_from_dict(data, base=base))
    again = expand(spec_from_dict(data, base=base))
    assert len(trials) == 6
    alphas = [t.config.loss.alpha for t in trials]
    assert alphas == [t.config.loss.alpha for t in again]
    assert all(0.3 <= a <= 0.9 for a in alphas) and len(set(alphas)) == 6
    assert all(4 <= t.config.batch_size <= 8 and isinstance(t.config.batch_size, int) for t in trials)
    other = expand(spec_from_dict(data | {"draw_seed": 8}, base=base))
    assert [t.config.loss.alpha for t in other] != alphas


def test_seeds_override_and_round_trips(base):
    spec = spec_from_dict({"axes": {"loss.alpha": [0.5, 0.9]}, "seeds": 2,
                           "runner": {"kind": "ray", "address": "auto", "retries": 0}}, base=base)
    assert all(t.config.seeds == 2 for t in expand(spec))
    for back in (spec_from_json(spec.to_json()), spec_from_dict(spec_to_file(spec))):
        assert back.runner.address == "auto" and back.runner.retries == 0
        assert [t.config.to_dict() for t in expand(back)] == [t.config.to_dict() for t in expand(spec)]


@pytest.mark.parametrize("data, field, words", [
    ({"axes": {"loss.temprature": [1, 2]}}, "axes.loss.temprature", "does not name a config field"),
    ({"axes": {"loss.temperature": [1.0, -1.0]}}, "axes.loss.temperature", "trial 2"),
    ({"axes": {"student.num_layers": [1, "two"]}}, "axes.student.num_layers", "trial 2"),
    ({"axes": {}}, "axes", "at least one axis"),
    ({"axes": {"loss.alpha": [0.5]}, "runner": {"kind": "slurm"}}, "runner.kind", "local, ray"),
    ({"axes": {"loss.alpha": [0.5]}, "runner": {"address": "auto"}}, "runner.address", "ray"),
    ({"axes": {"loss.alpha": [0.5]}, "samples": 0}, "samples", "1..32"),
    ({"axes": {"loss.alpha": [0.5]}, "colour": 1}, "sweep", "unknown key"),
])
def test_bad_specs_are_refused_naming_the_field(base, data, field, words):
    with pytest.raises(ConfigError) as err:
        spec_from_dict(data, base=base)
    assert err.value.field == field
    assert words in str(err.value)


def test_too_many_trials_is_refused(base):
    with pytest.raises(ConfigError, match=f"at most {MAX_TRIALS}"):
        spec_from_dict({"axes": {"loss.alpha": {"range": [0.0, 1.0, 0.05]},
                                 "loss.temperature": [1.0, 2.0, 3.0, 4.0]}}, base=base)


def test_trials_that_differ_only_in_the_student_share_one_teacher_group(base):
    spec = spec_from_dict({"axes": {"loss.temperature": [1.0, 4.0], "student.num_layers": [1, 2],
                                    "learning_rate": [1e-3, 1e-4]}}, base=base)
    assert [len(g) for g in teacher_groups(expand(spec))] == [8]
    spec = spec_from_dict({"axes": {"data.max_train_examples": [32, 64], "loss.temperature": [1.0, 4.0]}}, base=base)
    groups = teacher_groups(expand(spec))
    assert [[t.config.data.max_train_examples for t in g] for g in groups] == [[32, 32], [64, 64]]
