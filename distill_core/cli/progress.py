"""The terminal's progress display: one tqdm bar per phase (a new one when a phase starts over: another training
seed or candidate learning rate), the pre-flight report and warnings as plain lines."""

from __future__ import annotations

import sys


class ProgressBar:
    """A tqdm bar per phase, fed by the loop's progress events."""

    def __init__(self, stream=sys.stderr):
        from tqdm import tqdm

        self._tqdm = tqdm
        self.stream = stream
        self.phase = None
        self.bar = None

    def __call__(self, event) -> None:
        if event.phase in ("preflight", "warning"):  # a report, not a phase with progress
            self.close()
            print(event.message if event.phase == "preflight" else f"warning: {event.message}", file=self.stream)
            return
        done = event.step if event.total else int(event.fraction * 100)
        restarted = self.bar is not None and event.total and done < self.bar.n  # another seed or learning rate
        # A phase's note without steps (e.g. "2 student trainings, 2 at once") and then its steps: a bar of each kind.
        unit_changed = self.bar is not None and bool(event.total) != (self.bar.unit == "step")
        if event.phase != self.phase or restarted or unit_changed:
            self.close()
            self.phase = event.phase
            total = event.total if event.total else 100
            self.bar = self._tqdm(total=total, desc=f"{event.phase:>16}", file=self.stream, leave=True,
                                  unit="step" if event.total else "%", dynamic_ncols=True)
        self.bar.n = min(done, self.bar.total)
        shown = {k: round(v, 4) for k, v in event.metrics.items() if isinstance(v, float)}
        if shown:
            self.bar.set_postfix(shown, refresh=False)
        if event.message:
            self.bar.set_description_str(f"{event.phase:>16}")
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
