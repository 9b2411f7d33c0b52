"""How a measurement was taken, as the report and `distill-lab show` print it."""

from distill_core.measure.conditions import conditions_text


def test_one_process_timing_reads_as_mirrored_rounds_with_load_and_probe():
    text = conditions_text({"timing": "one-process", "timing_note": None, "rounds": 12, "timing_seconds": 29.4,
                            "load_before": [0.7, 0.5, 0.3], "load_after": [2.01, 1.1, 0.6],
                            "probe_ms_before": 5.104, "probe_ms_after": 5.2})
    assert text == ("timed in one process, mirrored rounds: 12 rounds in 29 s; load average 0.70 before, 2.01 after; "
                    "speed probe 5.10 ms before, 5.20 ms after")


def test_a_fallback_says_why_each_variant_had_its_own_process():
    text = conditions_text({"timing": "per-variant", "timing_note": "the variants need 9.0 GiB once more and 4.0 GiB "
                            "is free: each is timed in its own process", "rounds": 9, "timing_seconds": 10.0})
    assert text.startswith("timed each in its own process: 9 rounds in 10 s (the variants need 9.0 GiB")


def test_no_conditions_no_text():
    assert conditions_text(None) == "" and conditions_text({}) == ""
