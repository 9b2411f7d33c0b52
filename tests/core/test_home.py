"""The data folder: created on first use, and a clear message (CLI and app) when it cannot be written."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from distill_core import cli
from distill_core.core import home
from distill_core.core.errors import DistillLabError

APP = Path(__file__).resolve().parents[2] / "app.py"


@pytest.fixture
def unwritable_home(tmp_path, monkeypatch):
    """DISTILL_LAB_HOME below a plain file: no process can create it, root included (CI runs as root)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder's parent should be")
    path = blocker / "home"
    monkeypatch.setenv("DISTILL_LAB_HOME", str(path))
    return path


def test_data_folder_is_created_on_first_use(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path / "new" / "home"))
    assert home.data_home() == tmp_path / "new" / "home" and home.data_home().is_dir()
    assert list(home.data_home().iterdir()) == [], "the write check leaves nothing behind"


def test_a_data_folder_that_cannot_be_written_names_it_and_the_setting(unwritable_home):
    with pytest.raises(DistillLabError) as info:
        home.data_home()
    assert info.value.field == "DISTILL_LAB_HOME"
    assert str(unwritable_home) in info.value.message and "cannot be written" in info.value.message


def test_cli_reports_an_unwritable_data_folder_and_exits_2(unwritable_home, capsys):
    assert cli.main(["list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: DISTILL_LAB_HOME:") and str(unwritable_home) in err and "Traceback" not in err


def test_app_shows_the_unwritable_data_folder_instead_of_a_traceback(unwritable_home):
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("DISTILL_LAB_HOME" in e.value and str(unwritable_home) in e.value for e in at.error)
