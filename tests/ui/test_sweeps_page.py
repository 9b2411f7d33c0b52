"""The Sweeps page through Streamlit's AppTest: empty, defining a sweep (its cost, a bad axis named, Start), watching a
constructed one (trial table, best trials), and room mode (only the instructor starts, cancels or deletes)."""

from __future__ import annotations

import pytest

from distill_core.runs import room
from distill_core.sweeps import estimate, launch, records
from distill_core.sweeps.estimate import SweepEstimate, TrialEstimate
from app_pages import room_access
from tests.ui.test_pages import open_page, texts
from tests.views.test_sweeps import make_sweep

PAGE = "app_pages/sweeps.py"


def define(at):
    at.segmented_control(key="sweep_mode").set_value("Define").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def quick_estimate(monkeypatch):
    """estimate_sweep without building models: 2 min per trial, 4 min for the teacher."""
    def fake(spec):
        from distill_core.sweeps.spec import expand

        trials = [TrialEstimate(t.index, t.label, 3.0, 1.5, 15_000_000, 2, 120.0) for t in expand(spec)]
        return SweepEstimate(trials, 240.0, 240.0 + 120.0 * len(trials), "a test's guess")

    monkeypatch.setattr(estimate, "estimate_sweep", fake)


def test_the_page_renders_with_no_sweeps_and_estimates_the_default_sweep():
    at = open_page(PAGE)
    assert at.title[0].value == "Sweeps" and not at.error, [e.value for e in at.error]
    assert at.segmented_control(key="sweep_mode").value == "Define"  # nothing to watch yet
    cost = at.dataframe[0].value
    assert list(cost["values"]) == ["temperature=1", "temperature=2", "temperature=4"]
    assert all(cost["fewer FLOPs (x)"].str.endswith("x"))
    assert any("3 trials, about" in m.value for m in at.markdown)
    at.segmented_control(key="sweep_mode").set_value("Watch").run()
    assert "No sweeps yet" in texts(at)


def test_watching_a_sweep_shows_its_trials_and_best_picks():
    sweep_id = make_sweep()
    at = open_page(PAGE)
    assert at.segmented_control(key="sweep_mode").value == "Watch"
    assert at.selectbox(key="sweep_pick").value == sweep_id
    assert not at.error, [e.value for e in at.error]
    trials = at.dataframe[0].value
    assert list(trials["loss.temperature"]) == ["1", "2", "4", "8"]
    assert list(trials["student accuracy"]) == ["88.00%", "86.00%", "84.00%", "80.00%"]
    assert trials["speedup over teacher"].iloc[3] == "3.50x, estimated from FLOPs"
    assert [m.value for m in at.metric][:2] == ["done", "4 / 4"]
    best = at.dataframe[1].value
    assert list(best["trial"]) == ["–", "#1", "#3"]  # none within 1 point; best quality; largest gain
    at.number_input(key="sw:tolerance").set_value(4.0).run()
    assert list(at.dataframe[1].value["trial"]) == ["#2", "#1", "#3"]
    assert at.button(key="sw:cancel").disabled  # a finished sweep


def test_a_bad_axis_is_refused_naming_its_field(quick_estimate):
    at = define(open_page(PAGE))
    at.text_input(key="sw:field0").set_value("loss.temprature").run()
    assert [e.value for e in at.error] == ["**axes.loss.temprature**: does not name a config field"]
    assert not [b for b in at.button if b.key == "sw:start"]
    at.text_input(key="sw:field0").set_value("loss.temperature").run()
    at.text_input(key="sw:values0").set_value("range(1,0,1)").run()
    assert at.error[0].value.startswith("**axes.loss.temperature**: range(1, 0, 1) is empty")


def test_start_records_the_sweep_and_shows_it(quick_estimate, monkeypatch):
    calls = []

    def fake_start(spec, owner=None, extra_env=None):  # records the sweep, starts no driver process
        calls.append((spec, owner, extra_env))
        return launch.create(spec, owner).id

    monkeypatch.setattr(launch, "start", fake_start)
    at = define(open_page(PAGE))
    at.text_input(key="sw:values0").set_value("1,3").run()
    at.text_input(key="sw:field1").set_value("loss.alpha").run()
    at.text_input(key="sw:values1").set_value("0.5,0.9").run()
    assert any("4 trials, about 12 min in all" in m.value for m in at.markdown)
    at.button(key="sw:start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (spec, owner, env), = calls
    assert spec.name == "reviews-sentiment-sweep" and spec.base["name"] == "reviews-sentiment"
    assert [(a.field, a.values) for a in spec.axes] == [("loss.temperature", [1, 3]), ("loss.alpha", [0.5, 0.9])]
    assert spec.runner.kind == "local" and owner is None and env == {}
    sweep, = records.list_sweeps()
    assert sweep.trials == 4 and at.selectbox(key="sweep_pick").value == sweep.id
    assert at.segmented_control(key="sweep_mode").value == "Watch"
    assert at.success[0].value.startswith(f"Sweep `{sweep.id}` started")


@pytest.fixture
def in_room(monkeypatch):
    monkeypatch.setenv(room.ROOM_ENV, "1")
    monkeypatch.setenv(room.KEY_ENV, "k" * 24)


def test_in_a_room_a_visitor_cannot_start_cancel_or_delete_sweeps(in_room):
    make_sweep()
    at = open_page(PAGE, {room_access.TOKEN: room.new_visitor_token()})
    assert "only the instructor can cancel or delete a sweep" in texts(at)
    assert not [b for b in at.button if b.key in ("sw:cancel", "sw:delete")]
    define(at)
    assert "only the instructor can start sweeps" in texts(at)
    assert not [b for b in at.button if b.key == "sw:start"]


def test_in_a_room_the_instructor_may_start_and_delete(in_room, quick_estimate):
    sweep_id = make_sweep()
    at = open_page(PAGE, {room_access.INSTRUCTOR: True})
    at.checkbox(key=f"sw:confirm-{sweep_id}").check().run()
    at.button(key="sw:delete").click().run()
    assert records.list_sweeps() == []
    assert [b for b in define(at).button if b.key == "sw:start"]


def test_an_active_sweep_without_trials_yet_can_be_cancelled():
    import os

    from distill_core.core.config import RunConfig
    from distill_core.sweeps.spec import spec_from_dict

    spec = spec_from_dict({"name": "waiting", "axes": {"loss.alpha": [0.2, 0.5, 0.8]}}, base=RunConfig().to_dict())
    sweep = records.create_sweep(spec, 3)
    records.update(sweep.id, pid=os.getpid(), status="running")  # a live driver: this test process
    at = open_page(PAGE)
    assert [m.value for m in at.metric][:2] == ["running", "0 / 3"]
    assert "No trials yet" in texts(at)
    at.button(key="sw:cancel").click().run()
    assert records.get_sweep(sweep.id).cancel_requested


def test_compare_adds_every_finished_trial_of_a_sweep_to_the_runs_picked():
    sweep_id = make_sweep()
    trials = [r.id for r in records.trial_runs(sweep_id)]
    at = open_page("app_pages/compare.py")
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="compare_runs").value == [trials[-1]]  # the newest run alone
    at.selectbox(key="compare_sweep").set_value(sweep_id).run()
    assert not at.exception, [e.value for e in at.exception]
    assert sorted(at.multiselect(key="compare_runs").value) == sorted(trials)
