"""Host contention per timing round: a speed probe around every block of timing, and which rounds count.

Why: on a shared VM the host sometimes slows parallel work in spells of seconds to a minute (measured on the 2-core
VM: every variant's 2-thread pass 1.3-1.45x slower, single-threaded work ~10%, no steal time visible to the
guest). Such a spell shifts the variants unequally (an int8 pass at batch 1 loses more than an fp32 one: the speedup
moved ~11%), so interleaving alone cannot cancel it. The process that times has a speed probe run on its own timing
threads (timing_probe_ms: a torch matmul, which feels those spells) before the first round and after every block of
timing (each half of a setting's mirrored block A B C | C B A in the timing process;
a whole round when each variant has its own process); a block's probe is the higher of the two around it, so a
spell that began or ended inside it counts, and a round's is the highest of its blocks'. Per setting, rounds whose
probe ran more than `QUIET_FACTOR` times the machine's quiet probe are left out, when at least `MIN_QUIET_ROUNDS`
quiet rounds remain; otherwise that setting keeps every round and the record says it was measured under contention.
With a quiet wait (bench config `quiet_wait_seconds`), the rounds go on while a setting is short of quiet rounds
(short_of_quiet) until they lasted that long in all: a spell of seconds to a minute can pass within it.

The quiet probe is the lowest lower-quartile probe (ms) this machine has shown, cached under cache/machine/.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from distill_core.core.atomic import write_json
from distill_core.core.home import cache_dir

QUIET_FACTOR = 1.2  # a round is contended when its probe took more than this times the quiet probe
MIN_QUIET_ROUNDS = 6  # fewer quiet rounds than this: keep them all (6 give a 97% median interval: min to max)
PROBE_REPEATS = 3  # one probe: the median of this many timings of the workload (~1.4 ms each on 2 cores)


def timing_probe_ms(repeats: int = PROBE_REPEATS) -> float:
    """Median ms of a fixed torch workload (a 256 x 256 float32 matmul, 8 times) on this process's torch threads.

    Run by the process that times the variants (rounds.py sends it "probe"), it feels what their samples feel: on the
    2-core VM, 30 mirrored rounds of the workshop run's five variants on 2 threads, its per-round reading followed the
    rounds' common slowdown (correlation 0.62 at batch 1, 0.56 at batch 32) and read alike after either half of a
    block (1.58 and 1.53 ms), where a numpy probe in a process of its own (the previous design) read 1.4x its idle
    value beside the timing process and followed the slowdown less (0.35, 0.53): benchmarks/bench_probe.py."""
    import torch

    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(256, 256, generator=generator), torch.randn(256, 256, generator=generator)
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(8):
            torch.mm(a, b)
        times.append((time.perf_counter_ns() - start) / 1e6)
    return float(np.median(times))


def per_block(probes: list[float]) -> list[float]:
    """Per-block probe (ms) from probes taken before the first block and after each: the higher of the two around it."""
    return [max(a, b) for a, b in zip(probes, probes[1:])]


def _cache_path(threads: int | None):
    """The quiet probe's cache file: per machine (keyed as the matmul peak's, machine.MachineRecord.key) and per
    timing thread count (the probe runs on the timing threads: one thread reads it ~2x slower than two)."""
    from distill_core.measure.machine import machine_record

    return cache_dir("machine") / f"quiet-probe-timing-{machine_record().key()}-{threads or 'all'}t.json"


def _cached_quiet_ms(threads: int | None) -> float | None:
    try:
        return float(json.loads(_cache_path(threads).read_text())["quiet_ms"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def quiet_probe_ms(round_ms: list[float], store: bool = True, threads: int | None = None) -> float:
    """The machine's quiet probe (ms): the lower of the cached one and this measurement's lower quartile, which is
    stored when lower (and `store`), per timing thread count. A first measurement that ran contended throughout sets
    a high value: later quiet ones lower it."""
    low = float(np.percentile(round_ms, 25))
    cached = _cached_quiet_ms(threads)
    if cached is None or low < cached:
        if store:
            write_json(_cache_path(threads), {"quiet_ms": low, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        return low
    return cached


@dataclass
class RoundChoice:
    """Which timing rounds of one setting count, and why."""

    kept: list[int]  # indices of the rounds the figures use
    contended: list[int]  # indices of the rounds whose probe exceeded QUIET_FACTOR x quiet
    throughout: bool  # too few quiet rounds: every round kept, the setting was measured under contention


def choose_rounds(round_ms: list[float], quiet_ms: float, factor: float = QUIET_FACTOR,
                  min_quiet: int = MIN_QUIET_ROUNDS) -> RoundChoice:
    """The quiet rounds when there are at least `min_quiet` of them (or every round is quiet), else every round."""
    contended = [i for i, ms in enumerate(round_ms) if ms > factor * quiet_ms]
    quiet = [i for i in range(len(round_ms)) if i not in contended]
    if not contended or len(quiet) >= min_quiet:
        return RoundChoice(quiet, contended, throughout=False)
    return RoundChoice(list(range(len(round_ms))), contended, throughout=True)


def contention_note(choices: dict[str, RoundChoice], rounds: int, quiet_ms: float) -> str | None:
    """One sentence for the record (settings as "real/1"), or None when every round of every setting was quiet."""
    limit = f"probe over {QUIET_FACTOR:g}x the machine's quiet {quiet_ms:.2f} ms"
    counts = {key: f"{len(c.contended)} of {rounds} rounds at {key}" for key, c in choices.items()}
    left = [counts[key] for key, c in choices.items() if c.contended and not c.throughout]
    under = [counts[key] for key, c in choices.items() if c.throughout]
    parts = []
    if left:
        parts.append(f"contended rounds left out ({', '.join(left)}; {limit})")
    if under:
        parts.append(f"the host was contended in {', '.join(under)} ({limit}), too many to leave out: those "
                     "figures were measured under contention (speedups at batch 1 shift by ~10% on a contended "
                     "2-core VM); for figures that repeat, measure again later, or on one thread (distill-lab bench "
                     "--threads 1: far less moved by contention), or with a quiet wait (--quiet-wait 180)")
    return "; ".join(parts) or None


def keep_rounds(samples: dict[str, dict[str, list[float]]], kept: dict[str, list[int]]) -> dict[str, dict]:
    """`samples` (name -> key -> per-round values) reduced, per key, to the rounds in `kept[key]` (all when the key
    is not there)."""
    return {name: {key: [v for i, v in enumerate(values) if key not in kept or i in kept[key]]
                   for key, values in by_key.items()} for name, by_key in samples.items()}


def probes_by_round(timed) -> tuple[dict[str, list[float]], list[float]] | None:
    """({setting: each round's probe (ms), the highest of its blocks'}, every block's probe) of a rounds.Timed with
    a probe before its first block and after each of its `probe_blocks`; None without them."""
    blocks = timed.probe_blocks
    if not blocks or len(timed.probes_ms) != len(blocks) + 1:
        return None
    block_ms = per_block(timed.probes_ms)
    by_round: dict[str, dict[int, float]] = {}  # key -> round -> the highest probe of its blocks
    for (round_, keys), ms in zip(blocks, block_ms):
        for key in keys:
            by_round.setdefault(key, {})[round_] = max(ms, by_round.get(key, {}).get(round_, 0.0))
    return {key: [rounds[r] for r in sorted(rounds)] for key, rounds in by_round.items()}, block_ms


def timing_threads(timed) -> int | None:
    """The torch threads the variants were timed on (their reports'), or None when no report says."""
    return next((r["threads"] for r in timed.reports.values() if isinstance(r, dict) and r.get("threads")), None)


def short_of_quiet(timed) -> bool:
    """Whether a setting of `timed` (so far) would be labelled "contended throughout": it has contended rounds and
    fewer than MIN_QUIET_ROUNDS quiet ones. The timing loop keeps going while this holds and its quiet wait lasts."""
    probed = probes_by_round(timed)
    if probed is None:
        return False
    quiet_ms = quiet_probe_ms(probed[1], store=False, threads=timing_threads(timed))
    return any(choose_rounds(values, quiet_ms).throughout for values in probed[0].values())


def leave_out_contended(timed, conditions: dict) -> None:
    """Drop each setting's contended rounds from `timed.samples` (a rounds.Timed with a probe before its first block
    and after each of its `probe_blocks`; otherwise nothing changes) and record the probes and the choice in
    `conditions` (bench.json)."""
    probed = probes_by_round(timed)
    if probed is None:
        return
    round_ms, quiet_ms = probed[0], quiet_probe_ms(probed[1], threads=timing_threads(timed))
    choices = {key: choose_rounds(values, quiet_ms) for key, values in round_ms.items()}
    timed.samples = keep_rounds(timed.samples, {key: c.kept for key, c in choices.items()})
    conditions.update(round_probe_ms={k: [round(ms, 3) for ms in v] for k, v in round_ms.items()},
                      quiet_probe_ms=round(quiet_ms, 3), quiet_factor=QUIET_FACTOR,
                      rounds_kept={k: len(c.kept) for k, c in choices.items()},
                      contended_rounds={k: c.contended for k, c in choices.items()},
                      contended_throughout=any(c.throughout for c in choices.values()),
                      contention_note=contention_note(choices, timed.rounds, quiet_ms))
