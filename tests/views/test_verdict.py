"""The verdict in words and rows, from hand-built results.json "gain" dicts (GainReport.to_dict's shape)."""

from distill_core.views import verdict

# Three seeds of an accuracy run: gains 2.3, 1.0 and 1.5 points; mean 1.6 points; the t interval over the three
# gains is 1.6 +- 4.303 * 0.656 / sqrt(3) points = (-0.03, +3.23): it holds zero, so no measurable effect.
THREE_SEEDS = {"quality": {"metric": "accuracy", "distillation_gain": 0.016, "gain": {
    "metric": "accuracy", "higher_is_better": True,
    "per_seed": [
        {"seed": 0, "student": 0.774, "control": 0.751, "gain": 0.023, "interval": [-0.005, 0.051], "p_value": 0.12},
        {"seed": 1, "student": 0.780, "control": 0.770, "gain": 0.010, "interval": [-0.02, 0.04], "p_value": 0.5},
        {"seed": 2, "student": 0.765, "control": 0.750, "gain": 0.015, "interval": [-0.01, 0.04],
         "p_value": 0.0004}],
    "mean": 0.016, "student_mean": 0.773, "control_mean": 0.757, "interval": [-0.0003, 0.0323],
    "interval_method": "t over 3 seeds", "split_interval": [0.001, 0.03], "verdict": "no-effect",
    "verdict_text": "no measurable effect", "confidence": 0.95, "notes": [], "seeds": [0, 1, 2]}}}

ONE_SEED_NOTE = ("one training seed: how much the gain moves from seed to seed is not measured; use 3 or more seeds "
                 "for a verdict that covers it")
ONE_SEED = {"quality": {"metric": "accuracy", "gain": {
    "metric": "accuracy", "higher_is_better": True,
    "per_seed": [{"seed": 0, "student": 0.78, "control": 0.75, "gain": 0.03, "interval": [0.012, 0.048],
                  "p_value": 0.0021}],
    "mean": 0.03, "student_mean": 0.78, "control_mean": 0.75, "interval": [0.012, 0.048],
    "interval_method": "paired, over the test split's examples (1 seed)", "split_interval": [0.012, 0.048],
    "verdict": "helped", "verdict_text": "the teacher helped", "confidence": 0.95, "notes": [ONE_SEED_NOTE],
    "seeds": [0]}}}

# Perplexity (lower is better): gain = control - student, so a student with the higher perplexity has a negative
# gain. Gains -9.25 and -7.95, mean -8.60; t over 2 seeds: -8.60 +- 12.706 * 0.65 = (-16.86, -0.34): the teacher
# hurt.
PERPLEXITY = {"quality": {"metric": "perplexity", "gain": {
    "metric": "perplexity", "higher_is_better": False,
    "per_seed": [
        {"seed": 4, "student": 180.5, "control": 171.25, "gain": -9.25, "interval": [-12.0, -6.5], "p_value": None},
        {"seed": 5, "student": 178.0, "control": 170.05, "gain": -7.95, "interval": [-11.0, -5.0], "p_value": None}],
    "mean": -8.6, "student_mean": 179.25, "control_mean": 170.65, "interval": [-16.859, -0.341],
    "interval_method": "t over 2 seeds", "split_interval": [-10.0, -6.0], "verdict": "hurt",
    "verdict_text": "the teacher hurt", "confidence": 0.95, "notes": [], "seeds": [4, 5]}}}


def test_headline_names_the_verdict_the_gain_in_points_and_its_interval():
    assert verdict.headline(THREE_SEEDS) == \
        "no measurable effect: +1.60 points (95% CI -0.03 to +3.23; t over 3 seeds)"
    assert verdict.headline(ONE_SEED) == ("the teacher helped: +3.00 points (95% CI +1.20 to +4.80; paired, over "
                                          "the test split's examples (1 seed))")


def test_headline_of_a_lower_is_better_metric_is_in_its_own_unit():
    assert verdict.headline(PERPLEXITY) == \
        "the teacher hurt: -8.60 perplexity (95% CI -16.86 to -0.34; t over 2 seeds)"


def test_seed_rows_per_seed_then_the_mean_with_mcnemar_when_present():
    gain = THREE_SEEDS["quality"]["gain"]
    assert verdict.seed_columns(gain) == ["seed", "student accuracy", "control accuracy", "gain", "95% CI",
                                          "McNemar p"]
    rows = verdict.seed_rows(gain)
    assert rows[0] == {"seed": "0", "student accuracy": "77.40%", "control accuracy": "75.10%",
                       "gain": "+2.30 points", "95% CI": "-0.50 to +5.10", "McNemar p": "0.120"}
    assert rows[2]["McNemar p"] == "<0.001"
    assert rows[3] == {"seed": "mean", "student accuracy": "77.30%", "control accuracy": "75.70%",
                       "gain": "+1.60 points", "95% CI": "-0.03 to +3.23", "McNemar p": ""}


def test_one_seed_has_no_mean_row_and_keeps_its_note():
    gain = ONE_SEED["quality"]["gain"]
    assert verdict.seed_rows(gain) == [{"seed": "0", "student accuracy": "78.00%", "control accuracy": "75.00%",
                                        "gain": "+3.00 points", "95% CI": "+1.20 to +4.80", "McNemar p": "0.002"}]
    assert verdict.notes(gain) == [ONE_SEED_NOTE]


def test_perplexity_rows_have_no_mcnemar_column():
    gain = PERPLEXITY["quality"]["gain"]
    assert verdict.seed_columns(gain) == ["seed", "student perplexity", "control perplexity", "gain", "95% CI"]
    assert verdict.seed_rows(gain)[0] == {"seed": "4", "student perplexity": "180.50",
                                          "control perplexity": "171.25", "gain": "-9.25 perplexity",
                                          "95% CI": "-12.00 to -6.50"}
    assert verdict.unit_note(gain) == "gain = control - student perplexity"


