"""Interleaved timing: memory in one process per variant, latency with every variant in one timing process.

Why: timing variant after variant lets a noisy minute land on one of them, and timing each variant in its own process
adds a bias per process (the same architecture in two processes measured 10-16% apart on a 2-core VM, within one
invocation, while in one process the two stayed within 2%). So:
1. every variant is loaded in its own freshly forked process (threads set first): its memory is its own;
2. when the variants fit in memory twice over, one *timing process* loads them all, and the parent asks it, round
   after round, for samples: per setting, every variant in a seeded random order and then in the reverse order (A B
   C C B A), a variant's value for the round being the mean of its two samples. Pairs of one round were timed a
   fraction of a second apart, symmetrically in time, so a ratio within a round (teacher / student) cancels what the
   machine did meanwhile, slow drifts included (a host spell that shifts the variants unequally is left out:
   measure/contention.py). Otherwise (or when the timing process cannot load them), each variant is timed in its
   own process, in rounds;
3. the variants' `finish` (e.g. the int8 variants' test split) runs after the rounds in their own processes.
Rounds repeat until at least `min_rounds` and `min_seconds` (or `max_seconds`; RoundsPlan.done).
The task's harness supplies `setup(*args) -> session`, run in a child: `session.report` (a picklable dict: memory,
size... or {"error": reason}), `session.keys` (the settings it can time), `session.sample(key) -> ms`,
`session.finish() -> dict` (added to the report after the rounds) and optionally `session.warm(key) -> ms` (what the
untimed round runs instead of a sample: warm-up and calibration) and `session.timing_fields` (the report's entries
that describe the timing, e.g. how many passes one sample covers), taken from the process that times after the
untimed round. A job is (name, setup, args) or (name, setup, args, timing_setup): the timing process then opens the
variant with `timing_setup(*args)`, a session that only times (memory, size and quality come from the variant's own
process), which spares the timing process's set-up the passes only those need."""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field

from distill_core.core.errors import RunCancelled
from distill_core.core.progress import ProgressEvent
from distill_core.measure import contention, serving
from distill_core.measure.conditions import load_average, machine_conditions, speed_probe_ms
from distill_core.measure.processes import MeasuringProcess, process_context
from distill_core.measure.timing_modes import one_process_refusal


@dataclass
class RoundsPlan:
    """How long to time: rounds and seconds (of the timing phase, after every process is ready)."""

    min_rounds: int = 9  # 9 samples give a 96% order-statistic interval for the median (x(2), x(8))
    min_seconds: float = 10.0
    max_seconds: float = 60.0  # stop here even short of min_rounds (the intervals say how few samples there were)
    setup_timeout_s: float = 600.0  # a process not ready after this is stopped (an error entry)
    timing: str = "one-process"  # one-process | per-variant (timing_modes.TIMING_MODES)
    quiet_wait_seconds: float = 0.0  # while a setting lacks quiet rounds, time on until the rounds lasted this long

    @classmethod
    def of(cls, cfg) -> "RoundsPlan":
        """From a task's bench config (min_rounds, timing_seconds, max_timing_seconds, variant_timeout_s, timing,
        quiet_wait_seconds)."""
        return cls(cfg.min_rounds, cfg.timing_seconds, cfg.max_timing_seconds, cfg.variant_timeout_s, cfg.timing,
                   cfg.quiet_wait_seconds)

    def done(self, rounds: int, elapsed: float, short_of_quiet) -> bool:
        """Stop timing after `rounds` rounds and `elapsed` s: the minimums met (or max_seconds reached), unless
        `short_of_quiet()` says a setting still lacks quiet rounds and `elapsed` is under quiet_wait_seconds."""
        if not (elapsed >= self.max_seconds or (rounds >= self.min_rounds and elapsed >= self.min_seconds)):
            return False
        return not (elapsed < self.quiet_wait_seconds and short_of_quiet())


