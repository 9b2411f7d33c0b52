"""int8 variants: the same model with int8 weights, made in the measuring process right after the fp32 folder loads.

Nothing quantized is ever saved or loaded, so no pickle is involved: an int8 variant is always `quantize_int8(fp32)`.

Methods (the one used is recorded with every result):
- `torchao-int8-dynamic`: torchao `quantize_` with int8 weights (per output channel) and int8 activations quantized
  per token at run time; the matmul runs in int8.
- `torchao-int8-weight-only`: torchao `quantize_` with int8 weights, dequantized to fp32 inside each matmul.
- `torch-dynamic-int8` (the named fallback): torch's deprecated `torch.ao.quantization.quantize_dynamic`, int8
  weights and per-batch dynamic int8 activations on fbgemm/oneDNN kernels; CPU only.
Only `nn.Linear` layers are quantized by every method; embeddings and LayerNorms stay fp32. So that each int8 model
stores what it claims:
- a Linear whose weight is an embedding's (a causal LM's lm_head tied to its input embeddings) stays fp32 and shared:
  quantizing it would store an int8 copy next to the fp32 embedding, more bytes than the fp32 model;
- transformers' `Conv1D` (GPT-2's blocks; x @ W + b with W of shape (in, out)) is not an nn.Linear, so no method would
  touch it: it is first replaced by the identical nn.Linear (weight W.T).
Both are said in the QuantizationRecord's note.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import asdict, dataclass

import torch

from distill_core.core.errors import DistillLabError
from distill_core.models import students

METHODS = ("torchao-int8-dynamic", "torchao-int8-weight-only", "torch-dynamic-int8")
# Measured on the 2-core dev CPU (AMD EPYC; shared and loaded, so absolute times are inflated), eager (no
# torch.compile), fine-tuned MiniLM-L6 teacher, p50 ms at batch 1 / batch 32, 128 tokens, 2 threads, a fresh process
# per method (`benchmarks/bench_variants.py --methods`): torchao-int8-dynamic 627 / 21239 (its eager int8 matmul has
# no fast CPU kernel); torchao-int8-weight-only 58 / 1070; torch-dynamic-int8 31 / 602 (fbgemm); fp32 36 / 923.
# The ranking held at 1 thread too. So CPU defaults to the named fallback; CUDA uses torchao.
DEFAULT_METHOD = {"cpu": "torch-dynamic-int8", "cuda": "torchao-int8-dynamic"}


@dataclass
class QuantizationRecord:
    """How an int8 variant was made."""

    method: str  # one of METHODS
    library: str  # "torchao" or "torch"
    library_version: str
    quantized_layers: int  # modules whose weights are now int8 (nn.Linear layers)
    int8_elements: int  # int8 numbers in the quantized state dict
    fp32_weight_bytes: int  # bytes before quantizing
    weight_bytes: int  # bytes after (int8 data + scales + the fp32 tensors left alone)
    seconds: float  # time to quantize (s), imports excluded
    requested: str  # what was asked for ("auto" or a method)
    note: str = ""  # why a fallback was used, if one was

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "QuantizationRecord":
        return cls(**data)


def default_method(device: str) -> str:
    return DEFAULT_METHOD["cuda" if device.startswith("cuda") else "cpu"]


def int8_elements(model: torch.nn.Module) -> int:
    """How many int8 numbers the model's state dict holds (0 for an fp32 model)."""
    total = 0
    for value in model.state_dict().values():
        for tensor in students.plain_tensors(value):
            if tensor.dtype in (torch.int8, torch.qint8):
                total += tensor.numel()
    return total


def import_torchao():
    logging.getLogger("torchao").setLevel(logging.ERROR)  # it logs its CUDA-only kernels failing to load on CPU
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)  # a deprecation about torchao's enums
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torchao
        from torchao.quantization import quantize_
    return torchao, quantize_


def _torchao_config(method: str):
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig

    return Int8DynamicActivationInt8WeightConfig() if method == "torchao-int8-dynamic" else Int8WeightOnlyConfig()


def tied_linears(model: torch.nn.Module) -> list[str]:
    """Names of the nn.Linear modules whose weight is an embedding's weight (e.g. a tied lm_head)."""
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    pointers = {m.weight.data_ptr() for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    return [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)
            and (id(m.weight) in embeddings or m.weight.data_ptr() in pointers)]


