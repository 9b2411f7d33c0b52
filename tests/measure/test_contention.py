"""Host contention: which timing rounds a measurement keeps, the machine's quiet probe, and the harness using both."""

import itertools

import pytest

from distill_core.measure import allocator, contention, rounds
from distill_core.measure.conditions import conditions_text
from tests.support.drift_session import DriftSession


def test_a_block_probe_is_the_higher_of_the_probes_before_and_after_it():
    assert contention.per_block([2.0, 4.0, 3.0]) == [4.0, 4.0]


def test_rounds_over_the_quiet_factor_are_left_out_when_enough_quiet_ones_remain():
    probes = [3.0, 3.1, 4.5, 2.9, 3.0, 4.2, 3.05, 3.0, 3.2]  # 4.5 and 4.2 > 1.2 x 3.0 = 3.6; 3.2 is quiet
    choice = contention.choose_rounds(probes, quiet_ms=3.0)
    assert choice.contended == [2, 5]
    assert choice.kept == [0, 1, 3, 4, 6, 7, 8]
    assert not choice.throughout


def test_every_round_quiet_keeps_all_and_the_note_says_nothing():
    choice = contention.choose_rounds([3.0, 3.5, 3.59], quiet_ms=3.0)  # 3.59 <= 3.6
    assert (choice.kept, choice.contended) == ([0, 1, 2], [])
    assert contention.contention_note({"real/1": choice}, 3, 3.0) is None


def test_too_few_quiet_rounds_keep_every_round_of_that_setting_and_say_it_ran_under_contention():
    probes = [4.4, 4.6, 3.0, 4.5, 4.7, 3.1, 4.4, 4.5]  # 2 quiet of 8, fewer than MIN_QUIET_ROUNDS (6)
    choice = contention.choose_rounds(probes, quiet_ms=3.0)
    assert choice.throughout and choice.kept == list(range(8)) and len(choice.contended) == 6
    left = contention.choose_rounds([3.0] * 6 + [4.0, 4.0], quiet_ms=3.0)
    assert left.kept == list(range(6)) and not left.throughout
    assert contention.contention_note({"real/1": choice, "real/32": left}, 8, 3.0) == (
        "contended rounds left out (2 of 8 rounds at real/32; probe over 1.2x the machine's quiet 3.00 ms); the host "
        "was contended in 6 of 8 rounds at real/1 (probe over 1.2x the machine's quiet 3.00 ms), too many to leave out: "
        "those figures were measured under contention (speedups at batch 1 shift by ~10% on a contended 2-core VM); "
        "for figures that repeat, measure again later, or on one thread (distill-lab bench --threads 1: far less "
        "moved by contention), or with a quiet wait (--quiet-wait 180)")


def test_keeping_rounds_keeps_the_same_rounds_of_every_variant_per_setting():
    samples = {"a": {"b1": [1, 2, 3, 4], "b32": [10, 20, 30, 40]}, "b": {"b1": [5, 6, 7, 8]}}
    assert contention.keep_rounds(samples, {"b1": [0, 2, 3], "b32": [1]}) == {
        "a": {"b1": [1, 3, 4], "b32": [20]}, "b": {"b1": [5, 7, 8]}}


def test_the_quiet_probe_is_the_lowest_lower_quartile_seen_on_this_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path))
    assert contention.quiet_probe_ms([4.0, 4.4, 4.8, 5.2, 5.6]) == pytest.approx(4.4)  # first: its lower quartile
    assert contention.quiet_probe_ms([3.0, 3.0, 3.2, 3.4, 3.6]) == pytest.approx(3.0)  # a quieter one lowers it
    assert contention.quiet_probe_ms([4.5, 4.5, 4.6, 4.7, 4.8]) == pytest.approx(3.0)  # a contended one does not
    assert len(list(tmp_path.rglob("quiet-probe-*.json"))) == 1


def test_each_timing_thread_count_keeps_its_own_quiet_probe(tmp_path, monkeypatch):
    # beside one-thread timing the probe reads lower than beside two-thread timing on the same quiet host: a
    # one-thread measurement must not set the two-thread reference (it made every two-thread round "contended")
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path))
    assert contention.quiet_probe_ms([4.0, 4.0, 4.2], threads=2) == pytest.approx(4.0)
    assert contention.quiet_probe_ms([3.2, 3.2, 3.4], threads=1) == pytest.approx(3.2)
    assert contention.quiet_probe_ms([4.6, 4.6, 4.8], threads=2) == pytest.approx(4.0)  # still two threads' own
    assert len(list(tmp_path.rglob("quiet-probe-*.json"))) == 2
    timed = rounds.Timed(reports={"a": {"error": "failed"}, "b": {"threads": 2}})
    assert contention.timing_threads(timed) == 2 and contention.timing_threads(rounds.Timed(reports={})) is None


