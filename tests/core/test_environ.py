"""Environment variables put back after a child process started with others."""

import os

from distill_core.core.environ import restore_environ


def test_restoring_puts_back_earlier_values_and_removes_variables_that_were_not_set(monkeypatch):
    monkeypatch.setenv("DL_TEST_KEPT", "before")
    monkeypatch.delenv("DL_TEST_NEW", raising=False)
    saved = {"DL_TEST_KEPT": os.environ.get("DL_TEST_KEPT"), "DL_TEST_NEW": os.environ.get("DL_TEST_NEW")}
    os.environ.update(DL_TEST_KEPT="during", DL_TEST_NEW="during")
    restore_environ(saved)
    assert os.environ["DL_TEST_KEPT"] == "before" and "DL_TEST_NEW" not in os.environ
