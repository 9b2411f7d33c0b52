"""Progress events and the stop check: how long work reports to whoever started it, and learns it should stop."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable


@dataclass
class ProgressEvent:
    """One report from a long-running phase. `total` is None when the budget is in minutes."""

    phase: str  # e.g. "teacher-finetune", "teacher-outputs", "student", "control", "evaluate"
    step: int
    total: int | None
    fraction: float  # 0..1 of this phase
    metrics: dict = field(default_factory=dict)  # e.g. {"loss": 0.41, "val_accuracy": 0.82}
    message: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


ProgressFn = Callable[[ProgressEvent], None]
StopFn = Callable[[], bool]
