"""How often issue 13's p50 check ("each p50 of the second measurement inside the first's 95% interval") holds when
nothing changes: two measurements of 10 variant/batch p50s, each the median of N per-round values drawn from one
unchanging distribution, their intervals from measure/stats.median_interval (the code the board uses).

Usage:  .venv/bin/python benchmarks/sim_p50_repeat.py [--rounds 11] [--trials 4000]
Prints per-p50 and all-ten pass rates for normal and heavy-tailed (t, 3 degrees of freedom) round values and writes
benchmarks/results/sim_p50_repeat.json. No timing: pure sampling, any machine."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from distill_core.measure.stats import median_interval

RESULTS = Path(__file__).resolve().parent / "results"


def pass_rates(rounds: int, trials: int, draw, p50s: int = 10, seed: int = 0) -> tuple[float, float]:
    """(share of single p50s inside the other measurement's interval, share of trials with all `p50s` inside)."""
    rng = np.random.default_rng(seed)
    inside = np.zeros((trials, p50s), dtype=bool)
    for t in range(trials):
        for k in range(p50s):
            first, second = draw(rng, rounds), draw(rng, rounds)
            _, low, high = median_interval(first)
            inside[t, k] = low <= float(np.median(second)) <= high
    return float(inside.mean()), float(inside.all(axis=1).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--trials", type=int, default=4000)
    args = parser.parse_args()
    draws = {"normal": lambda rng, n: 100 + 3 * rng.standard_normal(n),
             "t3": lambda rng, n: 100 + 3 * rng.standard_t(3, n)}
    rows = {}
    print(f"{'round values':<14}{'rounds':>7}{'one p50 inside':>16}{'all 10 inside':>15}")
    for name, draw in draws.items():
        one, every = pass_rates(args.rounds, args.trials, draw)
        rows[name] = {"rounds": args.rounds, "trials": args.trials, "one_inside": one, "all_ten_inside": every}
        print(f"{name:<14}{args.rounds:>7}{one:>16.3f}{every:>15.3f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sim_p50_repeat.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
