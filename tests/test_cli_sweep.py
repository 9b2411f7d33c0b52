"""`distill-lab sweep`: start (dry run and a real start with the driver stubbed), list, show, export, cancel,
delete; bad flags name the field."""

from __future__ import annotations

import csv
import io
import json

from distill_core.cli import main
from distill_core.sweeps import launch, records
from tests.views.test_sweeps import make_sweep


def test_dry_run_prints_each_trial_and_the_total_and_starts_nothing(capsys):
    code = main(["sweep", "start", "--preset", "reviews-tiny", "--axis", "loss.temperature=1,4",
                 "--axis", "student.num_layers=range(1,2,1)", "--dry-run"])
    err = capsys.readouterr().err
    assert code == 0
    assert "trial  4: temperature=4, num_layers=2" in err
    assert "4 trial(s), about" in err and "no past classification runs" in err
    assert records.list_sweeps() == []


def test_bad_axes_and_runner_flags_name_the_field(capsys):
    assert main(["sweep", "start", "--preset", "reviews-tiny", "--axis", "loss.temprature=1,4"]) == 2
    assert "axes.loss.temprature: does not name a config field" in capsys.readouterr().err
    assert main(["sweep", "start", "--preset", "reviews-tiny", "--axis", "loss.alpha=1.5,0.5"]) == 2
    assert "axes.loss.alpha: trial 1 (alpha=1.5)" in capsys.readouterr().err
    assert main(["sweep", "start", "--preset", "reviews-tiny", "--axis", "loss.alpha=0.5",
                 "--storage", "/shared"]) == 2
    assert "--storage: only applies to a sweep on Ray" in capsys.readouterr().err
    assert records.list_sweeps() == []


def test_start_records_the_sweep_from_a_file_plus_flags(tmp_path, monkeypatch, capsys):
    started = []
    monkeypatch.setattr(launch, "start", lambda spec: started.append(spec) or "s20260101-000000-abcdef")
    sweep_file = tmp_path / "sweep.json"
    sweep_file.write_text(json.dumps({"name": "from a file", "preset": "reviews-tiny",
                                      "axes": {"loss.temperature": [1, 2]}, "samples": 2,
                                      "runner": {"kind": "ray", "address": "auto"}}))
    assert main(["sweep", "start", "--file", str(sweep_file), "--axis", "loss.alpha=uniform(0.3,0.9)",
                 "--seeds", "2", "--ray", "10.0.0.1:6379", "--cpus-per-trial", "2"]) == 0
    assert capsys.readouterr().out.strip() == "s20260101-000000-abcdef"
    spec, = started
    assert spec.name == "from a file" and spec.samples == 2 and spec.seeds == 2
    assert [a.field for a in spec.axes] == ["loss.temperature", "loss.alpha"]
    assert (spec.runner.kind, spec.runner.address, spec.runner.cpus_per_trial) == ("ray", "10.0.0.1:6379", 2.0)
    assert spec.base["name"] == "reviews-tiny"


def test_list_show_and_export_a_sweep(tmp_path, capsys):
    sweep_id = make_sweep()
    assert main(["sweep", "list"]) == 0
    assert f"{sweep_id}  done" in capsys.readouterr().out
    assert main(["sweep", "show", sweep_id[:10]]) == 0
    out = capsys.readouterr().out
    assert "loss.temperature in 1, 2, 4, 8" in out
    assert "fastest student within 1 point" in out and "best student accuracy    #1 temperature=1" in out
    assert main(["sweep", "export", sweep_id, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [float(r["student"]) for r in rows] == [0.88, 0.86, 0.84, 0.80]
    assert [float(r["loss.temperature"]) for r in rows] == [1, 2, 4, 8]
    out_file = tmp_path / "sweep.html"
    assert main(["sweep", "export", sweep_id, "--out", str(out_file)]) == 0
    assert "<html" in out_file.read_text().lower()
    assert main(["sweep", "export", sweep_id, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sweep"]["id"] == sweep_id and len(data["trials"]) == 4


def test_cancel_and_delete_work_on_the_whole_sweep(capsys):
    sweep_id = make_sweep()
    assert main(["sweep", "cancel", sweep_id]) == 0
    assert "done" in capsys.readouterr().out  # ended already: nothing to stop
    assert main(["sweep", "delete", sweep_id]) == 0
    assert records.list_sweeps() == []
    assert main(["sweep", "show", sweep_id]) == 2
    assert "no sweep with id" in capsys.readouterr().err