@dataclass
class Timed:
    """What interleaved timing gives back: per variant, the setup report and the samples (ms) per key by round."""

    reports: dict[str, dict]
    samples: dict[str, dict] = field(default_factory=dict)  # name -> key -> [ms per round]
    rounds: int = 0
    samples_per_round: int = 1  # a round's value is the mean of this many samples (2 in one-process timing)
    timing: str = "per-variant"  # the mode used (timing_modes.TIMING_MODES)
    timing_note: str | None = None  # why per-variant when one-process was asked for
    setup_seconds: float = 0.0  # spawn to every process ready and the untimed round done (s)
    variants_ready_seconds: float = 0.0  # spawn to every variant's own process loaded (s)
    timer_ready_seconds: float | None = None  # spawn to the timing process loaded (s; None: per-variant timing)
    timing_seconds: float = 0.0
    finish_seconds: float = 0.0  # the sessions' finish (quality) after the rounds
    probes_ms: list[float] = field(default_factory=list)  # speed probe before the first block and after each (ms)
    probe_blocks: list[tuple[int, list[str]]] = field(default_factory=list)  # (round, keys) between two probes

    @property
    def wall_seconds(self) -> float:
        return self.setup_seconds + self.timing_seconds + self.finish_seconds


def _no_samples(live: list[MeasuringProcess]) -> dict[str, dict[str, list]]:
    """Empty per-round samples for every live variant and key."""
    return {v.name: {k: [] for k in v.keys} for v in live}


def _keys_of(live: list[MeasuringProcess]) -> list[str]:
    """Every key the live variants time, in their order, without repeats."""
    return list(dict.fromkeys(key for v in live for key in v.keys))


def _drop(timed: Timed, name: str, reason: str) -> None:
    timed.reports[name] = {"error": reason}
    timed.samples.pop(name, None)


def _round_per_variant(live: list[MeasuringProcess], timed: Timed, order: random.Random, timeout_s: float,
                       kind: str = "sample") -> None:
    """One round in the variants' own processes: each variant (in a fresh order), one sample per key (`kind`
    "warm": the untimed round)."""
    # A fresh order each round: a variant's time must not depend on which one ran before it (a big model leaves the
    # caches cold for the next); a fixed rotation would always give it the same predecessor.
    for v in order.sample(live, len(live)):
        for key in v.keys:
            answer, *rest = v.ask((kind, key), timeout_s, "timing")
            if answer != "sample":
                _drop(timed, v.name, rest[0])
                break
            timed.samples[v.name][key].append(rest[0])


def _round_one_process(timer: MeasuringProcess, live: list[MeasuringProcess], timed: Timed, order: random.Random,
                       timeout_s: float, after_key=None, mirrored: bool = True, kind: str = "sample") -> None:
    """One round in the timing process: per key, every variant in a fresh order and then (`mirrored`) in the reverse
    order; a variant's value is the mean of its samples (drift during the round falls on all of them alike).
    `after_key(key)`, when given, at the mirror point of each key's block and after it. `kind` "warm": the untimed
    round."""
    names = [v.name for v in order.sample(live, len(live))]
    for key in _keys_of(live):
        taking = [n for n in names if n in timed.samples and key in timed.samples[n]]
        got: dict[str, list[float]] = {n: [] for n in taking}
        for i, name in enumerate(taking + (taking[::-1] if mirrored else [])):
            if i == len(taking) and after_key is not None:  # the mirror point: the block's first half is done
                after_key(key)
            if name not in timed.samples:
                continue
            answer, *rest = timer.ask((kind, name, key), timeout_s, "timing")
            if answer != "sample":
                _drop(timed, name, rest[0])
                continue
            got[name].append(rest[0])
        for name, values in got.items():
            if name in timed.samples and values:
                timed.samples[name][key].append(sum(values) / len(values))
        if after_key is not None:
            after_key(key)


