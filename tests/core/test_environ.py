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


def test_a_block_with_variables_set_puts_them_back_after_even_when_it_fails(monkeypatch):
    from distill_core.core.environ import environ_set

    monkeypatch.setenv("DL_TEST_KEPT", "before")
    monkeypatch.delenv("DL_TEST_NEW", raising=False)
    try:
        with environ_set({"DL_TEST_KEPT": "during", "DL_TEST_NEW": "during"}):
            assert os.environ["DL_TEST_KEPT"] == os.environ["DL_TEST_NEW"] == "during"
            raise RuntimeError("the block failed")
    except RuntimeError:
        pass
    assert os.environ["DL_TEST_KEPT"] == "before" and "DL_TEST_NEW" not in os.environ
