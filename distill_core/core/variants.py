"""The variants every run has, and where a finished run keeps each one's weights."""

from __future__ import annotations

from pathlib import Path

from distill_core.core.run_files import read_json

# The variants on eager PyTorch, which every run has.
VARIANTS = ("teacher", "teacher-int8", "student", "student-int8", "control")
# Runtimes a variant can be measured on; a variant on another runtime than eager PyTorch carries its tag in its name
# ("student-int8" on ONNX Runtime is "student-ort-int8": made from the same fp32 folder, quantized by that runtime).
RUNTIMES = ("pytorch", "onnxruntime")
RUNTIME_TAGS = {"onnxruntime": "ort"}
RUNTIME_LABELS = {"pytorch": "PyTorch", "onnxruntime": "ONNX Runtime"}
# The order every table, chart and measurement lists them in: each model's runtimes together.
ALL_VARIANTS = ("teacher", "teacher-int8", "teacher-ort", "teacher-ort-int8", "student", "student-int8",
                "student-ort", "student-ort-int8", "control", "control-ort")


def variant_for(base: str, runtime: str) -> str:
    """The name of eager variant `base` ("student-int8") on `runtime` ("student-ort-int8" on onnxruntime)."""
    tag = RUNTIME_TAGS.get(runtime)
    if not tag:
        return base
    model, _, precision = base.partition("-")
    return f"{model}-{tag}" + (f"-{precision}" if precision else "")


def runtime_of(variant: str) -> str:
    """The runtime a variant name says it runs on ("pytorch" when it names none)."""
    parts = variant.split("-")
    return next((runtime for runtime, tag in RUNTIME_TAGS.items() if tag in parts[1:]), "pytorch")


def base_variant(variant: str) -> str:
    """The eager variant a name derives from: "student-ort-int8" -> "student-int8"."""
    tag = RUNTIME_TAGS.get(runtime_of(variant))
    return "-".join(p for p in variant.split("-") if p != tag) if tag else variant


def variant_label(variant: str) -> str:
    """What a reader sees: "student int8 · ONNX Runtime" ("student int8" on PyTorch)."""
    runtime = runtime_of(variant)
    text = base_variant(variant).replace("-", " ")
    return text if runtime == "pytorch" else f"{text} · {RUNTIME_LABELS[runtime]}"


def order_key(variant: str) -> tuple[int, str]:
    """Sort key: the known variants in ALL_VARIANTS order, anything else after them by name."""
    return (ALL_VARIANTS.index(variant) if variant in ALL_VARIANTS else len(ALL_VARIANTS), variant)


def variant_refs(run_dir: str | Path) -> dict[str, tuple[str, bool]]:
    """Variant -> (fp32 model folder or reference, quantize to int8) of a finished run folder: the teacher the run
    used (results.json's teacher.model_ref), student/ and control/ as saved, int8 versions of teacher and student."""
    run_dir = Path(run_dir)
    teacher_ref = read_json(run_dir, "results.json")["teacher"]["model_ref"]
    refs = {"teacher": (teacher_ref, False), "teacher-int8": (teacher_ref, True)}
    for name in ("student", "control"):
        if (run_dir / name / "config.json").exists():
            refs[name] = (str(run_dir / name), False)
    if "student" in refs:
        refs["student-int8"] = (refs["student"][0], True)
    return {v: refs[v] for v in VARIANTS if v in refs}
