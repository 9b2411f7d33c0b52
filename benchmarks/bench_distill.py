"""Issue 2 targets on the reviews preset: teacher preparation, distillation + control, and training throughput
against a Hugging Face `Trainer` subclass doing the same distillation the usual tutorial way.

Usage:  .venv/bin/python benchmarks/bench_distill.py [--home DIR] [--fresh] [--throughput-steps 30] [--set k=v ...]
Prints a table, writes benchmarks/results/bench_distill.json. `--fresh` uses an empty data folder, so the teacher is
fine-tuned (and timed) from scratch; otherwise a cached teacher is reused and its recorded fine-tune time reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from distill_core.cli import apply_overrides  # noqa: E402
from distill_core.models import loading as models  # noqa: E402
from distill_core.tasks.classification.data import encode, load_splits  # noqa: E402
from distill_core.tasks.presets import get_preset  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def run_preset(cfg, home: Path) -> dict:
    from distill_core.runs.pipeline import run_experiment

    os.environ["DISTILL_LAB_HOME"] = str(home)
    run_dir = home / "runs" / f"bench-{int(time.time())}"
    return run_experiment(cfg, run_dir)


def _student_and_teacher(cfg, results):
    from distill_core.tasks.classification.run import build_student

    labels = results["label_names"]
    teacher = models.load_classifier(results["teacher"]["model_ref"], labels)
    tok = models.load_tokenizer(results["teacher"]["model_ref"])
    plan = build_student(cfg, teacher, tok, labels)
    if cfg.freeze_embeddings:
        plan.model.get_input_embeddings().weight.requires_grad_(False)
    return teacher, tok, plan.model


def ours_examples_per_s(cfg, results, steps: int) -> float:
    """Our loop: cached teacher logits, length-bucketed batches, frozen embeddings (the preset's settings)."""
    from distill_core.tasks.classification import train as distill

    splits = load_splits(cfg.data, cfg.data.seed)
    teacher, tok, student = _student_and_teacher(cfg, results)
    ids = encode(tok, splits.train.texts, cfg.max_length)
    from distill_core.tasks.classification.evaluate import predict_logits

    teacher_logits = predict_logits(teacher, ids, tok.pad_token_id)  # the cache's content; computed once per data
    spec = distill.TrainSpec(steps=steps, minutes=None, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                             temperature=cfg.loss.temperature, alpha=cfg.loss.alpha, eval_every=10**9, seed=0)
    val = ids[:2]
    result = distill.train(student, "bench", ids, np.array(splits.train.labels), tok.pad_token_id, spec, val,
                           np.array(splits.train.labels[:2]), teacher_logits)
    return result.examples / result.seconds


def trainer_examples_per_s(cfg, results, steps: int) -> float:
    """The tutorial recipe: a Trainer subclass whose compute_loss runs the teacher forward every step."""
    import torch.nn.functional as F
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    splits = load_splits(cfg.data, cfg.data.seed)
    teacher, tok, student = _student_and_teacher(cfg, results)
    enc = tok(splits.train.texts, truncation=True, max_length=cfg.max_length)
    rows = [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
             "labels": splits.train.labels[i]} for i in range(len(splits.train))]

    class DistillTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            out = model(**inputs)
            with torch.no_grad():
                t_logits = teacher(**inputs).logits
            t = cfg.loss.temperature
            soft = F.kl_div(F.log_softmax(out.logits / t, -1), F.softmax(t_logits / t, -1),
                            reduction="batchmean") * t * t
            loss = cfg.loss.alpha * soft + (1 - cfg.loss.alpha) * F.cross_entropy(out.logits, labels)
            return (loss, out) if return_outputs else loss

    with tempfile.TemporaryDirectory() as out_dir:
        args = TrainingArguments(output_dir=out_dir, per_device_train_batch_size=cfg.batch_size, max_steps=steps,
                                 learning_rate=cfg.learning_rate, logging_steps=10**6, save_strategy="no",
                                 report_to=[], use_cpu=True, dataloader_num_workers=0, seed=0, disable_tqdm=True)
        trainer = DistillTrainer(model=student, args=args, train_dataset=rows,
                                 data_collator=DataCollatorWithPadding(tok))
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
    return steps * cfg.batch_size / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="data folder to use (default: a fresh temp folder with --fresh, else "
                        "$DISTILL_LAB_HOME or ~/.local/share/distill-lab)")
    parser.add_argument("--fresh", action="store_true", help="start from an empty data folder (times the teacher)")
    parser.add_argument("--throughput-steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3, help="alternating throughput measurements per side")
    parser.add_argument("--preset", default="reviews-sentiment")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--skip-run", action="store_true", help="only the throughput comparison (needs --home "
                        "with a finished run of the same config)")
    args = parser.parse_args()

    if args.fresh:
        home = Path(tempfile.mkdtemp(prefix="distill-bench-"))
    else:
        home = Path(args.home or os.environ.get("DISTILL_LAB_HOME") or Path.home() / ".local/share/distill-lab")
    os.environ["DISTILL_LAB_HOME"] = str(home)
    cfg = apply_overrides(get_preset(args.preset), args.set)
    torch.set_num_threads(cfg.threads or os.cpu_count())

    started = time.perf_counter()
    results = run_preset(cfg, home)
    run_wall = time.perf_counter() - started
    timings = results["timings"]
    quality = results["quality"]["variants"]
    teacher_info = results["teacher"]["info"]

    ours, theirs = [], []
    for _ in range(args.repeats):  # alternate so drift hits both sides alike
        ours.append(ours_examples_per_s(cfg, results, args.throughput_steps))
        theirs.append(trainer_examples_per_s(cfg, results, args.throughput_steps))
    ours_med, theirs_med = statistics.median(ours), statistics.median(theirs)

    t_acc, s_acc = quality["teacher"]["accuracy"], quality["student"]["accuracy"]
    c_acc = quality["control"]["accuracy"]
    distill_plus_control = timings["teacher_outputs_s"] + timings["student_train_s"] + timings["control_train_s"]
    teacher_prepare = teacher_info.get("seconds", float("nan"))
    targets = [
        ("teacher preparation (fine-tune) <= 300 s", teacher_prepare, teacher_prepare <= 300),
        ("teacher test accuracy >= 0.84", t_acc, t_acc >= 0.84),
        ("distillation + control <= 180 s", distill_plus_control, distill_plus_control <= 180),
        ("student accuracy >= 98% of teacher", s_acc / t_acc, s_acc / t_acc >= 0.98),
        ("student - control >= 2.0 points", (s_acc - c_acc) * 100, (s_acc - c_acc) * 100 >= 2.0),
        ("training examples/s >= 2x Trainer", ours_med / theirs_med, ours_med / theirs_med >= 2.0),
    ]
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
               "threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            machine["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass

    print(f"\nmachine: {machine}")
    print(f"config: {args.preset} {' '.join(args.set)}; teacher fine-tuned in this run: "
          f"{not results['teacher']['cached']}")
    print(f"{'variant':<10}{'test acc':>10}{'retention':>11}")
    for name, q in quality.items():
        print(f"{name:<10}{q['accuracy']:>10.4f}{q['retention']:>11.3f}")
    print("timings (s): " + ", ".join(f"{k}={v:.1f}" for k, v in timings.items()) + f", wall={run_wall:.1f}")
    print(f"throughput examples/s: ours {ours_med:.1f} {[round(x, 1) for x in ours]}, "
          f"Trainer {theirs_med:.1f} {[round(x, 1) for x in theirs]}")
    print(f"\n{'target':<42}{'measured':>12}  result")
    for name, value, ok in targets:
        print(f"{name:<42}{value:>12.3f}  {'PASS' if ok else 'FAIL'}")

    RESULTS.mkdir(exist_ok=True)
    out = {"machine": machine, "preset": args.preset, "overrides": args.set, "quality": quality,
           "timings": timings, "teacher_finetune": {k: v for k, v in teacher_info.items() if k != "history"},
           "teacher_cached": results["teacher"]["cached"], "run_wall_s": run_wall,
           "throughput": {"ours": ours, "trainer": theirs, "ours_median": ours_med, "trainer_median": theirs_med,
                          "steps": args.throughput_steps, "batch_size": cfg.batch_size},
           "targets": [{"target": n, "measured": v, "pass": ok} for n, v, ok in targets]}
    (RESULTS / "bench_distill.json").write_text(json.dumps(out, indent=2, default=float))
    print(f"\nwrote {RESULTS / 'bench_distill.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
