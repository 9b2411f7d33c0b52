"""Intervals and tests behind every "is this difference real?" on the board (scipy.stats does the statistics).

- Latency: the median of per-round samples with its distribution-free 95% interval (order statistics,
  `scipy.stats.quantile_test`); a speedup is the median of per-round paired ratios with the same interval.
- The distillation gain: a t interval over training seeds (`scipy.stats.t`); on the shared test split, a paired
  interval over its examples (`paired_interval`: the paired t interval of the per-example differences where the
  metric is their mean, e.g. accuracy; a paired bootstrap, `scipy.stats.bootstrap`, where it is not, e.g.
  perplexity); McNemar's exact test per seed for right/wrong scores (`scipy.stats.binomtest` on the discordant
  pairs); and the verdict that reads them.

Intervals are (low, high) in the unit of their samples; `confidence` is a fraction (0.95).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

CONFIDENCE = 0.95
VERDICTS = {"helped": "the teacher helped", "no-effect": "no measurable effect", "hurt": "the teacher hurt"}
LINKS = {"identity": lambda x: x, "exp": np.exp}  # metric = link(mean of per-example scores)


def median_interval(samples, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(median, low, high) of `samples`: the interval of order statistics that covers the true median with at least
    `confidence`. Too few samples for that (fewer than 6 at 95%): the range, min to max, which covers less."""
    from scipy import stats

    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("no samples")
    median = float(np.median(x))
    if x.size == 1:
        return median, median, median
    ci = stats.quantile_test(x, q=median, p=0.5).confidence_interval(confidence)
    low, high = float(ci.low), float(ci.high)
    if math.isnan(low) or math.isnan(high):
        low, high = float(x.min()), float(x.max())
    return median, low, high


def range_coverage(n: int) -> float:
    """The confidence of the min-to-max interval for a median from `n` samples: 1 - 2 * 0.5^n."""
    return 1.0 - 2.0 * 0.5**n if n > 0 else 0.0


