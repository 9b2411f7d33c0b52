"""Speed comparisons of two variants from interleaved rounds: the median of per-round ratios with its 95% interval,
and what it lets us say ("faster", "slower", or "no measurable difference" when the interval holds 1.0).

A ratio is a's time / b's time in the same round (b's speedup over a): both were timed seconds apart, so what the
machine did meanwhile mostly cancels. bench.json keeps them under "comparisons".
"""

from __future__ import annotations

from distill_core.core.variants import ALL_VARIANTS, VARIANTS, base_variant, runtime_of
from distill_core.measure.stats import median_interval

# (reference, variant): the teacher (eager fp32) against every variant, int8 against its fp32 model, each variant on
# another runtime against itself on eager PyTorch, and the student against the control (same architecture: the
# pair that tells the noise floor).
PAIRS = tuple(dict.fromkeys(  # without repeats, in this order
    (("teacher", "teacher-int8"), ("teacher", "student"), ("teacher", "student-int8"), ("teacher", "control"),
          ("student", "student-int8"), ("control", "student"))
         + tuple(("teacher", v) for v in ALL_VARIANTS if v not in VARIANTS)
         + tuple((base_variant(v), v) for v in ALL_VARIANTS if runtime_of(v) != "pytorch")
         + (("student-ort", "student-ort-int8"), ("control-ort", "student-ort"))))
SAME = "no measurable difference"


def ratio_record(reference: str, variant: str, key: str, a_ms: list[float], b_ms: list[float]) -> dict | None:
    """{"reference", "variant", "setting", "batch_size", "ratio" (reference ms / variant ms: > 1 means the variant
    is faster), "low", "high", "rounds", "verdict"} from paired per-round samples; None without common rounds."""
    ratios = [a / b for a, b in zip(a_ms, b_ms) if b > 0]
    if not ratios:
        return None
    ratio, low, high = median_interval(ratios)
    setting, batch = key.split("/")
    verdict = SAME if low <= 1.0 <= high else "faster" if low > 1.0 else "slower"
    return {"reference": reference, "variant": variant, "setting": setting, "batch_size": int(batch),
            "ratio": ratio, "low": low, "high": high, "rounds": len(ratios), "verdict": verdict}


def compare_pairs(samples: dict[str, dict[str, list[float]]], pairs=PAIRS) -> list[dict]:
    """Every pair of `pairs` both measured, at every setting both have. `samples`: name -> key -> ms per round."""
    out = []
    for reference, variant in pairs:
        if reference not in samples or variant not in samples:
            continue
        for key in samples[reference]:
            if key in samples[variant]:
                record = ratio_record(reference, variant, key, samples[reference][key], samples[variant][key])
                if record:
                    out.append(record)
    return out


def find(bench: dict, reference: str, variant: str, setting: str, batch_size: int) -> dict | None:
    """The comparison record of one pair at one setting, or None (older bench.json files have none)."""
    return next((c for c in bench.get("comparisons") or [] if c["reference"] == reference and c["variant"] == variant
                 and c["setting"] == setting and c["batch_size"] == batch_size), None)


def speed_text(record: dict | None, digits: int = 2) -> str:
    """"3.12x (2.98-3.25)" or "no measurable difference (0.97-1.04)"; "-" without a record."""
    if not record:
        return "-"
    span = f"({record['low']:.{digits}f}-{record['high']:.{digits}f})"
    return f"{SAME} {span}" if record["verdict"] == SAME else f"{record['ratio']:.{digits}f}x {span}"