def conv1d_to_linear(model: torch.nn.Module) -> int:
    """Replace (in place) every transformers Conv1D (x @ W + b, W: (in, out)) by the nn.Linear computing the same
    (weight W.T); returns how many. Tied or shared Conv1D weights are not expected (GPT-2 has none)."""
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child).__name__ != "Conv1D" or not hasattr(child, "nf"):
                continue
            linear = torch.nn.Linear(child.nx, child.nf, bias=child.bias is not None,
                                     device=child.weight.device, dtype=child.weight.dtype)
            with torch.no_grad():
                linear.weight.copy_(child.weight.t())
                if child.bias is not None:
                    linear.bias.copy_(child.bias)
            setattr(parent, name, linear)
            replaced += 1
    return replaced


def _quantize_torchao(model, method: str, keep: set[str]):
    torchao, quantize_ = import_torchao()
    config = _torchao_config(method)
    started = time.perf_counter()  # the import (seconds) is not part of quantizing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_(model, config, filter_fn=lambda module, name: isinstance(module, torch.nn.Linear)
                  and name not in keep)
    return model, "torchao", torchao.__version__, time.perf_counter() - started


def _quantize_torch_dynamic(model, device: str, keep: set[str]):
    if device.startswith("cuda"):
        raise DistillLabError("torch's dynamic int8 quantization runs on CPU only; install torchao for CUDA",
                              "quantization")
    # By module name, not by type, so that the Linears in `keep` stay as they are.
    spec = {name: torch.ao.quantization.default_dynamic_qconfig for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and name not in keep}
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated in favour of torchao; kept as the named fallback
        quantized = torch.ao.quantization.quantize_dynamic(model, spec, dtype=torch.qint8,
                                                             inplace=True)  # no second fp32 copy
    return quantized, "torch", torch.__version__, time.perf_counter() - started


def _left_alone(tied: list[str], converted: int) -> str:
    """The note's words for the layers handled apart (empty when none)."""
    parts = [f"{name} tied to the input embeddings: kept fp32 and shared" for name in tied]
    if converted:
        parts.append(f"{converted} transformers Conv1D layers converted to the same nn.Linear and quantized")
    return "; ".join(parts)


def int8_layers(model: torch.nn.Module) -> int:
    """How many modules hold their weight as int8."""
    count = 0
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if callable(weight) and not isinstance(weight, torch.Tensor):
            weight = weight()  # torch's dynamic quantized Linear exposes its weight as a method
        if isinstance(weight, torch.Tensor) and any(t.dtype in (torch.int8, torch.qint8)
                                                    for t in students.plain_tensors(weight)):
            count += 1
    return count


def quantize_int8(model: torch.nn.Module, method: str = "auto", device: str = "cpu"):
    """(int8 model, QuantizationRecord) from an fp32 model already on `device`; `model` may be changed in place.

    "auto" picks DEFAULT_METHOD for the device; when torchao is missing or fails, it falls back to
    `torch-dynamic-int8` and says why in the record's note. Tied Linears stay fp32 and Conv1D layers become Linears
    first (module docstring); the note says which."""
    if method != "auto" and method not in METHODS:
        raise DistillLabError(f"unknown method {method!r}; allowed: auto, {', '.join(METHODS)}", "quantization")
    chosen = default_method(device) if method == "auto" else method
    fp32_bytes = students.weight_bytes(model)
    converted = conv1d_to_linear(model)
    tied = tied_linears(model)
    note = ""
    if chosen.startswith("torchao"):
        try:
            quantized, library, version, seconds = _quantize_torchao(model, chosen, set(tied))
        except Exception as exc:  # missing package, or no kernel for this device / torch build
            if method != "auto" or device.startswith("cuda"):
                raise DistillLabError(f"torchao could not quantize: {type(exc).__name__}: {exc}",
                                      "quantization") from None
            note = f"torchao unavailable ({type(exc).__name__}: {str(exc)[:120]}); used torch-dynamic-int8"
            chosen = "torch-dynamic-int8"
    if chosen == "torch-dynamic-int8":
        quantized, library, version, seconds = _quantize_torch_dynamic(model, device, set(tied))
    note = "; ".join(filter(None, [note, _left_alone(tied, converted)]))
    record = QuantizationRecord(method=chosen, library=library, library_version=version,
                                quantized_layers=int8_layers(quantized),
                                int8_elements=int8_elements(quantized), fp32_weight_bytes=fp32_bytes,
                                weight_bytes=students.weight_bytes(quantized), seconds=seconds, requested=method,
                                note=note)
    return quantized.eval(), record