def test_measuring_in_rounds_leaves_the_contended_rounds_out_of_samples_and_records_why(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path))
    # each variant in its own process: one probe before round 1 and one after each of 10 rounds; a round's probe is
    # the higher of its two: rounds 3-5 (indices 2-4) read 5.0, over 1.2 x the quiet 3.0 ms
    values = iter([3.0, 3.0, 3.0, 5.0, 3.0, 5.0, 3.0, 3.0, 3.0, 3.0, 3.0])
    plan = rounds.RoundsPlan(min_rounds=10, min_seconds=0.0, max_seconds=60.0, setup_timeout_s=120.0,
                             timing="per-variant")
    timed, conditions = rounds.measure_in_rounds([("a", DriftSession, ())], 1, plan, (), lambda event: None,
                                                 probe=lambda: next(values))
    assert timed.rounds == 10
    assert conditions["round_probe_ms"] == {"b1": [3.0, 3.0, 5.0, 5.0, 5.0, 5.0, 3.0, 3.0, 3.0, 3.0]}
    assert conditions["contended_rounds"] == {"b1": [2, 3, 4, 5]} and conditions["rounds_kept"] == {"b1": 6}
    assert conditions["quiet_probe_ms"] == 3.0 and conditions["contended_throughout"] is False
    # DriftSession in its own process: one warm-up sample (1), then rounds 1..10 give 2..11; rounds 3-6 are out
    assert timed.samples["a"] == {"b1": [2.0, 3.0, 8.0, 9.0, 10.0, 11.0]}
    assert "contended rounds left out (4 of 10 rounds at b1;" in conditions_text(conditions)


def test_in_one_timing_process_each_half_of_a_settings_block_is_probed_and_judged_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path))
    # two settings, each block mirrored (A B | B A) with a probe at the mirror point and after it: 8 rounds x 2
    # settings x 2 halves = 32 blocks, 33 probes. Probe 6 (after block 5: round 1, b1, second half) reads 6.0, so
    # blocks 5 and 6 (round 1's b1 second half and b32 first half) exceed 1.2 x the quiet 3.0 ms
    values = [3.0] * 33
    values[6] = 6.0
    it = iter(values)
    jobs = [(name, DriftSession, (("b1", "b32"),)) for name in "ab"]
    plan = rounds.RoundsPlan(min_rounds=8, min_seconds=0.0, max_seconds=60.0, setup_timeout_s=120.0)
    timed, conditions = rounds.measure_in_rounds(jobs, 1, plan, (), lambda event: None, probe=lambda: next(it))
    assert timed.timing == "one-process" and len(timed.probes_ms) == 33
    assert timed.probe_blocks[:5] == [(0, ["b1"]), (0, ["b1"]), (0, ["b32"]), (0, ["b32"]), (1, ["b1"])]
    assert conditions["round_probe_ms"]["b1"][:3] == [3.0, 6.0, 3.0]
    assert conditions["contended_rounds"] == {"b1": [1], "b32": [1]}
    assert conditions["rounds_kept"] == {"b1": 7, "b32": 7}
    assert all(len(timed.samples[n][k]) == 7 for n in "ab" for k in ("b1", "b32"))
    assert (conditions["variants_ready_seconds"], conditions["timer_ready_seconds"]) == (
        timed.variants_ready_seconds, timed.timer_ready_seconds)  # bench.json says where the set-up went


def test_without_a_probe_every_round_counts():
    plan = rounds.RoundsPlan(min_rounds=3, min_seconds=0.0, max_seconds=60.0, setup_timeout_s=120.0,
                             timing="per-variant")
    timed, conditions = rounds.measure_in_rounds([("a", DriftSession, ())], 1, plan, (), lambda event: None,
                                                 probe=None)
    assert timed.samples["a"] == {"b1": [2.0, 3.0, 4.0]} and "round_probe_ms" not in conditions
    assert conditions["allocator"] == allocator.DESCRIPTION  # the measuring process kept its freed memory


def test_each_variant_in_its_own_process_is_probed_before_the_first_round_and_after_every_round():
    calls = itertools.count()
    plan = rounds.RoundsPlan(min_rounds=4, min_seconds=0.0, max_seconds=60.0, setup_timeout_s=120.0,
                             timing="per-variant")
    timed = rounds.time_interleaved([("a", DriftSession, ())], 1, plan, probe=lambda: float(next(calls)))
    assert timed.rounds == 4 and timed.probes_ms == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert timed.probe_blocks == [(0, ["b1"]), (1, ["b1"]), (2, ["b1"]), (3, ["b1"])]


