"""Issue 14: the `smollm2-reviews` student's levers, each trained for the same number of steps and scored on the
held-out blocks.

Usage (run it alone on a quiet machine; each lever is a `distill-lab run` of ~2.5 minutes):
    .venv/bin/python benchmarks/bench_lm_levers.py --home DIR          # DIR: a data folder; its caches are reused
    .venv/bin/python benchmarks/bench_lm_levers.py --home DIR --lever preset --lever first4-last6
Proof that the script works (tiny data, a few steps; figures meaningless):
    .venv/bin/python benchmarks/bench_lm_levers.py --quick

Each lever is `distill-lab run --preset smollm2-reviews --set measure=false --set control=false` with a budget of
`--steps` optimiser steps (not minutes: a fixed step count keeps the comparison independent of the host's speed),
in a fresh process, one after the other in the same data folder, so the teacher's top-k outputs are computed once
(in the first run) and read by the others. Levers:
    preset         the preset as it ships
    first4-last6   the layers the preset kept before: the first 4 and the last 6 of the teacher's 30
    first2-last8   the first 2 and the last 8
    alpha-1.0      the teacher's top-k only (no next-token cross-entropy)
    alpha-0.3      more weight on the next-token cross-entropy
    lr-2e-3        twice the learning rate
    reverse-kl     KL(student || teacher) instead of KL(teacher || student)
    jsd            the generalized Jensen-Shannon divergence at beta 0.5
    no-unlikelihood    without the token-level unlikelihood term (lm.unlikelihood 0)
    unlikelihood-3     the unlikelihood term at weight 3
Per lever: held-out perplexity (the run's evaluation blocks; the teacher's alongside), the ratio to the teacher's,
the best validation perplexity, steps and training seconds, and how much the student's greedy continuations of 16
held-out starts repeat themselves against the teacher's (tasks/causal_lm/repetition.py, computed here between
runs). JSON: benchmarks/results/bench_lm_levers.json (or --out), with the load average before and after each run.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

from lever_kit import ROOT, lever_folders, lever_parser, run_levers, run_preset

RESULTS = Path(__file__).resolve().parent / "results"
LEVERS = {
    "preset": [],
    "first4-last6": ["student.layers=[0,1,2,3,24,25,26,27,28,29]"],
    "first2-last8": ["student.layers=[0,1,22,23,24,25,26,27,28,29]"],
    "alpha-1.0": ["loss.alpha=1.0"],
    "alpha-0.3": ["loss.alpha=0.3"],
    "lr-2e-3": ["learning_rate=0.002"],
    "reverse-kl": ["lm.divergence=reverse-kl"],
    "jsd": ["lm.divergence=jsd", "lm.beta=0.5"],
    "no-unlikelihood": ["lm.unlikelihood=0"],
    "unlikelihood-3": ["lm.unlikelihood=3.0"],
}
QUICK = ["lm.train_blocks=8", "lm.validation_blocks=2", "lm.eval_blocks=2", "max_length=32", "batch_size=2"]


def run_lever(args, lever: str, home: Path, runs: Path) -> dict:
    """One lever as a `distill-lab run` in a fresh process: its held-out perplexity, steps and seconds."""
    steps = 4 if args.quick else args.steps
    budget = json.dumps({"unit": "steps", "value": steps, "eval_every": 20})
    sets = (QUICK if args.quick else []) + ["measure=false", "control=false", f"budget={budget}"]
    sets += (args.set or []) + LEVERS[lever]
    done = run_preset(args.preset, sets, runs / lever, home, lever)
    results = done["results"]
    q, trained = results["quality"]["variants"], results["training"]["student"]
    loops = _repetition(runs / lever, results["teacher"]["model_ref"], home)
    return {"lever": lever, "repetition": loops, "sets": sets, "wall_s": done["wall_s"],
            "load_before": done["load_before"], "load_after": done["load_after"],
            "layers": results["preflight"]["student_description"],
            "teacher_perplexity": q["teacher"]["perplexity"], "student_perplexity": q["student"]["perplexity"],
            "ratio": q["student"]["perplexity"] / q["teacher"]["perplexity"],
            "best_val_perplexity": trained["best_val_perplexity"], "steps": trained["steps"],
            "train_s": trained["seconds"]}


_TEACHER_REPETITION: dict = {}


def _repetition(run_dir: Path, teacher_ref: str, home: Path) -> dict:
    """The student's held-out repetition against the teacher's (repetition.compare_with_teacher's entry), the
    teacher's computed once (every lever has the same held-out blocks)."""
    os.environ["DISTILL_LAB_HOME"] = str(home)
    sys.path.insert(0, str(ROOT))
    from distill_core.tasks.causal_lm import repetition
    from distill_core.tasks.causal_lm.generate import load_variant_model
    from distill_core.tasks.causal_lm.heldout import HELDOUT_FILE, load_heldout

    blocks, _ = load_heldout(run_dir / HELDOUT_FILE)
    if "teacher" not in _TEACHER_REPETITION:
        teacher = load_variant_model(teacher_ref)
        _TEACHER_REPETITION["teacher"] = repetition.heldout_repetition(*teacher, blocks).to_dict()
    student = repetition.heldout_repetition(*load_variant_model(str(run_dir / "student")), blocks).to_dict()
    return repetition.compare_with_teacher({"teacher": _TEACHER_REPETITION["teacher"], "student": student})["student"]


def table(rows: list[dict]) -> str:
    lines = [f"{'lever':<16} {'held-out ppl':>12} {'x teacher':>10} {'best val':>9} {'steps':>6} {'train s':>8} "
             f"{'rep-4':>6} {'- teacher (95% CI)':>22} {'load before/after':>18}"]
    for r in rows:
        rep = r["repetition"]
        lines.append(f"{r['lever']:<16} {r['student_perplexity']:>12.1f} {r['ratio']:>9.2f}x "
                     f"{r['best_val_perplexity']:>9.1f} {r['steps']:>6} {r['train_s']:>8.1f} {rep['mean']:>6.0%} "
                     f"{rep['difference']:>+6.0%} ({rep['low']:+.0%}, {rep['high']:+.0%}) "
                     f"{r['load_before'][0]:>8.2f} / {r['load_after'][0]:.2f}")
        lines.append(f"{'':<16} {r['layers']}; {rep['verdict']}")
    if rows:
        lines.append(f"teacher: held-out perplexity {rows[0]['teacher_perplexity']:.1f}, repeated 4-grams of its "
                     f"held-out continuations {rows[0]['repetition']['teacher_mean']:.0%}")
    return "\n".join(lines)


def main() -> int:
    parser = lever_parser(__doc__.split("\n")[0], "smollm2-reviews", list(LEVERS))
    parser.add_argument("--steps", type=int, default=200, help="optimiser steps per lever (default 200: about what "
                        "the preset's 2 minutes give on the 2-core machine)")
    args = parser.parse_args()
    home, runs = lever_folders(args, "bench-lm-levers")
    rows = run_levers(args, list(LEVERS), run_lever, home, runs,
                      lambda r: f"{r['lever']}: {r['student_perplexity']:.1f} ({r['wall_s']:.0f} s)")
    print(table(rows))
    out = Path(args.out) if args.out else (runs if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_lm_levers.json").write_text(json.dumps({
        "preset": args.preset, "steps": 4 if args.quick else args.steps, "quick": args.quick,
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "rows": rows,
        "load_after": os.getloadavg()}, indent=2))
    print(f"wrote {out / 'bench_lm_levers.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
