"""ONNX files of a sequence classifier: the fp32 export and its dynamic int8 version, for ONNX Runtime.

Made with the maintained tools, no graph code of ours:
- export: `torch.onnx.export`, the TorchScript-based exporter first (about a second for MiniLM-L6, where the dynamo
  exporter takes ~10 s; its graph is also the one ONNX Runtime's transformer fusions were written for), the dynamo
  exporter when that fails; the one used is recorded. The model is exported with plain ("eager") attention, whose
  graph has no data-dependent branches, so one export serves every batch size and sequence length (both axes
  dynamic). Inputs `input_ids` and `attention_mask` (int64, (batch, seq)); output `logits` (batch, labels) in the
  model's own label order (its config's id2label, copied into the record).
- int8: `onnxruntime.quantization.quantize_dynamic`: int8 weights (per tensor) for every MatMul/Gemm and the
  embedding lookups (Gather), activations quantized per batch at run time (uint8); LayerNorms and biases stay fp32.

Files live in `<folder>/onnx/` next to the save_pretrained folder they were made from (for a model outside the data
folder, e.g. a packaged or hub teacher, under `<data folder>/cache/onnx/<hash of its reference>/`): `model.onnx`,
`model-int8.onnx` and `export.json` (an OnnxExport). Sizes are the files' bytes: what ONNX Runtime loads.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from distill_core.core import home
from distill_core.core.atomic import replacing, write_json
from distill_core.core.errors import DistillLabError
from distill_core.models import loading as models

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
RECORD_FILE = "export.json"
OPSET = 17  # LayerNormalization is a single op from 17 on
INT8_METHOD = "onnxruntime-dynamic-int8"
# Largest |ONNX - PyTorch| logit difference accepted right after export, on the example batch (fp32 graphs agree
# to ~1e-6; a wrong graph is off by whole units).
EXPORT_TOLERANCE = 1e-3


@dataclass
class OnnxExport:
    """How a model's ONNX files were made (export.json)."""

    source: str  # the save_pretrained folder or reference exported
    source_stamp: str  # size and modification time of its weight files: a changed source is re-exported
    exporter: str  # "torch.onnx (TorchScript)" | "torch.onnx (dynamo)"
    opset: int
    torch_version: str
    onnx_version: str
    onnxruntime_version: str
    parameters: int  # of the PyTorch model
    labels: list[str]  # the order of the `logits` columns
    fp32_bytes: int  # model.onnx on disk
    int8_bytes: int  # model-int8.onnx on disk
    int8_method: str  # INT8_METHOD
    int8_layers: int  # MatMul/Gemm nodes that now run in int8
    int8_elements: int  # int8 weight numbers stored
    export_seconds: float
    quantize_seconds: float
    max_abs_diff: float  # |ONNX - PyTorch| logits on the example batch right after export
    note: str = ""
    extra: dict = field(default_factory=dict)  # what a task adds (e.g. the FLOPs curve)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "OnnxExport":
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def onnx_dir(ref: str) -> Path:
    """Where the ONNX files of `ref` live: `<folder>/onnx` for a folder inside the data folder, else
    `<data folder>/onnx/<hash of the resolved reference>`."""
    resolved = models.resolve(ref)
    base = home.data_home()
    path = Path(resolved)
    if path.is_dir():
        try:
            path.resolve().relative_to(base.resolve())
            return path / ONNX_DIR
        except ValueError:
            pass
    return home.cache_dir(ONNX_DIR) / hashlib.sha256(str(resolved).encode()).hexdigest()[:16]


def source_stamp(ref: str) -> str:
    """Sizes and modification times of `ref`'s weight files (a hub id that is not a folder: the id itself)."""
    path = Path(models.resolve(ref))
    if not path.is_dir():
        return str(ref)
    files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".json") and p.is_file())
    return ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)


