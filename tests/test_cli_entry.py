"""The `distill-lab` entry: `bench` starts the measuring processes' fork server before the CLI's imports."""

import json

import pytest

import distill_core.cli
from distill_core.cli import entry
from distill_core.measure import processes
from distill_core.tasks import causal_lm, classification


@pytest.mark.parametrize("task, expected", [(None, None), ("classification", classification.BENCH_PRELOAD),
                                            ("causal-lm", causal_lm.BENCH_PRELOAD), ("no-such-task", None)])
def test_the_preload_is_the_run_tasks_own(tmp_path, task, expected):
    (tmp_path / "config.json").write_text(json.dumps({"task": task} if task else {}))
    assert entry.bench_preload(str(tmp_path)) == expected


def test_a_run_that_cannot_be_read_starts_nothing_and_the_cli_reports_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path))
    assert entry.bench_preload("no-such-run") is None
    assert entry.bench_preload(str(tmp_path)) is None  # a folder without config.json


def test_bench_starts_the_fork_server_then_hands_every_argument_to_the_cli(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text(json.dumps({"task": "classification"}))
    calls = []
    monkeypatch.setattr(processes, "start_early", lambda preload: calls.append(("start", preload)))
    monkeypatch.setattr(distill_core.cli, "main", lambda argv: calls.append(("cli", argv)) or 0)
    assert entry.main(["bench", str(tmp_path), "--threads", "1"]) == 0
    assert calls == [("start", classification.BENCH_PRELOAD), ("cli", ["bench", str(tmp_path), "--threads", "1"])]
    calls.clear()
    assert entry.main(["list"]) == 0 and calls == [("cli", ["list"])]  # other commands: the CLI alone
