"""Threads to time a model on."""

import pytest

from distill_core.core import device


@pytest.mark.parametrize("cores, requested, expected", [(2, 0, 1), (1, 0, 1), (4, 0, 4), (16, 0, 16), (2, 2, 2),
                                                         (16, 3, 3)])
def test_timing_leaves_a_core_free_on_machines_with_two_cores_or_fewer(monkeypatch, cores, requested, expected):
    monkeypatch.setattr(device.os, "cpu_count", lambda: cores)
    assert device.timing_threads(requested) == expected