def read_export(ref: str) -> OnnxExport | None:
    """The record of `ref`'s current ONNX files, or None when they are missing or made from other weights."""
    folder = onnx_dir(ref)
    try:
        record = OnnxExport.from_dict(json.loads((folder / RECORD_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if record.source_stamp != source_stamp(ref) or not all((folder / f).exists() for f in (FP32_FILE, INT8_FILE)):
        return None
    return record


def _example_batch(model) -> tuple[torch.Tensor, torch.Tensor]:
    """Two inputs of different lengths (so the mask has padding): ids drawn from the vocabulary, pad id 0."""
    vocab = int(getattr(model.config, "vocab_size", 100) or 100)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(min(5, vocab - 1), vocab, (2, 12), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    ids[1, 7:] = 0
    return ids, mask


def _plain_attention(model):
    """A copy of `model` with eager attention (no data-dependent branches in its graph); the model itself untouched."""
    model = copy.deepcopy(model).float().cpu().eval()
    try:
        model.set_attn_implementation("eager")
    except Exception:  # older transformers or a model without the switch: the export is checked after anyway
        model.config._attn_implementation = "eager"
    return model


def _export_torchscript(model, ids, mask, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes are not the user's concern
        torch.onnx.export(model, (ids, mask), str(path), input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                        "logits": {0: "batch"}})


def _export_dynamo(model, ids, mask, path: Path) -> None:
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (), kwargs={"input_ids": ids, "attention_mask": mask}, dynamo=True,
                                    output_names=["logits"], opset_version=max(OPSET, 18), verbose=False,
                                    dynamic_shapes={"input_ids": {0: batch, 1: seq},
                                                    "attention_mask": {0: batch, 1: seq}})
        program.save(str(path))


def ort_session(path: str | Path, threads: int = 0):
    """An ONNX Runtime CPU session with every graph optimisation on, `threads` intra-op threads (0: ORT's default,
    the physical cores) and no spinning: an idle session must not burn cores while another variant is timed."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _max_diff(path: Path, model, ids, mask) -> float:
    session = ort_session(path, 1)
    onnx_logits = session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    with torch.inference_mode():
        torch_logits = model(input_ids=ids, attention_mask=mask).logits.float().numpy()
    return float(abs(onnx_logits - torch_logits).max())


def export_fp32(model, path: Path) -> tuple[str, float]:
    """Write `model` (a sequence classifier) to `path` as ONNX; (exporter used, max |ONNX - PyTorch| logit).
    Raises DistillLabError (field "runtimes") when no exporter gives a graph that matches the model."""
    model = _plain_attention(model)
    ids, mask = _example_batch(model)
    errors = []
    for name, export in (("torch.onnx (TorchScript)", _export_torchscript), ("torch.onnx (dynamo)", _export_dynamo)):
        try:
            export(model, ids, mask, path)
            diff = _max_diff(path, model, ids, mask)
        except Exception as exc:  # an exporter that cannot handle this architecture: try the next
            errors.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
            continue
        if diff <= EXPORT_TOLERANCE:
            return name, diff
        errors.append(f"{name}: logits differ from PyTorch by {diff:.3g}")
    raise DistillLabError("could not export the model to ONNX (" + "; ".join(errors) + ")", "runtimes")


def quantize_int8(fp32_path: Path, int8_path: Path) -> tuple[int, int]:
    """Dynamic int8 of an ONNX file (onnxruntime.quantization.quantize_dynamic, int8 weights);
    (int8 layers, int8 weight elements)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs a pre-processing tip on the root logger for every model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        finally:
            root.setLevel(level)
    graph = onnx.load(str(int8_path), load_external_data=False).graph
    layers = sum(node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul", "QGemm") for node in graph.node)
    elements = 0
    for tensor in graph.initializer:
        if tensor.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8):
            count = 1
            for dim in tensor.dims:
                count *= dim
            elements += count
    return layers, elements


def export_classifier(ref: str, labels: list[str] | None = None, trust_remote_code: bool = False,
                      model=None, extra: dict | None = None) -> OnnxExport:
    """Export `ref` (or the already loaded `model` of it) to ONNX fp32 and int8 in `onnx_dir(ref)`, unless files made
    from the same weights are there; returns their record. Written all or nothing (atomic.replacing)."""
    import onnx
    import onnxruntime

    existing = read_export(ref)
    if existing is not None:
        return existing
    model = model if model is not None else models.load_classifier(ref, labels, trust_remote_code)
    stamp = source_stamp(ref)
    folder = onnx_dir(ref)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with replacing(folder) as tmp:
        tmp.mkdir()
        started = time.perf_counter()
        exporter, diff = export_fp32(model, tmp / FP32_FILE)
        export_seconds = time.perf_counter() - started
        started = time.perf_counter()
        layers, elements = quantize_int8(tmp / FP32_FILE, tmp / INT8_FILE)
        quantize_seconds = time.perf_counter() - started
        id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
        record = OnnxExport(
            source=str(ref), source_stamp=stamp, exporter=exporter, opset=OPSET, torch_version=torch.__version__,
            onnx_version=onnx.__version__, onnxruntime_version=onnxruntime.__version__,
            parameters=sum(p.numel() for p in model.parameters()), labels=[id2label[i] for i in sorted(id2label)],
            fp32_bytes=(tmp / FP32_FILE).stat().st_size, int8_bytes=(tmp / INT8_FILE).stat().st_size,
            int8_method=INT8_METHOD, int8_layers=layers, int8_elements=elements, export_seconds=export_seconds,
            quantize_seconds=quantize_seconds, max_abs_diff=diff, extra=dict(extra or {}))
        write_json(tmp / RECORD_FILE, record.to_dict())
    return record


class OnnxClassifier:
    """An ONNX file that answers like a transformers classifier: `model(input_ids=..., attention_mask=...).logits`
    (a torch tensor, (batch, labels) in the record's label order). For the Playground; measurement times the
    session directly."""

    def __init__(self, ref: str, int8: bool, threads: int = 0):
        record = read_export(ref)
        if record is None:
            raise DistillLabError(f"{ref} has no current ONNX files; measure the run with ONNX Runtime "
                                  "(distill-lab bench RUN --runtimes onnxruntime) to make them", "runtimes")
        self.record = record
        self.path = onnx_dir(ref) / (INT8_FILE if int8 else FP32_FILE)
        self.session = ort_session(self.path, threads)
        self.weight_bytes = self.path.stat().st_size

    def eval(self) -> "OnnxClassifier":
        return self

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_):
        from types import SimpleNamespace

        feed = {"input_ids": input_ids.cpu().numpy(), "attention_mask": attention_mask.cpu().numpy()}
        return SimpleNamespace(logits=torch.from_numpy(self.session.run(["logits"], feed)[0]))
