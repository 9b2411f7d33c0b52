"""Exports of a run that are files rather than tables: the student (or control) as a zip with its save_pretrained
folder, its ONNX files when the run was measured on ONNX Runtime, and a README saying how each loads and what it
measured here (the tables are compare.py's, the HTML report is report.py's)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from distill_core.core.errors import DistillLabError
from distill_core.core.run_files import read_json_or_none
from distill_core.core.variants import variant_for, variant_label
from distill_core.runs import store

ONNX_FILES = {"onnx/model.onnx": "", "onnx/model-int8.onnx": "-int8"}  # file -> suffix of its variant name


def _measured(bench: dict | None, variant: str) -> str:
    """One line of what `variant` measured in bench.json: p50 at each batch size (real lengths), accuracy, size."""
    entry = ((bench or {}).get("variants") or {}).get(variant)
    if not entry or entry.get("status") != "ok":
        return "not measured" if not entry else f"not measured ({entry.get('error')})"
    parts = [f"p50 {r['p50_ms']:.1f} ms at batch {r['batch_size']}" for r in entry.get("latency") or []
             if r.get("setting") == "real"]
    quality = entry.get("quality") or {}
    if quality.get("accuracy") is not None:
        parts.append(f"accuracy {100 * quality['accuracy']:.1f}%")
    size = entry.get("size") or {}
    if size.get("weight_bytes"):
        parts.append(f"{size['weight_bytes'] / 2**20:.1f} MiB of weights")
    return ", ".join(parts) or "measured, no latency"


def readme_text(run_id: str, variant: str, folder: Path, bench: dict | None) -> str:
    """The zip's README.md: what each file is, how it loads, and what it measured on this machine."""
    machine = (bench or {}).get("machine") or {}
    where = (f"{machine.get('cpu_model') or 'this machine'}, {machine.get('threads')} threads"
             if machine else "this machine")
    int8 = variant_for(f"{variant}-int8", "pytorch")
    lines = [f"# {variant} of run {run_id}", "",
             f"Measured on {where} (`distill-lab bench {run_id}`; inputs: the run's test split at real lengths).", "",
             f"## `{variant}/`: the save_pretrained folder (safetensors, config, tokenizer)", "",
             "```python", "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
             f"model = AutoModelForSequenceClassification.from_pretrained(\"{variant}\")",
             f"tokenizer = AutoTokenizer.from_pretrained(\"{variant}\")", "```", "",
             f"- {variant_label(variant)} (fp32): {_measured(bench, variant)}"]
    if int8 in ((bench or {}).get("variants") or {}):
        lines.append(f"- {variant_label(int8)} (torch dynamic int8, made at load time, not stored): "
                     f"{_measured(bench, int8)}")
    present = [name for name in ONNX_FILES if (folder / name).exists()]
    if present:
        lines += ["", f"## `{variant}/onnx/`: ONNX files for ONNX Runtime", "",
                  "Inputs `input_ids` and `attention_mask` (int64, batch x tokens), output `logits`; label order in "
                  "`onnx/export.json` (`labels`), which also says how the files were made.", "",
                  "```python", "import onnxruntime as ort",
                  f"session = ort.InferenceSession(\"{variant}/onnx/model-int8.onnx\")  # or model.onnx (fp32)",
                  "enc = tokenizer([\"a text\"], return_tensors=\"np\")",
                  "logits = session.run([\"logits\"], {\"input_ids\": enc[\"input_ids\"], "
                  "\"attention_mask\": enc[\"attention_mask\"]})[0]", "```", ""]
        for name in present:
            name_variant = variant_for(variant + ONNX_FILES[name], "onnxruntime")
            lines.append(f"- `{name}` ({variant_label(name_variant)}): {_measured(bench, name_variant)}")
    else:
        lines += ["", "No ONNX files: the run was not measured on ONNX Runtime. "
                      f"`distill-lab bench {run_id} --runtimes pytorch,onnxruntime` makes and measures them."]
    return "\n".join(lines) + "\n"


def model_zip(run_id: str, variant: str = "student") -> bytes:
    """The run's `variant` save_pretrained folder (safetensors, config, tokenizer; `onnx/` with the ONNX fp32 and int8
    files when they were made) and a README.md, as zip bytes, under `<variant>/`."""
    if variant not in ("student", "control"):
        raise DistillLabError(f"{variant!r} cannot be exported as a folder; allowed: student | control", "variant")
    record = store.get_run(run_id)
    folder = record.folder / variant
    if not (folder / "config.json").exists():
        raise DistillLabError(f"run {record.id[:8]} has no saved {variant} (status: {record.status})", "run")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # safetensors barely compress
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{variant}/{path.relative_to(folder)}")
        archive.writestr("README.md", readme_text(record.id, variant, folder,
                                                  read_json_or_none(record.folder, "bench.json")))
    return buffer.getvalue()