def test_seed_lines_align_the_table_as_text():
    lines = verdict.seed_lines(THREE_SEEDS["quality"]["gain"])
    assert lines == [
        "seed  student accuracy  control accuracy          gain          95% CI  McNemar p",
        "0               77.40%            75.10%  +2.30 points  -0.50 to +5.10      0.120",
        "1               78.00%            77.00%  +1.00 points  -2.00 to +4.00      0.500",
        "2               76.50%            75.00%  +1.50 points  -1.00 to +4.00     <0.001",
        "mean            77.30%            75.70%  +1.60 points  -0.03 to +3.23",
    ]


def test_gain_lines_are_headline_table_unit_and_notes():
    lines = verdict.gain_lines(ONE_SEED)
    assert lines[0] == ("verdict: the teacher helped: +3.00 points (95% CI +1.20 to +4.80; paired, over the test "
                        "split's examples (1 seed))")
    assert lines[1].startswith("seed") and lines[2].startswith("0 ")
    assert lines[3] == "gain = student - control accuracy, in percentage points"
    assert lines[4] == f"note: {ONE_SEED_NOTE}"


def test_runs_without_a_gain_report_have_no_verdict():
    older = {"quality": {"metric": "accuracy", "distillation_gain": 0.03, "variants": {}}}
    for results in (older, None, {}, {"quality": {"gain": "?"}}, {"quality": {"gain": {"metric": "accuracy"}}}):
        assert verdict.gain_of(results) is None
        assert verdict.headline(results) is None
        assert verdict.gain_lines(results) == []


def test_gain_cell_adds_what_the_run_has():
    assert verdict.gain_cell(0.03, "accuracy") == "+3.00 points"
    assert verdict.gain_cell(0.03, "accuracy", [0.012, 0.048], "helped", 1) == \
        "+3.0 points (+1.2 to +4.8), the teacher helped"
    assert verdict.gain_cell(-2.5, "perplexity", [-4.0, -1.0], "hurt") == \
        "-2.50 perplexity (-4.00 to -1.00), the teacher hurt"
    assert verdict.gain_cell(None, "accuracy", [0.0, 0.1], "helped") == "–"
    assert verdict.gain_cell(0.03, "accuracy", [None, None]) == "+3.00 points"
    assert verdict.verdict_text("helped") == "the teacher helped" and verdict.verdict_text(None) == ""


def _with_rates(results: dict, rates: dict) -> dict:
    return {**results, "training": {"learning_rates": rates}}


def test_learning_rate_line_names_what_each_got_and_the_validation_scores():
    rates = {"student": {"chosen": 5e-4, "trials": [{"learning_rate": 1e-4, "validation": 0.78},
                                                    {"learning_rate": 5e-4, "validation": 0.801}]},
             "control": {"chosen": 1e-4, "trials": [{"learning_rate": 1e-4, "validation": 0.775},
                                                    {"learning_rate": 5e-4, "validation": 0.752}]}}
    line = verdict.learning_rate_line(_with_rates(THREE_SEEDS, rates))
    assert line == ("learning rate, chosen on the validation split from 0.0001, 0.0005 for each: student 0.0005 "
                    "(validation accuracy 80.1% vs 78.0%), control 0.0001 (validation accuracy 77.5% vs 75.2%)")
    assert verdict.gain_lines(_with_rates(THREE_SEEDS, rates))[-1] == line


def test_learning_rate_line_says_when_the_validation_loss_broke_a_tie():
    rates = {"student": {"chosen": 5e-4, "trials": [
                 {"learning_rate": 1e-4, "validation": 0.787, "validation_loss": 0.5304},
                 {"learning_rate": 5e-4, "validation": 0.787, "validation_loss": 0.5121}]},
             "control": {"chosen": 1e-4, "trials": [
                 {"learning_rate": 1e-4, "validation": 0.775, "validation_loss": 0.61},
                 {"learning_rate": 5e-4, "validation": 0.752, "validation_loss": 0.58}]}}
    line = verdict.learning_rate_line(_with_rates(THREE_SEEDS, rates))
    assert line.endswith("student 0.0005 (validation accuracy 78.7% vs 78.7%, tied: validation loss 0.512 vs "
                         "0.530), control 0.0001 (validation accuracy 77.5% vs 75.2%)")  # no tie: no loss shown


def test_learning_rate_line_of_perplexity_shows_perplexities_and_untuned_runs_say_so():
    # The validation score of a language model is minus its perplexity (higher is better).
    rates = {"student": {"chosen": 1e-3, "trials": [{"learning_rate": 1e-3, "validation": -40.25},
                                                    {"learning_rate": 3e-3, "validation": -52.0}]},
             "control": {"chosen": 3e-3, "trials": [{"learning_rate": 1e-3, "validation": -61.0},
                                                    {"learning_rate": 3e-3, "validation": -58.5}]}}
    line = verdict.learning_rate_line(_with_rates(PERPLEXITY, rates))
    assert line.endswith("student 0.001 (validation perplexity 40.2 vs 52.0), "
                         "control 0.003 (validation perplexity 58.5 vs 61.0)")
    untuned = {"student": {"chosen": 1e-4, "trials": []}, "control": {"chosen": 1e-4, "trials": []}}
    assert verdict.learning_rate_line(_with_rates(ONE_SEED, untuned)) == \
        "learning rate 0.0001 for student and control (no candidates tuned)"
    assert verdict.learning_rate_line(THREE_SEEDS) is None  # runs from before it was recorded