@pytest.mark.parametrize("timing, probes", [("one-process", 1 + 2 * 2), ("per-variant", 1 + 2)])
def test_the_probe_runs_on_the_threads_of_the_process_that_times(monkeypatch, timing, probes):
    # one-process: before round 1 and after each half of each round's block; per-variant: before and after each round
    monkeypatch.setattr(contention, "timing_probe_ms", lambda *args: pytest.fail("the probe ran in the parent"))
    plan = rounds.RoundsPlan(min_rounds=2, min_seconds=0.0, max_seconds=60.0, setup_timeout_s=120.0, timing=timing)
    timed = rounds.time_interleaved([(name, DriftSession, ()) for name in "ab"], 1, plan, probe="timing")
    assert timed.timing == timing and timed.rounds == 2
    assert len(timed.probes_ms) == probes and all(0.0 < ms < 1000.0 for ms in timed.probes_ms)
    assert timed.samples["a"]["b1"] and timed.samples["b"]["b1"]  # the probes took no samples' place


def test_the_timing_probe_times_a_fixed_torch_workload_in_ms(monkeypatch):
    import time

    clock = iter(range(0, 10**9, 2_500_000))  # every perf_counter_ns call 2.5 ms after the last
    monkeypatch.setattr(time, "perf_counter_ns", lambda: next(clock))
    assert contention.timing_probe_ms(3) == pytest.approx(2.5)


def test_the_rounds_stop_at_the_plans_minimums_unless_a_setting_waits_for_quiet_rounds_and_time_is_left():
    plan = rounds.RoundsPlan(min_rounds=4, min_seconds=10.0, max_seconds=45.0, quiet_wait_seconds=120.0)
    quiet, short = (lambda: False), (lambda: True)
    assert not plan.done(3, 20.0, quiet) and not plan.done(4, 9.0, quiet)  # a minimum not met yet
    assert plan.done(4, 10.0, quiet) and plan.done(2, 45.0, quiet)  # minimums met, or the maximum reached
    assert not plan.done(4, 10.0, short) and not plan.done(2, 119.9, short)  # waiting for quiet rounds: to 120 s
    assert plan.done(4, 120.0, short)  # the wait is over: stop, the record says "measured under contention"
    assert rounds.RoundsPlan(min_rounds=4, min_seconds=10.0).done(4, 10.0, short)  # no wait by default


def test_a_quiet_wait_times_on_until_six_quiet_rounds_then_leaves_the_contended_ones_out(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_LAB_HOME", str(tmp_path))
    contention.quiet_probe_ms([3.0], threads=1)  # this machine was seen quiet before, timing on 1 thread: 3.0 ms
    # each variant in its own process: a probe before round 1 and after each round. Rounds 1-6 read 5.0 (the
    # host contended), from round 7 on 3.0; without a wait the 4 rounds asked for would all be contended.
    def values():
        yield 3.0
        yield from [5.0] * 5
        yield from itertools.repeat(3.0)

    def measure(wait_s):
        probes = values()
        plan = rounds.RoundsPlan(min_rounds=4, min_seconds=0.0, max_seconds=60.0, setup_timeout_s=120.0,
                                 timing="per-variant", quiet_wait_seconds=wait_s)
        return rounds.measure_in_rounds([("a", DriftSession, ())], 1, plan, (), lambda event: None,
                                        probe=lambda: next(probes))

    timed, conditions = measure(0.0)
    assert timed.rounds == 4 and conditions["contended_throughout"] is True
    timed, conditions = measure(60.0)
    assert timed.rounds == 12 and conditions["contended_rounds"] == {"b1": [0, 1, 2, 3, 4, 5]}
    assert conditions["contended_throughout"] is False and conditions["rounds_kept"] == {"b1": 6}
    assert timed.samples["a"] == {"b1": [8.0, 9.0, 10.0, 11.0, 12.0, 13.0]}  # rounds 7-12 (a warm-up sample is 1)


def test_a_quiet_wait_must_be_between_0_and_an_hour():
    from distill_core.core.errors import DistillLabError
    from distill_core.measure.records import BenchConfig, check_request

    check_request(BenchConfig(quiet_wait_seconds=120.0), None)
    with pytest.raises(DistillLabError) as info:
        check_request(BenchConfig(quiet_wait_seconds=-1.0), None)
    assert info.value.field == "quiet_wait_seconds" and "0 (no wait) to 3600 seconds" in info.value.message
