"""A measuring session that reports the environment its process sees (for tests of the rounds harness)."""

import os


class EnvSession:
    """Reports DISTILL_LAB_HOME as seen in the measuring process; every sample takes 1 ms."""

    def __init__(self):
        self.report = {"home": os.environ.get("DISTILL_LAB_HOME")}
        self.keys = ["only"]

    def sample(self, key: str) -> float:
        return 1.0

    def finish(self) -> dict:
        return {"finished_home": os.environ.get("DISTILL_LAB_HOME")}
