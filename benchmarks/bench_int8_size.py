"""Issue 15 ("while there"): what an int8 causal LM with tied input/output embeddings stores, before and after.

Usage:
    .venv/bin/python benchmarks/bench_int8_size.py

Two models with tied embeddings: the packaged SmolLM2-135M-Instruct (`smollm2`, real weights) and GPT-2 small's
architecture (`GPT2Config()`, 124M parameters, random weights: bytes depend on shapes, not values; GPT-2 keeps its
blocks in transformers' Conv1D). Each is quantized twice with `torch-dynamic-int8` (the CPU method): as the code did
before (every nn.Linear, the tied lm_head included; Conv1D left alone because it is not an nn.Linear), and as
`distill_core.models.quantize.quantize_int8` does now (tied head kept fp32 and shared, Conv1D converted first).
Printed per model: fp32 bytes, int8 bytes before and now, their ratio to fp32, int8 layers, the record's note.
Bytes are `students.weight_bytes` (distinct tensors of the state dict: a safetensors payload). No timing, so the
machine's load does not matter. JSON: benchmarks/results/bench_int8_size.json.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from distill_core.models import students
from distill_core.models.quantize import int8_layers, quantize_int8

RESULTS = Path(__file__).resolve().parent / "results"


def _smollm2():
    """The packaged GGUF, dequantized once to fp32 in the data folder's cache (as a run's teacher is)."""
    from transformers import AutoModelForCausalLM

    from distill_core.tasks.causal_lm import teacher

    folder = teacher.converted_folder("smollm2")
    if not folder.exists():
        teacher.convert_gguf(teacher.gguf_path("smollm2"), folder, print)
    return AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)


def _gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config())


def _quantize_every_linear(model):
    """What quantize_int8 did before: torch's dynamic int8 of every nn.Linear, the tied head included."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def measure(name: str, build) -> dict:
    model = build().eval()
    fp32 = students.weight_bytes(model)
    parameters = sum(p.numel() for p in model.parameters())
    before = _quantize_every_linear(model)
    before_bytes, before_layers = students.weight_bytes(before), int8_layers(before)
    del model, before
    now, record = quantize_int8(build().eval(), "torch-dynamic-int8")
    return {"model": name, "parameters": parameters, "fp32_bytes": fp32, "before_bytes": before_bytes,
            "before_layers": before_layers, "now_bytes": record.weight_bytes, "now_layers": record.quantized_layers,
            "now_check_bytes": students.weight_bytes(now), "note": record.note}


def main() -> None:
    rows = [measure("smollm2 (SmolLM2-135M, tied)", _smollm2), measure("gpt2 architecture (124M, tied)", _gpt2)]
    mib = 2**20
    print(f"{'model':32} {'fp32 MiB':>9} {'int8 before':>12} {'ratio':>6} {'layers':>6} {'int8 now':>9} {'ratio':>6}"
          f" {'layers':>6}")
    for r in rows:
        print(f"{r['model']:32} {r['fp32_bytes'] / mib:9.1f} {r['before_bytes'] / mib:12.1f} "
              f"{r['before_bytes'] / r['fp32_bytes']:6.2f} {r['before_layers']:6d} {r['now_bytes'] / mib:9.1f} "
              f"{r['now_bytes'] / r['fp32_bytes']:6.2f} {r['now_layers']:6d}")
        print(f"  note: {r['note']}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_int8_size.json").write_text(json.dumps({"models": rows, "torch": torch.__version__}, indent=2))
    print(f"wrote {RESULTS / 'bench_int8_size.json'}")


if __name__ == "__main__":
    main()
