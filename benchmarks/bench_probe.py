"""Which speed probe follows the state of the threads that time: the evidence behind contention.timing_probe_ms.

Usage:  .venv/bin/python benchmarks/bench_probe.py RUN [--home DIR] [--rounds 30] [--threads 2]
RUN is a finished classification run (folder or id). Its variants (pytorch runtime) are loaded in this process as
`distill-lab bench` loads them in its timing process, then timed in mirrored rounds (per setting real/1 and real/32:
every variant in a seeded random order, then in the reverse order, 60 ms samples). After each half of a setting's
block two probes are taken, in a random order:
- timing: contention.timing_probe_ms() in this process, on the timing threads (what the measurement now uses);
- process: conditions.speed_probe_ms(3) (a numpy matmul) in a spawned process with torch loaded and
  OPENBLAS_THREAD_TIMEOUT=4 (the previous design).
A round's slowdown is the geometric mean, over the variants, of its sample over that variant's median sample: a
host spell slows every variant of the round. Printed per setting and probe: the idle reading (before the rounds),
the median after each half of the blocks (placement), the correlation of the round probe (the higher of its two)
with the slowdown, and the speedups over the teacher in the first and the second half of the rounds with every
round and with the rounds a probe calls quiet (<= 1.2x its idle median). Writes benchmarks/results/bench_probe.json.
Run it alone: no tests, no helpers.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from distill_core.core import config as config_mod  # noqa: E402
from distill_core.core.device import set_threads  # noqa: E402
from distill_core.core.environ import environ_set  # noqa: E402
from distill_core.core.run_files import read_run  # noqa: E402
from distill_core.measure.conditions import speed_probe_ms  # noqa: E402
from distill_core.measure.contention import QUIET_FACTOR, timing_probe_ms  # noqa: E402
from distill_core.measure.records import BenchConfig  # noqa: E402
from distill_core.runs.folders import resolve_run_dir  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
KEYS = ("real/1", "real/32")


def _numpy_probe_server(conn) -> None:
    """The previous design's probe process: one numpy speed probe (ms) per message, until "close"."""
    import torch  # noqa: F401  (the previous design loaded it: without torch the probe read 1.5x slower)

    while conn.recv() != "close":
        conn.send(speed_probe_ms(3))


class NumpyProbeProcess:
    def __init__(self):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        with environ_set({"OPENBLAS_THREAD_TIMEOUT": "4"}):
            self.proc = ctx.Process(target=_numpy_probe_server, args=(child,), daemon=True)
            self.proc.start()

    def __call__(self) -> float:
        self.conn.send("probe")
        return float(self.conn.recv())

    def close(self) -> None:
        self.conn.send("close")
        self.proc.join(timeout=10)


def int8_probe():
    """A candidate probe: a dynamically quantized 4-layer 384-wide MLP at batch 1, 20 passes, median of 3 (ms)."""
    import torch

    torch.manual_seed(0)
    layers = [m for _ in range(4) for m in (torch.nn.Linear(384, 384), torch.nn.ReLU())]
    model = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(*layers).eval(), {torch.nn.Linear},
                                                   dtype=torch.qint8)
    x = torch.randn(1, 384)

    def probe() -> float:
        times = []
        with torch.inference_mode():
            for _ in range(3):
                start = time.perf_counter_ns()
                for _ in range(20):
                    model(x)
                times.append((time.perf_counter_ns() - start) / 1e6)
        return float(np.median(times))
    return probe


def open_sessions(run_dir: Path, threads: int) -> dict:
    """The run's pytorch variants as `distill-lab bench` opens them (quality off), warm, on `threads` threads."""
    from distill_core.tasks.classification.bench import sample_indices, variant_specs
    from distill_core.tasks.classification.bench_session import open_session
    from distill_core.tasks.classification.data import load_splits

    results, run_config = read_run(run_dir)
    test = load_splits(config_mod.from_dict(run_config).data, config_mod.from_dict(run_config).data.seed).test
    cfg = BenchConfig(runtimes=["pytorch"], quality=False)
    sample = sample_indices(cfg.sample_size, len(test.texts), cfg.seed)
    specs = variant_specs(run_dir, results, run_config)
    for spec in specs:
        spec.quality = False
    set_threads(threads)
    sessions = {s.name: open_session(asdict(s), cfg.to_dict(), test.texts, sample, None) for s in specs}
    for session in sessions.values():
        for key in session.keys:
            session.sample(key)
    return sessions