def t_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float, float] | None:
    """(mean, low, high): Student's t interval for the mean of `values` (independent draws, e.g. one per training
    seed). None with fewer than 2 values; a zero-width interval when they are all equal."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return None
    mean = float(x.mean())
    sem = float(x.std(ddof=1) / math.sqrt(x.size))
    if sem == 0.0:
        return mean, mean, mean
    low, high = stats.t.interval(confidence, df=x.size - 1, loc=mean, scale=sem)
    return mean, float(low), float(high)


def gain_of(student_scores, control_scores, link: str = "identity", higher_is_better: bool = True,
            axis: int = -1):
    """The gain of per-example scores (metric = link(mean)): student minus control, sign-flipped when lower is
    better, so positive always means the student is better."""
    f = LINKS[link]
    diff = f(np.mean(student_scores, axis=axis)) - f(np.mean(control_scores, axis=axis))
    return diff if higher_is_better else -diff


def paired_bootstrap_interval(student_scores, control_scores, link: str = "identity", higher_is_better: bool = True,
                              confidence: float = CONFIDENCE, resamples: int = 2000,
                              seed: int = 0) -> tuple[float, float]:
    """(low, high) of the gain on a shared test split, from a paired bootstrap over its examples (both models are
    resampled on the same examples). BCa, or the percentile interval where BCa is undefined (e.g. no discordant
    examples)."""
    from scipy import stats

    s, c = np.asarray(student_scores, dtype=float), np.asarray(control_scores, dtype=float)
    if s.shape != c.shape or s.ndim != 1 or s.size < 2:
        raise ValueError(f"paired scores need two equal 1-D arrays of 2 or more (got {s.shape} and {c.shape})")
    if np.array_equal(s, c):
        return 0.0, 0.0

    def statistic(a, b, axis=-1):
        return gain_of(a, b, link, higher_is_better, axis)

    rng = np.random.default_rng(seed)
    for method in ("BCa", "percentile"):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BCa on degenerate data warns, then gives NaN: handled below
            res = stats.bootstrap((s, c), statistic, paired=True, vectorized=True, n_resamples=resamples,
                                  confidence_level=confidence, method=method, rng=rng)
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if not (math.isnan(low) or math.isnan(high)):
            return low, high
    return float("nan"), float("nan")


def paired_interval(student_scores, control_scores, link: str = "identity", higher_is_better: bool = True,
                    confidence: float = CONFIDENCE) -> tuple[float, float]:
    """(low, high) of the gain on a shared test split. Metric = mean of the scores (accuracy): the paired t interval
    of the per-example differences, well-behaved even with few discordant examples (3 right answers of 1000 that
    only the student got are no evidence; a bootstrap would never cross zero on them). Another link: the paired
    bootstrap."""
    from scipy import stats

    if link != "identity":
        return paired_bootstrap_interval(student_scores, control_scores, link, higher_is_better, confidence)
    d = np.asarray(student_scores, dtype=float) - np.asarray(control_scores, dtype=float)
    d = d if higher_is_better else -d
    if d.size < 2:
        raise ValueError("a paired interval needs 2 or more examples")
    if np.all(d == d[0]):
        return float(d[0]), float(d[0])
    ci = stats.ttest_1samp(d, 0.0).confidence_interval(confidence)
    return float(ci.low), float(ci.high)


def mcnemar_p(student_correct, control_correct) -> float:
    """McNemar's exact test (two-sided) on paired right/wrong answers: the binomial test of the examples only one
    of the two got right. 1.0 when there are none."""
    from scipy import stats

    s, c = np.asarray(student_correct, dtype=bool), np.asarray(control_correct, dtype=bool)
    only_student, only_control = int(np.sum(s & ~c)), int(np.sum(~s & c))
    if only_student + only_control == 0:
        return 1.0
    return float(stats.binomtest(only_student, only_student + only_control, 0.5).pvalue)


@dataclass
class SeedGain:
    """The gain of one training seed on the shared test split."""

    seed: int
    student: float  # the student's metric
    control: float  # the control's metric
    gain: float  # student - control (sign-flipped when lower is better): positive = the teacher helped
    interval: list[float]  # paired 95% interval of the gain over test examples (paired_interval)
    p_value: float | None = None  # McNemar's exact test (accuracy-like 0/1 scores), else None


@dataclass
class GainReport:
    """The distillation gain over training seeds and its verdict (results.json quality["gain"])."""

    metric: str
    higher_is_better: bool
    per_seed: list[SeedGain]
    mean: float  # mean gain over seeds
    student_mean: float
    control_mean: float
    interval: list[float]  # the headline 95% interval of the mean gain (see `interval_method`)
    interval_method: str  # "t over N seeds" | "paired, over the test split's examples (1 seed)"
    split_interval: list[float]  # paired interval over test examples of the seed-averaged scores
    verdict: str  # key of VERDICTS
    confidence: float = CONFIDENCE
    notes: list[str] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        return [s.seed for s in self.per_seed]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["seeds"] = self.seeds
        data["verdict_text"] = VERDICTS[self.verdict]
        return data


def verdict_of(interval: tuple[float, float], split_interval: tuple[float, float] | None = None) -> str:
    """"helped" when the gain's interval lies above zero (and the test-split interval too, when given), "hurt" when
    both lie below zero, else "no-effect"."""
    above = interval[0] > 0 and (split_interval is None or split_interval[0] > 0)
    below = interval[1] < 0 and (split_interval is None or split_interval[1] < 0)
    return "helped" if above else "hurt" if below else "no-effect"


def gain_report(metric: str, higher_is_better: bool, seeds: list[int], student_scores: list, control_scores: list,
                link: str = "identity", binary: bool = False, confidence: float = CONFIDENCE,
                metrics: list[tuple[float, float]] | None = None) -> GainReport:
    """The gain over training seeds from per-example scores on the shared test split: `student_scores[i]` and
    `control_scores[i]` are seed `seeds[i]`'s arrays (metric = link(mean)); `binary`: scores are right/wrong
    (McNemar per seed). `metrics[i]`: seed i's (student, control) metric as its evaluation reported it, where that
    is more exact than link(mean(scores)) (e.g. a perplexity summed in other precision); default: from the scores.

    The headline interval: with 2 or more seeds, Student's t over the per-seed gains (training noise); with one seed,
    the paired interval on the test split (test-sampling noise only; a note says so). The verdict needs both the
    seed interval and the test-split interval (seed-averaged scores, paired bootstrap) clear of zero on one side."""
    if not seeds or len(seeds) != len(student_scores) or len(seeds) != len(control_scores):
        raise ValueError("one student and one control score array per seed")
    f = LINKS[link]
    per_seed = []
    for i, (seed, s, c) in enumerate(zip(seeds, student_scores, control_scores)):
        s, c = np.asarray(s, dtype=float), np.asarray(c, dtype=float)
        low, high = paired_interval(s, c, link, higher_is_better, confidence)
        student, control = metrics[i] if metrics else (float(f(s.mean())), float(f(c.mean())))
        gain = student - control if higher_is_better else control - student
        per_seed.append(SeedGain(seed=int(seed), student=float(student), control=float(control), gain=float(gain),
                                 interval=[low, high], p_value=mcnemar_p(s, c) if binary else None))
    gains = [g.gain for g in per_seed]
    student_avg = np.mean([np.asarray(s, dtype=float) for s in student_scores], axis=0)
    control_avg = np.mean([np.asarray(c, dtype=float) for c in control_scores], axis=0)
    split = paired_interval(student_avg, control_avg, link, higher_is_better, confidence)
    notes = []
    over_seeds = t_interval(gains, confidence)
    if over_seeds is None:
        interval, method = split, "paired, over the test split's examples (1 seed)"
        notes.append("one training seed: how much the gain moves from seed to seed is not measured; use 3 or more "
                     "seeds for a verdict that covers it")
        verdict = verdict_of(split)
    else:
        interval, method = (over_seeds[1], over_seeds[2]), f"t over {len(seeds)} seeds"
        verdict = verdict_of(interval, split)
    return GainReport(metric=metric, higher_is_better=higher_is_better, per_seed=per_seed,
                      mean=float(np.mean(gains)), student_mean=float(np.mean([g.student for g in per_seed])),
                      control_mean=float(np.mean([g.control for g in per_seed])), interval=[float(interval[0]),
                      float(interval[1])], interval_method=method, split_interval=[split[0], split[1]],
                      verdict=verdict, confidence=confidence, notes=notes)
