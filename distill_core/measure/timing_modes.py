"""How the variants are timed: every one in one timing process (their memory once more must fit), or each in its
own (measure/rounds.py)."""

from __future__ import annotations

TIMING_MODES = {
    "one-process": "every variant timed in one process, in mirrored order (A B C C B A) per setting and round",
    "per-variant": "each variant timed in its own process, in rounds",
}
MEMORY_SHARE = 0.8  # one-process timing needs the variants' memory once more: at most this share of what is free


def memory_needed(reports: list[dict]) -> int:
    """Bytes the variants took in their own processes (peak minus baseline RSS), summed; 0 where not reported."""
    memories = [report.get("memory") or {} for report in reports]
    return sum(max(0, int(m.get("peak_rss_bytes") or 0) - int(m.get("baseline_rss_bytes") or 0)) for m in memories)


def one_process_refusal(timing: str, reports: list[dict]) -> str | None:
    """Why the variants whose setup `reports` are given are not timed in one process (None: they are)."""
    if timing != "one-process":
        return "per-variant timing was asked for"
    if len(reports) < 2:
        return None if reports else "nothing to time"
    import psutil

    needed, free = memory_needed(reports), psutil.virtual_memory().available
    if needed > MEMORY_SHARE * free:
        return (f"the variants need {needed / 2**30:.1f} GiB once more and {free / 2**30:.1f} GiB is free: each is "
                "timed in its own process")
    return None
