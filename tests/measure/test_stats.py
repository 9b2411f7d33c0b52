"""The interval and verdict code on constructed cases and known distributions (measure/stats.py)."""

import numpy as np
import pytest
from scipy import stats as sps

from distill_core.measure import stats


def test_median_interval_uses_the_order_statistics_that_cover_95_percent():
    # n = 9: P(Binom(9, 1/2) <= 1) = 10/512, so (x(2), x(8)) covers 1 - 20/512 = 96.1%; (x(3), x(7)) only 82%.
    median, low, high = stats.median_interval([9, 1, 8, 2, 7, 3, 6, 4, 5])
    assert (median, low, high) == (5.0, 2.0, 8.0)


def test_median_interval_of_few_samples_is_their_range_and_says_how_little_it_covers():
    assert stats.median_interval([3.0, 1.0, 2.0]) == (2.0, 1.0, 3.0)
    assert stats.range_coverage(3) == pytest.approx(0.75)
    assert stats.median_interval([4.0]) == (4.0, 4.0, 4.0)


def test_median_interval_covers_the_true_median_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    true_median = np.log(2)  # exponential(1)
    hits = sum(low <= true_median <= high
               for _, low, high in (stats.median_interval(rng.exponential(size=15)) for _ in range(2000)))
    assert 0.94 <= hits / 2000 <= 0.995  # order-statistic intervals are conservative: 96.5% at n = 15


def test_t_interval_matches_the_textbook_formula():
    mean, low, high = stats.t_interval([0.023, 0.031, -0.005])
    sd = np.std([0.023, 0.031, -0.005], ddof=1)
    half = 4.302652729911275 * sd / np.sqrt(3)  # t(0.975, df=2)
    assert mean == pytest.approx(0.016333333)
    assert (low, high) == pytest.approx((mean - half, mean + half))
    assert stats.t_interval([0.01]) is None
    assert stats.t_interval([0.02, 0.02]) == (0.02, 0.02, 0.02)


def test_t_interval_covers_a_known_normal_mean_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(2000):
        _, low, high = stats.t_interval(rng.normal(3.0, 2.0, size=4))
        hits += low <= 3.0 <= high
    assert 0.93 <= hits / 2000 <= 0.97


def test_paired_bootstrap_interval_of_an_accuracy_difference_is_close_to_the_normal_approximation():
    # 1000 examples; the student alone right on 80, the control alone right on 40: gain +4 points.
    s = np.zeros(1000)
    c = np.zeros(1000)
    s[:600] = c[:600] = 1
    s[600:680] = 1
    c[680:720] = 1
    low, high = stats.paired_bootstrap_interval(s, c)
    d = s - c
    half = 1.96 * d.std(ddof=1) / np.sqrt(1000)
    assert low < 0.04 < high
    assert (low, high) == pytest.approx((0.04 - half, 0.04 + half), abs=0.004)
    assert low > 0  # a clear gain
    assert stats.paired_bootstrap_interval(s, s) == (0.0, 0.0)


def test_paired_bootstrap_respects_the_link_and_the_direction():
    # Perplexity: per-block nll, metric exp(mean); lower is better, so the gain is control ppl - student ppl.
    rng = np.random.default_rng(2)
    control = rng.normal(4.0, 0.05, size=200)
    student = control - 0.1
    low, high = stats.paired_bootstrap_interval(student, control, link="exp", higher_is_better=False)
    gain = np.exp(control.mean()) - np.exp(student.mean())
    assert low <= gain <= high and low > 0
    assert stats.gain_of(student, control, "exp", False) == pytest.approx(gain)


def test_paired_interval_of_accuracies_is_the_paired_t_interval_and_honest_with_few_discordant_examples():
    s, c = np.zeros(1000), np.zeros(1000)
    s[:3] = 1  # only the student right on 3 examples of 1000
    low, high = stats.paired_interval(s, c)
    half = sps.t.ppf(0.975, 999) * (s - c).std(ddof=1) / np.sqrt(1000)
    assert (low, high) == pytest.approx((0.003 - half, 0.003 + half))
    assert low < 0 < high  # McNemar agrees: 3 vs 0 discordant, p = 0.25
    assert stats.mcnemar_p(s, c) == pytest.approx(0.25)
    assert stats.paired_interval(c, s, higher_is_better=False) == pytest.approx((low, high))


def test_mcnemar_is_the_exact_binomial_test_of_the_discordant_pairs():
    s = np.array([1] * 10 + [0] * 2 + [1] * 50)
    c = np.array([0] * 10 + [1] * 2 + [1] * 50)
    assert stats.mcnemar_p(s, c) == pytest.approx(sps.binomtest(10, 12, 0.5).pvalue)
    assert stats.mcnemar_p(s, c) == pytest.approx(2 * sum(sps.binom.pmf(k, 12, 0.5) for k in range(10, 13)))
    assert stats.mcnemar_p(c, c) == 1.0


def _seed_scores(gains_in_examples: list[int], n: int = 1000, base: int = 700):
    """Per-seed (student, control) right/wrong arrays: the control right on `base`, the student on `base + g`."""
    students, controls = [], []
    for g in gains_in_examples:
        c = np.zeros(n)
        c[:base] = 1
        s = np.zeros(n)
        s[:base + g] = 1 if g >= 0 else 0
        if g < 0:
            s[:base + g] = 1
        students.append(s)
        controls.append(c)
    return students, controls


def test_verdict_clear_gain_no_effect_and_clear_loss():
    clear = stats.gain_report("accuracy", True, [0, 1, 2], *_seed_scores([50, 55, 45]), binary=True)
    assert clear.verdict == "helped" and clear.interval[0] > 0 and clear.mean == pytest.approx(0.05)
    assert clear.interval_method == "t over 3 seeds"
    assert clear.to_dict()["verdict_text"] == "the teacher helped"
    assert all(s.p_value < 1e-6 for s in clear.per_seed)

    # +2.3, +3.1, -0.5 points (what the preset's three seeds gave): the seeds disagree, no verdict.
    unsure = stats.gain_report("accuracy", True, [0, 1, 2], *_seed_scores([23, 31, -5]), binary=True)
    assert unsure.verdict == "no-effect" and unsure.interval[0] < 0 < unsure.interval[1]

    loss = stats.gain_report("accuracy", True, [0, 1, 2], *_seed_scores([-60, -50, -55]), binary=True)
    assert loss.verdict == "hurt" and loss.interval[1] < 0


def test_verdict_needs_the_test_split_to_agree_with_the_seeds():
    # Three identical +0.3 point gains: zero spread over seeds, but 3 examples of 1000 are no evidence.
    tiny = stats.gain_report("accuracy", True, [0, 1, 2], *_seed_scores([3, 3, 3]), binary=True)
    assert tiny.interval == [pytest.approx(0.003), pytest.approx(0.003)]
    assert tiny.split_interval[0] <= 0 and tiny.verdict == "no-effect"


def test_one_seed_takes_the_paired_bootstrap_and_says_what_it_leaves_out():
    report = stats.gain_report("accuracy", True, [7], *_seed_scores([60]), binary=True)
    assert report.interval_method == "paired, over the test split's examples (1 seed)"
    assert report.interval == report.split_interval and report.verdict == "helped"
    assert report.seeds == [7] and "one training seed" in report.notes[0]


def test_reported_metrics_override_the_scores_means():
    s, c = _seed_scores([10])
    report = stats.gain_report("accuracy", True, [0], s, c, metrics=[(0.8, 0.75)])
    assert report.per_seed[0].gain == pytest.approx(0.05) and report.mean == pytest.approx(0.05)
