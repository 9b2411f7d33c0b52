"""The distillation gain's verdict in words and rows, from a results dict's quality["gain"] (measure/stats.py
GainReport.to_dict): a one-line headline, a table of the training seeds (as display rows and as text lines) and the
notes. Runs from before training seeds have no "gain": every reader here then returns None or nothing.

Gains are stored in the metric's unit (accuracy as a fraction, so +0.023 is +2.30 points; perplexity as control -
student) and shown through views/units.py, so a gain reads the same on every screen.
"""

from __future__ import annotations

from distill_core.measure.stats import VERDICTS
from distill_core.views.units import FRACTIONS, gain_text, interval_text, is_number, metric_text

SEED = "seed"
GAIN = "gain"
P_VALUE = "McNemar p"


def gain_of(results: dict | None) -> dict | None:
    """quality["gain"] of a results dict, or None when the run has none (older runs, no control) or it is not
    readable (no per-seed list)."""
    gain = ((results or {}).get("quality") or {}).get("gain") if isinstance(results, dict) else None
    if not isinstance(gain, dict) or not isinstance(gain.get("per_seed"), list) or not gain.get("metric"):
        return None
    return gain


def verdict_text(key: str | None) -> str:
    """The words of a verdict key ("helped" -> "the teacher helped"); "" for none, the key itself if unknown."""
    return VERDICTS.get(key, key or "") if key else ""


def confidence_label(gain: dict) -> str:
    """"95% CI" for the gain's confidence (a fraction, 0.95 when absent)."""
    confidence = gain.get("confidence") if is_number(gain.get("confidence")) else 0.95
    return f"{confidence * 100:g}% CI"


def headline(results: dict | None) -> str | None:
    """One line: the verdict, the mean gain with its unit, its interval and how the interval was made, e.g. "the
    teacher helped: +2.30 points (95% CI +0.50 to +4.10; t over 3 seeds)"; None without a gain."""
    gain = gain_of(results)
    if gain is None:
        return None
    metric = gain["metric"]
    words = gain.get("verdict_text") or verdict_text(gain.get("verdict"))
    method = f"; {gain['interval_method']}" if gain.get("interval_method") else ""
    return (f"{words}: {gain_text(gain.get('mean'), metric)} "
            f"({confidence_label(gain)} {interval_text(gain.get('interval'), metric)}{method})")


def gain_cell(value: float | None, metric: str, interval=None, verdict: str | None = None, digits: int = 2) -> str:
    """A gain for a table cell: "+2.30 points (+0.50 to +4.10), the teacher helped"; the parts it lacks (interval,
    verdict: runs from before seeds) are left out, down to the bare gain_text."""
    text = gain_text(value, metric, digits)
    if text == "–":
        return text
    span = interval_text(interval, metric, digits)
    text += f" ({span})" if span != "–" else ""
    return text + (f", {verdict_text(verdict)}" if verdict else "")


def seed_columns(gain: dict) -> list[str]:
    """The per-seed table's columns: seed, student and control metric, gain, its interval, and McNemar's p when a
    seed has one (right/wrong scores)."""
    metric = gain["metric"]
    columns = [SEED, f"student {metric}", f"control {metric}", GAIN, confidence_label(gain)]
    return columns + ([P_VALUE] if any(is_number(s.get("p_value")) for s in gain["per_seed"]) else [])


