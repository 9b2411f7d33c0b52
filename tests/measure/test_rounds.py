"""The interleaved rounds harness: processes see the caller's environment, samples come back per round."""

from distill_core.measure import rounds
from tests.support.env_session import EnvSession


def test_measuring_processes_see_the_data_folder_of_the_caller_not_of_the_fork_server(tmp_path, monkeypatch):
    preload = ("json",)
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path / "when-the-server-started"))
    rounds.start_early(preload)  # a fork server already running (an earlier measurement) keeps its environment
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path / "now"))
    plan = rounds.RoundsPlan(min_rounds=3, min_seconds=0.0, max_seconds=30.0, setup_timeout_s=120.0)
    timed = rounds.time_interleaved([("a", EnvSession, ()), ("b", EnvSession, ())], 1, plan, preload=preload)
    for name in ("a", "b"):
        assert timed.reports[name]["home"] == str(tmp_path / "now")
        assert timed.reports[name]["finished_home"] == str(tmp_path / "now")
        assert timed.samples[name] == {"only": [1.0, 1.0, 1.0]}
    assert timed.rounds == 3
