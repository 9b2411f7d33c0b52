"""Lab bundles: finished runs packed on one data folder open on another with the same numbers; ids that are taken
get fresh ones; damaged or hostile zips are refused whole, leaving the target store and runs/ as they were."""

from __future__ import annotations

import os
import re
import stat
import zipfile
from pathlib import Path

import pytest

from distill_core.core.errors import DistillLabError
from distill_core.runs import bundles, store
from distill_core.views import compare, playground
from distill_core.views.report import html_report
from tests.support.bundles import fake_done_run, home_state, read_zip, write_zip

TEXT = "a warm, funny and moving film"


def _report(run_id: str) -> str:
    """The HTML report without what differs between two renderings (plotly's div ids, the generation time)."""
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", html_report([run_id]))
    return re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", "<time>", text)


def _screens(run_id: str) -> dict:
    """What Compare, the Playground, the HTML report and the Runs page's curves show for a run."""
    cache = playground.ModelCache()  # its own: the other data folder has a run with the same id
    answers = {v: playground.classify(run_id, v, TEXT, cache=cache) for v in ("student", "control", "student-ort")}
    record = store.get_run(run_id)
    return {"table": compare.results_table([run_id]).rows, "report": _report(run_id),
            "playground": {v: (a.labels, a.probs) for v, a in answers.items()},
            "variants": list(playground.run_variants(run_id)),
            "events": [{k: v for k, v in e.items() if k != "id"} for e in store.run_history(run_id)],
            "row": {k: getattr(record, k) for k in ("name", "status", "created", "finished", "summary", "config")}}


def test_a_packed_run_opens_on_a_fresh_data_folder_with_the_same_numbers(home_with_run, tmp_path, monkeypatch):
    store.record_event(home_with_run, {"phase": "student", "step": 2, "total": 4, "fraction": 0.5,
                                       "metrics": {"loss": 0.42}})
    before = _screens(home_with_run)
    summary = bundles.pack_runs([home_with_run[:12]], tmp_path / "lab.zip")
    assert summary.run_ids == [home_with_run] and summary.left_out == []
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path / "fresh"))
    assert bundles.unpack_bundle(tmp_path / "lab.zip") == [(home_with_run, home_with_run)]
    after = _screens(home_with_run)
    assert before["events"] and before["table"]
    for screen in ("table", "report", "playground", "events", "row"):
        assert after[screen] == before[screen], screen
    # The student's and control's ONNX exports still match their weights (their mtimes travel); the teacher's
    # live in the source data folder's cache, not in the run, so the Playground here runs the teacher eagerly.
    assert after["variants"] == [v for v in before["variants"] if not v.startswith("teacher-ort")]
    assert {"student-ort", "student-ort-int8", "control-ort"} <= set(after["variants"])
    assert not (store.run_dir(home_with_run) / "events.json").exists(), "the events live in the store"


def test_ids_already_in_the_store_are_renamed_and_keep_their_runs(tmp_path):
    a, b = fake_done_run("a", 0.81), fake_done_run("b", 0.62)
    bundles.pack_runs([a.id, b.id], tmp_path / "lab.zip")
    renames = bundles.unpack_bundle(tmp_path / "lab.zip")
    assert [old for old, _ in renames] == [a.id, b.id]
    new_ids = [new for _, new in renames]
    assert len(set(new_ids) | {a.id, b.id}) == 4
    for (old, new), name in zip(renames, ("a", "b")):
        assert re.fullmatch(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}", new)
        copy, original = store.get_run(new), store.get_run(old)
        assert (copy.name, copy.status, copy.summary, copy.config) == (name, "done", original.summary, original.config)
        assert (copy.folder / "results.json").read_bytes() == (original.folder / "results.json").read_bytes()
        assert [e["metrics"] for e in store.run_history(new)] == [{"loss": 0.61}]
    assert len(store.list_runs()) == 4


def test_pack_leaves_out_pickles_and_links_and_names_them(tmp_path):
    run = fake_done_run()
    (run.folder / "student" / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    os.symlink("/etc/hostname", run.folder / "student" / "tokenizer.json")
    summary = bundles.pack_runs([run.id], tmp_path / "lab.zip")
    student = f"runs/{run.id}/student"
    assert set(summary.left_out) == {f"{student}/pytorch_model.bin", f"{student}/tokenizer.json"}
    names = zipfile.ZipFile(tmp_path / "lab.zip").namelist()
    assert f"{student}/model.safetensors" in names
    assert not any(n.endswith((".bin", "tokenizer.json")) for n in names)


@pytest.mark.parametrize("status", ["queued", "running"])
def test_unfinished_runs_are_not_packed(status, tmp_path):
    record = store.create_run({"name": "busy"})
    if status == "running":
        assert store.claim(record.id, 1, None) == "claimed"
    with pytest.raises(DistillLabError, match=f"is {status}: only finished runs"):
        bundles.pack_runs([record.id], tmp_path / "lab.zip")
    assert not (tmp_path / "lab.zip").exists()


@pytest.fixture
def good_bundle(tmp_path, monkeypatch):
    """A bundle of one cheap run packed in another data folder; the test's data folder holds a run of its own."""
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path / "source"))
    run = fake_done_run("packed")
    path = bundles.pack_runs([run.id], tmp_path / "good.zip").path
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path / "target"))
    fake_done_run("already here")
    return run.id, path


