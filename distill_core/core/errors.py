"""The project's one error type: a message a user can act on, never a bare traceback."""


class DistillLabError(Exception):
    """A problem the user can fix; `field` names the config field or input at fault, if any."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class ConfigError(DistillLabError):
    """A run config field is missing, of the wrong type, or outside its allowed range."""


class RunCancelled(DistillLabError):
    """The user asked the run to stop; what was trained so far is kept."""


class TrainingDiverged(DistillLabError):
    """The loss became NaN or infinite."""
