"""The errors of the settings lume-services reads from ``LUME_*`` environment variables."""

from typing import Optional, Sequence

from lume_services.errors._base import LUMEServicesError


class ConfigurationError(LUMEServicesError):
    """Base class of the errors of the settings: the ``LUME_*`` environment variables
    do not form valid settings (:class:`EnvironmentNotConfiguredError`), or one of
    them is no setting at all (:class:`UnknownSettingWarning`, a warning)."""


class EnvironmentNotConfiguredError(ConfigurationError):
    """The ``LUME_*`` environment variables do not form valid settings.

    Args:
        env_vars: every environment variable lume-services reads.
        validation_error: the pydantic error describing what is invalid.
    """

    def __init__(self, env_vars: Sequence[str], validation_error: Exception):
        self.env_vars = list(env_vars)
        self.validation_error = validation_error
        super().__init__(
            "lume-services could not be configured from the environment: "
            f"{validation_error}\nVariables read: {', '.join(self.env_vars)}"
        )


class UnknownSettingWarning(ConfigurationError, UserWarning):
    """An environment variable starts with ``LUME_`` but is no setting lume-services reads.

    A misspelled variable (``LUME_BAKEND=server``) would otherwise be ignored silently.

    Args:
        name: the variable.
        suggestion: the closest variable lume-services reads, if any is close.
    """

    def __init__(self, name: str, suggestion: Optional[str] = None):
        self.name = name
        self.suggestion = suggestion
        hint = f"did you mean {suggestion}? " if suggestion else ""
        super().__init__(
            f"environment variable {name} is not a lume-services setting and is ignored; "
            f"{hint}`lume-services env` lists the variables read"
        )