def _hostile(tmp_path, good, change) -> Path:
    """The good bundle with `change(manifest, members)` applied; returns the new zip's path."""
    run_id, path = good
    manifest, members = read_zip(path)
    listed = change(manifest, members, run_id)
    return write_zip(tmp_path / "hostile.zip", manifest, members, listed=listed is not False)


def _add(name, data=b"{}"):
    def change(manifest, members, run_id):
        members[name.format(run=run_id)] = data
    return change


def _tamper(manifest, members, run_id):
    members[f"runs/{run_id}/results.json"] = members[f"runs/{run_id}/results.json"].replace(b"0.8", b"0.9")
    return False  # keep the manifest's sha256 of the original


def _unlisted(manifest, members, run_id):
    members[f"runs/{run_id}/notes.md"] = b"# not in the manifest"
    return False  # the manifest lists the good bundle's members only


def _running(manifest, members, run_id):
    manifest["runs"][0]["status"] = "running"


def _bad_safetensors(manifest, members, run_id):
    members[f"runs/{run_id}/student/model.safetensors"] = b"\xff" * 8 + b"{not a header"


HOSTILE = {
    "traversal": (_add("runs/{run}/../../../evil.json"), "climbs out of its folder"),
    "traversal at the top": (_add("../evil.json"), "climbs out of its folder"),
    "absolute path": (_add("/tmp/evil.json"), "is an absolute path"),
    "pickle": (_add("runs/{run}/student/pytorch_model.bin", b"\x80\x04K\x01."), "is a pickle (.bin)"),
    "torch pickle": (_add("runs/{run}/student/model.pt", b"\x80\x04K\x01."), "is a pickle (.pt)"),
    "unknown kind": (_add("runs/{run}/run.sh", b"rm -rf ~"), "unknown kind (.sh)"),
    "unknown place": (_add("cache/teachers/x.json"), "unknown member"),
    "hidden file": (_add("runs/{run}/.secret.json"), "hidden, deep"),
    "not in the manifest": (_unlisted, "the zip has it but manifest.json does not list it"),
    "bad checksum": (_tamper, "does not match its sha256"),
    "unfinished run": (_running, "is 'running': bundles carry finished runs only"),
    "damaged safetensors": (_bad_safetensors, "is not a valid safetensors file"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_bundle_is_refused_and_changes_nothing(case, good_bundle, tmp_path):
    change, message = HOSTILE[case]
    before = home_state()
    with pytest.raises(DistillLabError) as info:
        bundles.unpack_bundle(_hostile(tmp_path, good_bundle, change))
    assert info.value.field == "bundle" and message in info.value.message and "nothing was imported" in str(info.value)
    assert home_state() == before
    assert not (tmp_path / "evil.json").exists() and not os.path.exists("/tmp/evil.json")


def test_a_symlink_member_is_refused(good_bundle, tmp_path):
    run_id, path = good_bundle
    manifest, members = read_zip(path)
    name = f"runs/{run_id}/student/model.safetensors"
    link = zipfile.ZipInfo(name)
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    members[name] = b"/etc/passwd"
    before = home_state()
    with pytest.raises(DistillLabError, match="is a symbolic link: bundles hold plain files only"):
        bundles.unpack_bundle(write_zip(tmp_path / "link.zip", manifest, members, infos={name: link}))
    assert home_state() == before


@pytest.mark.parametrize("limit, value, message", [
    ("MAX_BUNDLE_BYTES", 1000, "the limit of a bundle"),
    ("MAX_MEMBER_BYTES", 100, "a member may hold up to"),
    ("MAX_MEMBERS", 2, "a bundle holds up to 2"),
])
def test_a_bundle_over_a_size_limit_is_refused(limit, value, message, good_bundle, monkeypatch):
    before = home_state()
    monkeypatch.setattr(bundles, limit, value)
    with pytest.raises(DistillLabError, match=message):
        bundles.unpack_bundle(good_bundle[1])
    assert home_state() == before


def test_a_zip_bomb_is_refused_by_its_ratio(good_bundle, tmp_path):
    before = home_state()
    bomb = _hostile(tmp_path, good_bundle, _add("runs/{run}/train.log", b"\0" * 4 * 2**20))
    with pytest.raises(DistillLabError, match=r"times its packed size \(a zip bomb\?\)"):
        bundles.unpack_bundle(bomb)
    assert home_state() == before


@pytest.mark.parametrize("content, message", [(None, "has no manifest.json"), (b"not a zip", "not a readable zip")])
def test_a_zip_without_a_manifest_or_not_a_zip_is_refused(content, message, good_bundle, tmp_path):
    _, members = read_zip(good_bundle[1])
    path = write_zip(tmp_path / "x.zip", None, members)
    if content is not None:
        path.write_bytes(content)
    before = home_state()
    with pytest.raises(DistillLabError, match=message):
        bundles.unpack_bundle(path)
    assert home_state() == before


def test_a_failure_while_moving_runs_in_rolls_everything_back(tmp_path, monkeypatch):
    runs = [fake_done_run("a").id, fake_done_run("b").id]
    bundles.pack_runs(runs, tmp_path / "lab.zip")
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path / "fresh"))
    real_replace, calls = os.replace, []

    def second_move_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(bundles.os, "replace", second_move_fails)
    with pytest.raises(OSError):
        bundles.unpack_bundle(tmp_path / "lab.zip")
    assert len(calls) == 2, "the first run was moved in before the second failed"
    after = home_state()
    assert after["rows"] == [] and after["files"] == [], "no row, event or folder of either run stays"
    assert not any(name.startswith(".bundle-import-") for name in after["entries"])
