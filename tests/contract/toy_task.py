"""A third task that lives only in the tests: the proof that a new task is one folder (here: one module).

"toy-sums": sequences of 8 digits, labelled by how many are 5 or more (fewer than 4, 4, more than 4). The teacher is a small residual MLP over mean-pooled
digit embeddings, trained for a moment in `prepare`; the student keeps fewer of its layers. Nothing here is imported
by distill_core: the module registers itself (DISTILL_LAB_TASKS names it, so worker processes register it too).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from distill_core.core.atomic import write_json
from distill_core.core.progress import ProgressEvent
from distill_core.measure import isolation, timing
from distill_core.measure.records import BenchResult, LatencyRecord, SizeRecord, VariantResult
from distill_core.tasks.base import Prepared, QualitySpec, RunContext, Targets, Task, Trained
from distill_core.tasks.registry import register
from distill_core.training.loop import BudgetSpec, optimizer_step, set_scheduled_lr

NAME = "toy-sums"
VOCAB, LENGTH, CLASSES, WIDTH = 10, 8, 3, 32
VARIANTS = ("teacher", "student", "control")


class TinyModel(torch.nn.Module):
    """Digit embeddings, mean-pooled, `depth` residual ReLU layers, a linear head. Input (batch, LENGTH) int64."""

    def __init__(self, depth: int):
        super().__init__()
        self.depth = depth
        self.embed = torch.nn.Embedding(VOCAB, WIDTH)
        self.layers = torch.nn.ModuleList(torch.nn.Linear(WIDTH, WIDTH) for _ in range(depth))
        self.head = torch.nn.Linear(WIDTH, CLASSES)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.embed(ids).mean(1)
        for layer in self.layers:
            h = h + F.relu(layer(h))
        return self.head(h)

    def get_input_embeddings(self):
        return self.embed

    def save_pretrained(self, folder, safe_serialization: bool = True) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file(self.state_dict(), str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps({"depth": self.depth}))

    @classmethod
    def from_pretrained(cls, folder) -> "TinyModel":
        folder = Path(folder)
        model = cls(json.loads((folder / "config.json").read_text())["depth"])
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
        return model.eval()


def make_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, VOCAB, (n, LENGTH), generator=torch.Generator().manual_seed(seed))
    high = (ids >= 5).sum(1)
    return ids, (high >= 4).long() + (high > 4).long()


def _cost(model: TinyModel) -> dict:
    params = sum(p.numel() for p in model.parameters())
    flops = 2 * (WIDTH * WIDTH * model.depth + WIDTH * CLASSES)
    return {"parameters": params, "weight_bytes": 4 * params, "flops_per_input": flops, "seq_len": LENGTH,
            "layers": model.depth, "hidden_size": WIDTH}


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(-1) == labels).float().mean())


def _train(model, ids, labels, spec: BudgetSpec, phase: str, teacher_logits=None, alpha=0.0, temperature=2.0,
           on_progress=None, should_stop=None) -> tuple[list[dict], int, str]:
    """A minimal loop on the shared schedule and optimiser step; soft term as in Hinton et al. (2015)."""
    torch.manual_seed(spec.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=spec.learning_rate)
    history, step, stopped = [], 0, "budget"
    model.train()
    while step < spec.steps:
        if should_stop is not None and should_stop():
            stopped = "cancelled"
            break
        batch = torch.randint(0, len(ids), (spec.batch_size,), generator=torch.Generator().manual_seed(step))
        set_scheduled_lr(optimizer, spec, step / spec.steps)
        logits = model(ids[batch])
        loss = F.cross_entropy(logits, labels[batch])
        if teacher_logits is not None and alpha > 0:
            t = temperature
            soft = F.kl_div(F.log_softmax(logits / t, -1), F.log_softmax(teacher_logits[batch] / t, -1),
                            log_target=True, reduction="batchmean") * t * t
            loss = alpha * soft + (1 - alpha) * loss
        optimizer_step(optimizer, params, loss, spec, phase, step)
        step += 1
        history.append({"step": step, "loss": float(loss.detach())})
        if on_progress is not None:
            on_progress(ProgressEvent(phase, step, spec.steps, step / spec.steps, {"loss": float(loss.detach())}))
    model.eval()
    return history, step, stopped


def _measure_variant(name: str, folder: str, cfg: dict) -> dict:
    """One variant in a fresh process: latency at each batch size and the model's size (shared records)."""
    model = TinyModel.from_pretrained(folder)
    ids, _ = make_data(max(cfg["batch_sizes"]), seed=1)
    timer = timing.PassTimer("cpu")
    settings = type("Settings", (), {k: cfg[k] for k in ("min_iterations", "min_seconds", "max_seconds")})
    latency = []
    with torch.inference_mode():
        for batch in cfg["batch_sizes"]:
            forward = lambda b=batch: model(ids[:b])  # noqa: E731
            forward()
            samples = timing.timed_passes([forward], timer, settings)
            latency.append(LatencyRecord.from_samples("real", batch, samples, LENGTH, LENGTH,
                                                      _cost(model)["flops_per_input"]))
    cost = _cost(model)
    size = SizeRecord(cost["parameters"], cost["weight_bytes"], 0, cost["flops_per_input"], cost["flops_per_input"],
                      LENGTH, [float(cost["flops_per_input"]), 0.0, 0.0])
    return VariantResult(name=name, ref=folder, status="ok", device="cpu", threads=torch.get_num_threads(),
                         latency=latency, size=size).to_dict()


