"""benchmarks/bench_repeat.py's judgement that the machine changed between two measurements."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_repeat.py"
spec = importlib.util.spec_from_file_location("bench_repeat", SCRIPT)
bench_repeat = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_repeat)


def _record(probes: list[float], p50s: dict[str, float] | None = None) -> dict:
    """A bench.json with these round probes and (name -> p50 ms at real/1) latencies."""
    return {"conditions": {"round_probe_ms": {"real/1": probes[::2], "real/32": probes[1::2]}},
            "config": {"batch_sizes": [1]},
            "variants": {name: {"latency": [{"setting": "real", "batch_size": 1, "p50_ms": ms}]}
                         for name, ms in (p50s or {}).items()}}


def test_round_probes_that_moved_as_a_whole_say_the_machine_changed():
    quiet = [2.70, 2.72, 2.68, 2.75, 2.71, 2.69, 2.74, 2.73, 2.70, 2.72]
    slower = [p * 1.05 for p in quiet]  # every probe 5% slower: Mann-Whitney U = 0, p < 0.001

    said = bench_repeat.machine_changed(_record(quiet), _record(slower))

    assert said is not None and "2.71 -> 2.85 ms (+5.0%" in said and "p = 0.000" in said


def test_a_probe_that_moved_against_the_p50s_does_not_explain_them():
    quiet = [2.70, 2.72, 2.68, 2.75, 2.71, 2.69, 2.74, 2.73, 2.70, 2.72]
    slower = [p * 1.05 for p in quiet]
    first = _record(quiet, {"teacher": 30.0, "student": 8.0, "control": 8.0})
    faster = _record(slower, {"teacher": 28.5, "student": 7.6, "control": 7.7})  # p50s -5, -5, -3.75%: median -5%
    later = _record(slower, {"teacher": 31.5, "student": 8.4, "control": 8.3})  # +5, +5, +3.75%

    assert abs(bench_repeat.p50_shift(first, faster) + 0.05) < 1e-9
    assert bench_repeat.machine_changed(first, faster) is None
    said = bench_repeat.machine_changed(first, later)
    assert said is not None and said.endswith("p50s +5.0% (median)")


def test_round_probes_from_one_distribution_do_not():
    first = [2.70, 2.72, 2.68, 2.75, 2.71, 2.69, 2.74, 2.73, 2.70, 2.72]
    second = [2.71, 2.69, 2.73, 2.70, 2.74, 2.72, 2.68, 2.75, 2.72, 2.70]  # the same values, reordered

    assert bench_repeat.machine_changed(_record(first), _record(second)) is None


def test_records_without_round_probes_fall_back_to_the_probe_before_and_after():
    def old(before, after):
        return {"conditions": {"probe_ms_before": before, "probe_ms_after": after}}

    assert bench_repeat.machine_changed(old(3.0, 3.0), old(3.4, 3.4)) == "speed probe 3.00 -> 3.40 ms"
    assert bench_repeat.machine_changed(old(3.0, 3.0), old(3.1, 3.2)) is None


def test_every_p50_moving_the_same_way_says_the_machine_changed_though_the_probes_did_not():
    probes = [2.70, 2.72, 2.68, 2.75, 2.71, 2.69, 2.74, 2.73, 2.70, 2.72]
    names = [f"v{i}" for i in range(10)]
    first = _record(probes, {n: 10.0 for n in names})
    slower = _record(probes, {n: 10.0 * (1.03 + 0.004 * i) for i, n in enumerate(names)})  # +3.0 to +6.6%
    said = bench_repeat.machine_changed(first, slower)
    assert said == "every p50 moved the same way (+3.0 to +6.6%, 10 of 10: sign test p = 0.002)"
    one_back = _record(probes, {n: 10.0 * (0.99 if i == 0 else 1.05) for i, n in enumerate(names)})
    assert bench_repeat.machine_changed(first, one_back) is None  # 9 of 10: p = 0.021, not below 0.01
    seven = {n: 10.0 for n in names[:7]}  # 7 of 7 the same way: p = 0.016, too few to tell
    assert bench_repeat.machine_changed(_record(probes, seven), _record(probes, {n: 10.5 for n in seven})) is None
