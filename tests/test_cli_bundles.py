"""`distill-lab pack` and `unpack`: a bundle written on one data folder imports on another, a taken id is renamed
and said so, and refusals exit 2 with the reason (the bundle rules themselves: tests/runs/test_bundles.py)."""

import pytest

from distill_core import cli
from distill_core.runs import store
from tests.support.bundles import fake_done_run, home_state, read_zip, write_zip


def test_pack_then_unpack_on_another_data_folder_prints_the_ids(tmp_path, monkeypatch, capsys):
    run = fake_done_run("packed")
    assert cli.main(["pack", run.id[:12], "--out", str(tmp_path / "lab.zip")]) == 0
    assert f"packed 1 run(s) ({run.id})" in capsys.readouterr().out
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path / "other"))
    assert cli.main(["unpack", str(tmp_path / "lab.zip")]) == 0
    assert capsys.readouterr().out.split() == [run.id, "packed"]
    assert cli.main(["unpack", str(tmp_path / "lab.zip")]) == 0
    new_id, name, *note = capsys.readouterr().out.split()
    assert new_id != run.id and name == "packed" and f"(was {run.id} in the bundle" in " ".join(note)
    assert sorted(r.id for r in store.list_runs()) == sorted([run.id, new_id])


def test_unpack_of_a_hostile_bundle_exits_2_and_imports_nothing(tmp_path, capsys):
    run = fake_done_run()
    assert cli.main(["pack", run.id, "--out", str(tmp_path / "lab.zip")]) == 0
    manifest, members = read_zip(tmp_path / "lab.zip")
    members["../../evil.json"] = b"{}"
    write_zip(tmp_path / "hostile.zip", manifest, members)
    before = home_state()
    capsys.readouterr()
    assert cli.main(["unpack", str(tmp_path / "hostile.zip")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: bundle: member '../../evil.json' climbs out") and "nothing was imported" in err
    assert home_state() == before


def test_pack_refuses_a_running_run_and_needs_out(tmp_path, capsys):
    record = store.create_run({"name": "busy"})
    assert store.claim(record.id, 1, None) == "claimed"
    assert cli.main(["pack", record.id, "--out", str(tmp_path / "lab.zip")]) == 2
    assert "is running: only finished runs" in capsys.readouterr().err
    assert not (tmp_path / "lab.zip").exists()
    with pytest.raises(SystemExit):
        cli.main(["pack", record.id])
    assert "--out" in capsys.readouterr().err
