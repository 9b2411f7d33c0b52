"""The variants every run has, and where a finished run keeps each one's weights."""

from __future__ import annotations

from pathlib import Path

from distill_core.core.run_files import read_json

# The order every table, chart and measurement lists them in.
VARIANTS = ("teacher", "teacher-int8", "student", "student-int8", "control")


def order_key(variant: str) -> tuple[int, str]:
    """Sort key: the known variants in VARIANTS order, anything else after them by name."""
    return (VARIANTS.index(variant) if variant in VARIANTS else len(VARIANTS), variant)


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
