"""The interleaved rounds harness: processes see the caller's environment, samples come back per round."""

from distill_core.measure import processes, rounds
from tests.support.drift_session import DriftSession, HungrySession, LonerSession
from tests.support.env_session import EnvSession


def test_measuring_processes_see_the_data_folder_of_the_caller_not_of_the_fork_server(tmp_path, monkeypatch):
    preload = ("json",)
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path / "when-the-server-started"))
    processes.start_early(preload)  # a fork server already running (an earlier measurement) keeps its environment
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path / "now"))
    plan = rounds.RoundsPlan(min_rounds=3, min_seconds=0.0, max_seconds=30.0, setup_timeout_s=120.0)
    timed = rounds.time_interleaved([("a", EnvSession, ()), ("b", EnvSession, ())], 1, plan, preload=preload)
    for name in ("a", "b"):
        assert timed.reports[name]["home"] == str(tmp_path / "now")
        assert timed.reports[name]["finished_home"] == str(tmp_path / "now")
        assert timed.samples[name] == {"only": [1.0, 1.0, 1.0]}
    assert timed.rounds == 3


def _plan(timing: str = "one-process", min_rounds: int = 3) -> rounds.RoundsPlan:
    return rounds.RoundsPlan(min_rounds=min_rounds, min_seconds=0.0, max_seconds=60.0, setup_timeout_s=120.0,
                             timing=timing)


def test_one_process_timing_mirrors_the_order_so_a_steady_drift_falls_on_every_variant_alike():
    jobs = [(name, DriftSession, ()) for name in "abc"]
    timed = rounds.time_interleaved(jobs, 1, _plan())
    assert (timed.timing, timed.samples_per_round, timed.timing_note) == ("one-process", 2, None)
    assert timed.rounds == 3
    # A B C C B A: after an untimed half round (A B C: 3 samples), the k-th round takes samples 6k-2 .. 6k+3 of the
    # process; a mirrored pair sums to 12k+1 whatever the order: every mean is equal.
    for name in "abc":
        assert timed.samples[name] == {"b1": [6 * k + 0.5 for k in (1, 2, 3)]}
    pids = {timed.reports[name]["pid"] for name in "abc"}
    finished = {timed.reports[name]["finished_pid"] for name in "abc"}
    assert len(pids) == 1  # one timing process
    assert len(finished) == 3 and not finished & pids  # quality in each variant's own process
    assert 0 < timed.variants_ready_seconds < timed.timer_ready_seconds < timed.setup_seconds  # the set-up's phases


def test_per_variant_timing_keeps_each_variant_in_its_own_process_with_one_sample_per_round():
    timed = rounds.time_interleaved([(name, DriftSession, ()) for name in "ab"], 1, _plan("per-variant"))
    assert (timed.timing, timed.samples_per_round) == ("per-variant", 1)
    assert timed.timing_note == "per-variant timing was asked for"
    for name in "ab":  # own process: one warm-up sample, then one per round
        assert timed.samples[name] == {"b1": [2.0, 3.0, 4.0]}
    assert timed.reports["a"]["pid"] != timed.reports["b"]["pid"]
    assert timed.timer_ready_seconds is None and 0 < timed.variants_ready_seconds < timed.setup_seconds


def test_variants_that_would_not_fit_in_memory_twice_are_timed_each_in_its_own_process():
    timed = rounds.time_interleaved([("big", HungrySession, ()), ("small", DriftSession, ())], 1, _plan())
    assert timed.timing == "per-variant" and timed.samples_per_round == 1
    assert "GiB once more" in timed.timing_note and "is free" in timed.timing_note
    assert timed.samples["big"] == {"b1": [2.0, 3.0, 4.0]}


def test_a_variant_that_cannot_load_next_to_the_others_is_reported_and_the_others_are_timed():
    timed = rounds.time_interleaved([("a", DriftSession, ()), ("loner", LonerSession, ())], 1, _plan())
    assert timed.timing == "one-process"
    assert "MemoryError while loading for the timing: no room next to" in timed.reports["loner"]["error"]
    assert "loner" not in timed.samples
    assert len(timed.samples["a"]["b1"]) == 3


def test_a_round_value_covers_its_samples_passes():
    from distill_core.measure.records import LatencyRecord

    cycle = {"setting": "fixed", "batch_size": 4, "passes": 5, "padded_tokens": 10.0, "real_tokens": 8.0,
             "flops_per_input": 1e9}
    one = LatencyRecord.from_rounds(cycle, [10.0, 20.0, 30.0])
    two = LatencyRecord.from_rounds(cycle, [10.0, 20.0, 30.0], per_round=2)
    assert (one.passes_per_sample, two.passes_per_sample) == (5, 10)
    assert one.seconds == 60 * 5 / 1e3 and two.seconds == 60 * 10 / 1e3
    assert two.iterations == 30 and one.iterations == 15
    assert one.p50_ms == two.p50_ms == 20.0
    # 4 inputs per pass of 20 ms on average: 200 inputs/s of 1 GFLOP each, however many passes a round holds
    assert two.gflops_per_s == one.gflops_per_s == 200.0


def test_an_unknown_timing_mode_names_the_field_and_the_allowed_ones():
    import pytest

    from distill_core.core.errors import DistillLabError
    from distill_core.measure.records import BenchConfig, check_request

    with pytest.raises(DistillLabError) as caught:
        check_request(BenchConfig(timing="sequential"), None)
    assert caught.value.field == "timing"
    assert "one-process" in str(caught.value) and "per-variant" in str(caught.value)


def test_the_untimed_round_warms_in_the_process_that_times_and_its_timing_fields_are_read_after():
    from tests.support.drift_session import WarmSession, timing_only

    jobs = [(name, WarmSession, (), timing_only) for name in "ab"]
    timed = rounds.time_interleaved(jobs, 1, _plan())
    timer_pid = timed.reports["a"]["pid"]
    for name in "ab":  # opened by the job's timing setup; warmed there (no sample): samples 1-6 are the rounds'
        assert timed.reports[name]["opened_for"] == "timing" and timed.reports[name]["warmed_in"] == timer_pid
        assert timed.reports[name]["pid"] == timer_pid
    assert sorted(v for name in "ab" for v in timed.samples[name]["b1"]) == [2.5, 2.5, 6.5, 6.5, 10.5, 10.5]
    assert timed.reports["a"]["finished_pid"] != timer_pid  # quality still in the variant's own process

    timed = rounds.time_interleaved([("a", WarmSession, (), timing_only)], 1, _plan("per-variant"))
    report = timed.reports["a"]  # per-variant: the variant's own setup, warmed in its own process
    assert report["opened_for"] == "memory" and report["warmed_in"] == report["pid"] == report["finished_pid"]
    assert timed.samples["a"] == {"b1": [1.0, 2.0, 3.0]}
