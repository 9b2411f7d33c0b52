"""The Runs page's lab bundles through AppTest: an uploaded good bundle imports (and the table lists its run), a
hostile one shows why it was refused and imports nothing, and finished runs can be picked for a download.

AppTest can neither upload nor download files: `st.file_uploader` is replaced by one that returns the zip as an
upload would, and `st.download_button` by one that records what it would offer."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import streamlit
from streamlit.testing.v1 import AppTest

from distill_core.runs import bundles, store
from tests.support.bundles import fake_done_run, home_state, read_zip, write_zip

APP = Path(__file__).resolve().parents[2] / "app.py"


class Upload(io.BytesIO):
    """What st.file_uploader returns: the file's bytes with its name and an id per upload."""

    def __init__(self, path: Path):
        super().__init__(path.read_bytes())
        self.name, self.file_id, self.size = path.name, f"upload-{path.name}", path.stat().st_size


@pytest.fixture
def uploading(monkeypatch):
    """Makes the page's file uploader return `path` (set it with uploading(path))."""
    def choose(path: Path) -> None:
        monkeypatch.setattr(streamlit, "file_uploader", lambda *args, **kwargs: Upload(path))
    return choose


def runs_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _bundle_from_another_folder(tmp_path, monkeypatch) -> tuple[str, Path]:
    home = Path(store.runs_root()).parent
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path / "source"))
    run = fake_done_run("from-a-colleague")
    path = bundles.pack_runs([run.id], tmp_path / "lab.zip").path
    monkeypatch.setenv("DISTILL_LAB_HOME", str(home))
    return run.id, path


def test_an_uploaded_bundle_imports_and_the_runs_table_lists_it(tmp_path, monkeypatch, uploading):
    run_id, path = _bundle_from_another_folder(tmp_path, monkeypatch)
    uploading(path)
    at = runs_page()
    assert not at.dataframe, "an empty store shows no runs table, but still the import"
    at.button(key="bundle_import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [r.id for r in store.list_runs()] == [run_id]
    assert run_id in at.success[0].value and "Imported 1 run(s)" in at.success[0].value
    assert "from-a-colleague" in at.dataframe[0].value["name"].tolist()
    assert at.button(key="bundle_import").disabled, "the same upload is not imported twice"


def test_a_hostile_upload_shows_the_reason_and_imports_nothing(tmp_path, monkeypatch, uploading):
    fake_done_run("mine")
    run_id, path = _bundle_from_another_folder(tmp_path, monkeypatch)
    manifest, members = read_zip(path)
    members[f"runs/{run_id}/student/pytorch_model.bin"] = b"\x80\x04K\x01."
    uploading(write_zip(tmp_path / "hostile.zip", manifest, members))
    before = home_state()
    at = runs_page()
    at.button(key="bundle_import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    message = at.error[0].value
    assert "pytorch_model.bin" in message and "is a pickle (.bin)" in message and ".safetensors only" in message
    assert home_state() == before


def test_finished_runs_can_be_picked_for_a_download(tmp_path, monkeypatch):
    run = fake_done_run("to-share")
    offered = []  # the download buttons drawn; the zip is made when one is clicked (a deferred download)
    monkeypatch.setattr(streamlit, "download_button", lambda label, data, **kwargs: offered.append((data, kwargs)))
    at = runs_page()
    assert not offered, "nothing to download before runs are picked"
    at.multiselect(key="bundle_runs").select(run.id).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("1 run(s), about" in c.value for c in at.caption)
    data, kwargs = offered[-1]
    assert kwargs["file_name"] == bundles.bundle_filename([run.id]) and kwargs["mime"] == "application/zip"
    zipped = data()  # what a click sends
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path / "other"))
    assert bundles.unpack_bundle(io.BytesIO(zipped)) == [(run.id, run.id)]