def _p_text(p) -> str:
    if not is_number(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def seed_rows(gain: dict) -> list[dict]:
    """One dict of display strings per training seed (keys: seed_columns), in the metric's display unit (fractions
    in %, gains in points); with 2 or more seeds a last "mean" row carries the mean and the headline interval."""
    metric = gain["metric"]
    columns = seed_columns(gain)
    rows = []
    for s in gain["per_seed"]:
        values = [str(s.get("seed")), metric_text(s.get("student"), metric), metric_text(s.get("control"), metric),
                  gain_text(s.get("gain"), metric), interval_text(s.get("interval"), metric), _p_text(s.get("p_value"))]
        rows.append(dict(zip(columns, values)))
    if len(gain["per_seed"]) > 1:
        values = ["mean", metric_text(gain.get("student_mean"), metric), metric_text(gain.get("control_mean"), metric),
                  gain_text(gain.get("mean"), metric), interval_text(gain.get("interval"), metric), ""]
        rows.append(dict(zip(columns, values)))
    return rows


def seed_lines(gain: dict) -> list[str]:
    """seed_rows as aligned text: the seed column left-aligned, the numbers right-aligned."""
    columns, rows = seed_columns(gain), seed_rows(gain)
    widths = [max([len(c)] + [len(r[c]) for r in rows]) for c in columns]

    def line(cells: list[str]) -> str:
        first, rest = cells[0].ljust(widths[0]), [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join([first, *rest]).rstrip()

    return [line(columns)] + [line([r[c] for c in columns]) for r in rows]


def notes(gain: dict | None) -> list[str]:
    """What the reader should know about the gain (e.g. one seed measures no seed-to-seed noise)."""
    return [str(n) for n in (gain or {}).get("notes") or []]


def unit_note(gain: dict) -> str:
    """How to read the gain column: "gain = student - control accuracy, in percentage points", or for a metric
    where lower is better "gain = control - student perplexity"."""
    metric = gain["metric"]
    order = "student - control" if gain.get("higher_is_better", True) else "control - student"
    return f"gain = {order} {metric}" + (", in percentage points" if metric in FRACTIONS else "")


def learning_rate_line(results: dict | None) -> str | None:
    """What learning rate the student and the control trained with, e.g. "learning rate, chosen on the validation
    split from 0.0001, 0.0005 for each: student 0.0005 (validation accuracy 80.1% vs 78.0%), control 0.0001
    (77.5% vs 75.2%)", or "learning rate 0.0001 for student and control (no candidates tuned)"; None for runs
    from before it was recorded."""
    training = (results or {}).get("training") if isinstance(results, dict) else None
    rates = training.get("learning_rates") if isinstance(training, dict) else None
    if not isinstance(rates, dict) or not isinstance(rates.get("student"), dict):
        return None
    quality = results.get("quality") or {}
    gain = gain_of(results) or {}
    metric = quality.get("metric", gain.get("metric", "accuracy"))
    higher = quality.get("higher_is_better", gain.get("higher_is_better", True))
    trials = {phase: r.get("trials") or [] for phase, r in rates.items() if isinstance(r, dict)}
    if not any(trials.values()):
        chosen = sorted({f"{r.get('chosen'):g}" for r in rates.values() if is_number(r.get("chosen"))})
        return f"learning rate {' / '.join(chosen)} for {' and '.join(rates)} (no candidates tuned)"
    candidates = ", ".join(f"{t['learning_rate']:g}" for t in trials["student"])
    parts = []
    for phase, phase_trials in trials.items():
        chosen = rates[phase].get("chosen")
        scores = sorted((t.get("validation") for t in phase_trials if is_number(t.get("validation"))),
                        reverse=True)
        shown = " vs ".join(metric_text(v if higher else -v, metric, 1) for v in scores)
        parts.append(f"{phase} {chosen:g}" + (f" (validation {metric} {shown}{_tie_text(phase_trials)})"
                                              if shown else ""))
    return f"learning rate, chosen on the validation split from {candidates} for each: {', '.join(parts)}"


def _tie_text(trials: list[dict]) -> str:
    """", tied: validation loss 0.512 vs 0.530" when the best validation scores tie and the losses decided."""
    scored = [t for t in trials if is_number(t.get("validation"))]
    if len(scored) < 2:
        return ""
    top = max(t["validation"] for t in scored)
    tied = [t for t in scored if t["validation"] == top]
    losses = sorted(t["validation_loss"] for t in tied if is_number(t.get("validation_loss")))
    if len(tied) < 2 or len(losses) < 2:
        return ""
    return ", tied: validation loss " + " vs ".join(f"{v:.3f}" for v in losses)


def gain_lines(results: dict | None) -> list[str]:
    """The verdict as text (`distill-lab show`): the headline, the per-seed table, the unit and the notes; [] when
    the run has no gain."""
    gain = gain_of(results)
    if gain is None:
        return []
    lines = [f"verdict: {headline(results)}", *seed_lines(gain), unit_note(gain)]
    rate = learning_rate_line(results)
    lines += [rate] if rate else []
    return lines + [f"note: {n}" for n in notes(gain)]
