"""Training curves: history.json when written, live events otherwise."""

import json

from distill_core.runs import curves, store


def test_events_become_curves_per_phase():
    events = [{"phase": "data", "step": 0, "metrics": {}},
              {"phase": "student", "step": 5, "metrics": {"loss": 0.7}},
              {"phase": "student", "step": 10, "metrics": {"loss": 0.5, "val_accuracy": 0.8, "note": "x"}},
              {"phase": "control", "step": 5, "metrics": {"loss": 0.9}}]
    assert curves.history_from_events(events) == {
        "student": [{"step": 5, "loss": 0.7}, {"step": 10, "loss": 0.5, "val_accuracy": 0.8}],
        "control": [{"step": 5, "loss": 0.9}]}


def test_saved_phases_come_from_history_json_and_running_ones_from_events(isolated_home):
    record = store.create_run({"name": "live"})
    (record.folder / "history.json").write_text(json.dumps({"student": [{"step": 4, "loss": 0.3}]}))
    store.record_event(record.id, {"phase": "student", "step": 2, "fraction": 0.5, "metrics": {"loss": 0.9}})
    store.record_event(record.id, {"phase": "control", "step": 2, "fraction": 0.5, "metrics": {"loss": 0.8}})
    got = curves.run_curves(record.id)
    assert got["student"] == [{"step": 4, "loss": 0.3}]  # the saved, complete curve wins
    assert got["control"] == [{"step": 2, "loss": 0.8}]