def _timing_probe(timer: MeasuringProcess | None, variants: list[MeasuringProcess], timed: Timed, timeout_s: float):
    """A speed probe (ms) run where the timing runs, on its threads: in the timing process, or in the first variant
    still timed in its own process. A probe that fails (its process died) repeats the last reading."""
    def probe() -> float:
        where = timer or next((v for v in variants if v.name in timed.samples), None)
        kind, *rest = where.ask(("probe",), timeout_s, "probing") if where else ("error",)
        return float(rest[0]) if kind == "probe" else (timed.probes_ms[-1] if timed.probes_ms else 0.0)
    return probe


def _read_timing_fields(timer: MeasuringProcess | None, live: list[MeasuringProcess], timeout_s: float) -> None:
    """Each live variant's timing fields (after the untimed round: its calibration) from the process that times it,
    into its report."""
    if timer is not None:
        kind, fields_ = timer.ask(("fields",), timeout_s, "reading the timing")
        for v in live:
            v.report.update(fields_.get(v.name, {}) if kind == "fields" else {})
        return
    for v in live:
        kind, fields_ = v.ask(("fields",), timeout_s, "reading the timing")
        v.report.update(fields_ if kind == "fields" else {})


def time_interleaved(jobs: list[tuple], threads: int, plan: RoundsPlan,
                     should_stop=None, on_round=None, preload: tuple[str, ...] = (), probe=None) -> Timed:
    """Load every (name, setup, args) job in its own process, then time them in rounds: in one timing process when
    they fit in memory twice (plan.timing "one-process"), else each in its own; then finish each in its own.

    A variant whose setup fails keeps its {"error": reason} report and is left out of the rounds; one that fails
    while timing gets an error report and its samples are dropped. `should_stop()` is checked between rounds
    (raise from it to cancel); `on_round(rounds_done, elapsed_s)` reports progress. `preload`: modules the
    processes' setup imports. `probe`: "timing" for contention.timing_probe_ms in the process that times, or a
    callable (ms) run here, or None; before the first round and after each half of a key's block of a round
    (one-process) or each round (Timed.probes_ms, probe_blocks)."""
    ctx = process_context(preload)
    started = time.perf_counter()
    cores = os.cpu_count() or 1
    setup_threads = max(1, cores // max(1, len(jobs)))
    variants = [MeasuringProcess(ctx, name, serving.serve_variant, (setup, args, threads, setup_threads))
                for name, setup, args, *_ in jobs]
    timer = None
    timed = Timed(reports={})
    try:
        for v in variants:
            kind, payload, keys = v.receive(started + plan.setup_timeout_s, "loading")
            v.report, v.keys = (payload, keys) if kind == "ready" else ({"error": payload}, [])
            timed.reports[v.name] = v.report
        live = [v for v in variants if v.keys]
        timed.variants_ready_seconds = time.perf_counter() - started
        timed.timing_note = one_process_refusal(plan.timing, [v.report for v in live])
        if timed.timing_note is None and live:
            timed_jobs = [job for job in jobs if job[0] in {v.name for v in live}]
            timer = MeasuringProcess(ctx, "timing", serving.serve_all, (timed_jobs, threads))
            kind, ready = timer.receive(time.perf_counter() + plan.setup_timeout_s, "loading every variant to time")
            if kind == "ready":
                for v in live:
                    if isinstance(ready[v.name], str):
                        v.report = timed.reports[v.name] = {"error": ready[v.name]}
                        v.keys = []
                    else:
                        v.keys = ready[v.name]
                live = [v for v in live if v.keys]
                timed.timing, timed.samples_per_round = "one-process", 2
                timed.timer_ready_seconds = time.perf_counter() - started
            else:
                timed.timing_note = f"the timing process failed ({ready}): each variant is timed in its own process"
                timer.close()
                timer = None
        timed.samples = _no_samples(live)
        order = random.Random(0)
        if live:  # one untimed round: every model's first passes on its timing threads, after the others loaded
            if timer is not None:
                _round_one_process(timer, live, timed, order, plan.setup_timeout_s, mirrored=False, kind="warm")
            else:
                _round_per_variant(live, timed, order, plan.setup_timeout_s, kind="warm")
            live = [v for v in live if v.name in timed.samples]
            _read_timing_fields(timer, live, plan.setup_timeout_s)
            timed.samples = _no_samples(live)
        timed.setup_seconds = time.perf_counter() - started

        probe_fn = _timing_probe(timer, variants, timed, plan.setup_timeout_s) if probe == "timing" else probe

        def probed(keys: list[str]) -> None:  # the block of `keys` just timed in round `timed.rounds`
            if probe_fn is not None:
                timed.probes_ms.append(probe_fn())
                timed.probe_blocks.append((timed.rounds, keys))

        if probe_fn is not None and live:
            timed.probes_ms.append(probe_fn())
        t0 = time.perf_counter()
        while live:
            if should_stop is not None:
                should_stop()
            if timer is not None:
                _round_one_process(timer, live, timed, order, plan.setup_timeout_s, lambda key: probed([key]))
            else:
                _round_per_variant(live, timed, order, plan.setup_timeout_s)
                probed(_keys_of(live))
            live = [v for v in live if v.name in timed.samples]
            timed.rounds += 1
            elapsed = time.perf_counter() - t0
            if on_round is not None:
                on_round(timed.rounds, elapsed)
            if plan.done(timed.rounds, elapsed, lambda: contention.short_of_quiet(timed)):
                break
        timed.timing_seconds = time.perf_counter() - t0
        if timer is not None:
            timer.close()
            timer = None
        for v in live:
            kind, payload = v.ask(("finish",), plan.setup_timeout_s, "finishing")
            if kind == "finished":
                timed.reports[v.name].update(payload)
            else:
                _drop(timed, v.name, payload)
        timed.finish_seconds = time.perf_counter() - t0 - timed.timing_seconds
    finally:
        for v in variants + ([timer] if timer is not None else []):
            v.close()
    return timed


def measure_in_rounds(jobs: list[tuple[str, object, tuple]], threads: int, plan: RoundsPlan, preload: tuple[str, ...],
                      emit, should_stop=None, conditions: dict | None = None,
                      probe="timing") -> tuple[Timed, dict]:
    """time_interleaved for a task's harness: progress events (phase "bench", as a fraction), RunCancelled when
    `should_stop()` says so (before the processes start and between rounds), contended rounds left out of
    `timed.samples` (contention.py; `probe` as time_interleaved's, None to keep every round),
    and bench.json's "conditions": `conditions` taken before (or now), load and probe after, rounds, per-round probes
    and which count, phase seconds (setup: the variants' processes loaded, the timing process loaded, the untimed
    round done), the timing mode."""
    if should_stop and should_stop():
        raise RunCancelled(f"cancelled while measuring (before {jobs[0][0] if jobs else 'any variant'}); bench.json "
                           "was not written")
    conditions = dict(conditions or machine_conditions())
    emit(ProgressEvent("bench", 0, None, 0.05, message=f"loading {len(jobs)} variants, one process each"))

    def stop_check():
        if should_stop and should_stop():
            raise RunCancelled("cancelled while timing the variants; bench.json was not written")

    def on_round(done: int, elapsed: float):
        share = min(done / max(1, plan.min_rounds), elapsed / plan.min_seconds if plan.min_seconds else 1.0)
        emit(ProgressEvent("bench", done, None, min(0.99, 0.3 + 0.7 * share), message=f"timing round {done}"))

    timed = time_interleaved(jobs, threads, plan, stop_check, on_round, preload, probe)
    contention.leave_out_contended(timed, conditions)
    conditions["allocator"] = next((r["allocator"] for r in timed.reports.values() if "allocator" in r), None)
    conditions.update(load_after=load_average(), probe_ms_after=speed_probe_ms(), rounds=timed.rounds,
                      setup_seconds=timed.setup_seconds, variants_ready_seconds=timed.variants_ready_seconds,
                      timer_ready_seconds=timed.timer_ready_seconds, timing_seconds=timed.timing_seconds,
                      finish_seconds=timed.finish_seconds, timing=timed.timing, timing_note=timed.timing_note,
                      samples_per_round=timed.samples_per_round)
    return timed, conditions