def time_rounds(sessions: dict, probes: dict, rounds: int) -> dict:
    """Mirrored rounds with both probes after each half block: {"rounds": [{key: {name: ms}}], "probes": [...]}."""
    rng = random.Random(0)
    names = list(sessions)
    out = {"rounds": [], "probes": []}

    def probe_all(round_: int, key: str, half: int) -> None:
        order = list(probes)
        rng.shuffle(order)
        out["probes"].append({"round": round_, "key": key, "half": half, **{p: probes[p]() for p in order}})

    for r in range(rounds):
        order = rng.sample(names, len(names))
        record = {}
        for key in KEYS:
            got = {n: [] for n in names}
            for i, name in enumerate(order + order[::-1]):
                if i == len(order):
                    probe_all(r, key, 1)
                got[name].append(sessions[name].sample(key))
            probe_all(r, key, 2)
            record[key] = {n: float(np.mean(v)) for n, v in got.items()}
        out["rounds"].append(record)
    return out


def summarize(data: dict, idle: dict) -> dict:
    """Per setting and probe: placement medians, correlation with the slowdown, speedups by half and by quiet rounds."""
    rows = {}
    rounds = data["rounds"]
    names = list(rounds[0][KEYS[0]])
    half = len(rounds) // 2
    for key in KEYS:
        logs = np.log(np.array([[r[key][n] for n in names] for r in rounds]))
        slowdown = np.exp((logs - np.median(logs, axis=0)).mean(axis=1))
        taken = [p for p in data["probes"] if p["key"] == key]
        int8_ratio = np.array([r[key]["teacher-int8"] / r[key]["teacher"] for r in rounds])
        for probe in idle:
            first = np.array([p[probe] for p in taken if p["half"] == 1])
            second = np.array([p[probe] for p in taken if p["half"] == 2])
            per_round = np.maximum(first, second)
            quiet = per_round <= QUIET_FACTOR * float(np.median(idle[probe]))
            speedups = {}
            for name in names[1:]:
                ratio = np.array([r[key]["teacher"] / r[key][name] for r in rounds])
                parts = {"first": np.arange(len(rounds)) < half, "second": np.arange(len(rounds)) >= half}
                speedups[name] = {f"{part} {kind}": (float(np.median(ratio[mask & keep])) if (mask & keep).sum() else
                                                     None)
                                  for part, mask in parts.items()
                                  for kind, keep in (("all", np.ones_like(quiet)), ("quiet", quiet))}
            rows[f"{key} {probe}"] = {
                "idle_ms": float(np.median(idle[probe])), "after_first_half_ms": float(np.median(first)),
                "after_second_half_ms": float(np.median(second)),
                "correlation": float(np.corrcoef(np.log(per_round), np.log(slowdown))[0, 1]),
                "correlation_int8_ratio": float(np.corrcoef(np.log(per_round), np.log(int8_ratio))[0, 1]),
                "quiet_rounds": int(quiet.sum()), "slowdown": [round(float(x), 3) for x in slowdown],
                "round_probe_ms": [round(float(x), 3) for x in per_round], "speedups": speedups}
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--home", help="DISTILL_LAB_HOME for the run id")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.home:
        os.environ["DISTILL_LAB_HOME"] = args.home
    load_before = os.getloadavg()
    sessions = open_sessions(resolve_run_dir(args.run), args.threads)
    numpy_probe = NumpyProbeProcess()
    probes = {"timing": timing_probe_ms, "process": numpy_probe, "int8": int8_probe()}
    for probe in probes.values():
        probe()
    time.sleep(0.3)
    idle = {name: [probe() for _ in range(5)] for name, probe in probes.items()}
    started = time.time()
    data = time_rounds(sessions, probes, args.rounds)
    seconds = time.time() - started
    numpy_probe.close()
    load_after = os.getloadavg()
    rows = summarize(data, idle)

    print(f"{args.rounds} mirrored rounds of {', '.join(sessions)} on {args.threads} threads in {seconds:.0f} s")
    print(f"{'setting probe':<16} {'idle ms':>8} {'after 1st half':>15} {'after 2nd half':>15} {'corr':>6} {'int8':>6} "
          f"{'quiet':>6}   teacher over (1st half all / quiet, 2nd half all / quiet)")
    for label, row in rows.items():
        speeds = "; ".join(f"{n} {s['first all']:.2f}/{s['first quiet'] or float('nan'):.2f}, "
                           f"{s['second all']:.2f}/{s['second quiet'] or float('nan'):.2f}"
                           for n, s in row["speedups"].items())
        print(f"{label:<16} {row['idle_ms']:>8.2f} {row['after_first_half_ms']:>15.2f} "
              f"{row['after_second_half_ms']:>15.2f} {row['correlation']:>+6.2f} {row['correlation_int8_ratio']:>+6.2f} {row['quiet_rounds']:>3}/{args.rounds}"
              f"   {speeds}")
    for key in KEYS:
        print(f"{key} slowdown per round: {' '.join(f'{x:.2f}' for x in rows[f'{key} timing']['slowdown'])}")
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    RESULTS.mkdir(exist_ok=True)
    out = {"run": args.run, "threads": args.threads, "rounds": args.rounds, "seconds": seconds, "idle_ms": idle,
           "summary": rows, "samples": data, "load_before": load_before, "load_after": load_after,
           "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (RESULTS / "bench_probe.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
