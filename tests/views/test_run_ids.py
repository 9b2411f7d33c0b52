"""Run ids shown short: two runs of the same day (same first 8 characters) get different labels."""

from distill_core.views.run_ids import short_id


def test_short_id_shows_time_and_suffix():
    assert short_id("20261201-215203-4d7d74") == "12-01 21:52 ·4d7d74"


def test_two_runs_of_one_day_get_different_labels():
    morning, evening = "20261201-091500-a1b2c3", "20261201-215203-4d7d74"
    assert morning[:8] == evening[:8]
    assert short_id(morning) != short_id(evening)


def test_two_runs_of_one_minute_differ_by_their_suffix():
    assert short_id("20261201-215203-4d7d74") != short_id("20261201-215259-0f9e8d")


def test_an_id_in_another_form_is_shown_whole():
    assert short_id("my-run") == "my-run"
    assert short_id("") == ""