class ToyTask(Task):
    name = NAME
    title = "Toy sums (a test's task)"
    quality = QualitySpec("accuracy", True, ("accuracy", "agreement", "retention", "distillation_gain"))

    def validate(self, config) -> None:
        if config.student.num_layers > 3:
            from distill_core.core.config import check

            check(False, "student.num_layers", f"1 to 3 for {NAME}", config.student.num_layers)

    def presets(self) -> dict:
        from distill_core.core.config import BudgetConfig, RunConfig, StudentConfig

        return {"toy-sums-quick": ("a test's toy task", RunConfig(
            name="toy", task=NAME, student=StudentConfig(num_layers=1),
            budget=BudgetConfig(unit="steps", value=40, eval_every=20), batch_size=32, learning_rate=1e-2))}

    def prepare(self, ctx: RunContext) -> Prepared:
        ctx.progress("data", "making digit sequences")
        train_ids, train_labels = make_data(512, ctx.config.data.seed)
        test_ids, test_labels = make_data(256, ctx.config.data.seed + 1)
        teacher = TinyModel(depth=3)
        spec = BudgetSpec(steps=100, minutes=None, batch_size=64, learning_rate=1e-2, seed=ctx.config.seed)
        with ctx.timed("teacher_prepare_s"):
            _train(teacher, train_ids, train_labels, spec, "teacher-finetune")
        teacher.save_pretrained(ctx.run_dir / "teacher")
        student = TinyModel(depth=ctx.config.student.num_layers)
        student.load_state_dict(teacher.state_dict(), strict=False)  # keeps the first layers, like keep-layers
        preflight = {"teacher": _cost(teacher), "student": _cost(student),
                     "student_description": f"keeps teacher layers 0..{student.depth - 1}"}
        preflight["flops_ratio"] = preflight["teacher"]["flops_per_input"] / preflight["student"]["flops_per_input"]
        state = {"teacher": teacher, "train": (train_ids, train_labels), "test": (test_ids, test_labels)}
        return Prepared(student, None, preflight, state)

    def teacher_targets(self, ctx: RunContext, prepared: Prepared) -> Targets:
        with torch.no_grad():
            return Targets(prepared.state["teacher"](prepared.state["train"][0]), cached=False)

    def train(self, ctx: RunContext, prepared: Prepared, targets: Targets, phase: str, steps: int | None) -> Trained:
        c = ctx.config
        spec = BudgetSpec(steps=steps if phase == "control" else int(c.budget.value), minutes=None,
                          batch_size=c.batch_size, learning_rate=c.learning_rate, seed=c.seed)
        ids, labels = prepared.state["train"]
        started = time.monotonic()
        history, done, stopped = _train(prepared.student, ids, labels, spec, phase,
                                        targets.value if phase == "student" else None, c.loss.alpha,
                                        c.loss.temperature, ctx.emit, ctx.should_stop)
        return Trained(history, done, {"steps": done, "seconds": time.monotonic() - started, "stopped": stopped},
                       stopped)

    def _report(self, prepared: Prepared, model) -> dict:
        ids, labels = prepared.state["test"]
        with torch.no_grad():
            logits, teacher_logits = model(ids), prepared.state["teacher"](ids)
        return {"accuracy": _accuracy(logits, labels),
                "agreement": float((logits.argmax(-1) == teacher_logits.argmax(-1)).float().mean())}

    def teacher_quality(self, ctx, prepared, targets) -> dict:
        return self._report(prepared, prepared.state["teacher"])

    def evaluate(self, ctx, prepared, targets) -> dict:
        return self._report(prepared, prepared.student)

    def results_extra(self, ctx, prepared, targets) -> dict:
        return {"teacher": {"model_ref": str(ctx.run_dir / "teacher")}, "data": {"train": 512, "test": 256}}

    def measure(self, run_dir, cfg, variants=None, on_progress=None, should_stop=None, write=True,
                after_run=False) -> dict:
        from distill_core.measure.records import BenchConfig

        cfg = cfg or BenchConfig()
        run_dir = Path(run_dir)
        quick = {"batch_sizes": cfg.batch_sizes, "min_iterations": 3, "min_seconds": 0.0, "max_seconds": 2.0}
        started = time.perf_counter()
        measured = {}
        for name in variants or VARIANTS:
            folder = run_dir / name
            if not folder.exists():
                continue
            payload, wall = isolation.run_in_fresh_process(_measure_variant, (name, str(folder), quick), 1, 120,
                                                           f"measure-{name}")
            result = (VariantResult(name=name, ref=str(folder), status="error", error=payload.get("error"))
                      if payload.get("status") != "ok" else VariantResult.from_dict(payload))
            result.wall_seconds = wall
            measured[name] = result
        bench = BenchResult(run_dir=str(run_dir), created=time.strftime("%Y-%m-%dT%H:%M:%S"),
                            wall_seconds=time.perf_counter() - started, config=cfg, machine=None, matmul_peak=None,
                            run_config=json.loads((run_dir / "config.json").read_text()), variants=measured,
                            task=NAME).to_dict()
        if write:
            write_json(run_dir / "bench.json", bench)
        return bench

    def bench_columns(self, bench: dict) -> dict[str, dict]:
        out = {}
        for name, v in bench["variants"].items():
            latency = sorted(v["latency"], key=lambda r: r["batch_size"])
            out[name] = {"p50_ms_batch1": latency[0]["p50_ms"], f"p50_ms_batch{latency[-1]['batch_size']}":
                         latency[-1]["p50_ms"], "weight_bytes": v["size"]["weight_bytes"],
                         "parameters": v["size"]["parameters"]}
        return out

    def format_bench(self, bench: dict) -> str:
        lines = [f"{'variant':<10} {'p50 ms (batch 1)':>17} {'parameters':>11}"]
        for name, row in self.bench_columns(bench).items():
            lines.append(f"{name:<10} {row['p50_ms_batch1']:>17.3f} {row['parameters']:>11}")
        return "\n".join(lines)


TOY = register(ToyTask())
